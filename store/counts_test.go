package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

// countEvents is a random history over three days: several types, sources
// and domains, bounces with and without hard_bounce and error, and a few
// events with no time.
func countEvents(n int) []event.Event {
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"sent", "sent", "open", "click", "bounce", "blocked", "spam", "unsub"}
	domains := []string{"a.com", "b.org", "c.net", "gmail.com"}
	errors := []string{"user unknown", "mailbox full", ""}
	start := base.Add(-36 * time.Hour)
	out := make([]event.Event, n)
	for i := range out {
		typ := types[r.IntN(len(types))]
		at := start.Add(time.Duration(r.Int64N(int64(72 * time.Hour))))
		if i%97 == 0 {
			at = time.Time{}
		}
		e := ev(i, typ, fmt.Sprintf("u%d@%s", r.IntN(50), domains[r.IntN(len(domains))]), at)
		e.ID = fmt.Sprintf("count-%d", i)
		e.Source = []string{"mailjet", "other"}[r.IntN(2)]
		data := map[string]any{"event": typ}
		if typ == "bounce" || typ == "blocked" {
			if msg := errors[r.IntN(len(errors))]; msg != "" {
				data["error"] = msg
			}
			if typ == "bounce" && r.IntN(2) == 0 {
				data["hard_bounce"] = true
			}
		}
		e.Data, _ = json.Marshal(data)
		out[i] = e
	}
	return out
}

// window is a range the count tests query.
type window struct {
	name         string
	since, until time.Time
}

func countWindows() []window {
	day := base.Truncate(24 * time.Hour)
	return []window{
		{"within one hour", base.Add(7 * time.Minute), base.Add(41 * time.Minute)},
		{"whole hours", base.Add(-5 * time.Hour), base.Add(3 * time.Hour)},
		{"partial hours", base.Add(-5*time.Hour - 13*time.Minute), base.Add(3*time.Hour + 29*time.Second)},
		{"whole days", day.Add(-24 * time.Hour), day.Add(48 * time.Hour)},
		{"days and hours", day.Add(-30*time.Hour - 17*time.Minute), day.Add(40*time.Hour + 3*time.Minute)},
		{"everything", base.Add(-100 * time.Hour), base.Add(100 * time.Hour)},
	}
}

// wantStats counts events per bucket and key by brute force.
func wantStats(events []event.Event, by string, iv time.Duration, w window) map[time.Time]map[string]int64 {
	out := map[time.Time]map[string]int64{}
	for _, e := range events {
		if e.Time.IsZero() || e.Time.Before(w.since) || !e.Time.Before(w.until) {
			continue
		}
		b := time.Unix(0, e.Time.UnixNano()-e.Time.UnixNano()%int64(iv)).UTC()
		if out[b] == nil {
			out[b] = map[string]int64{}
		}
		out[b][map[string]string{"type": e.Type, "source": e.Source, "domain": e.Domain}[by]]++
	}
	return out
}

// wantDeliverability computes Deliverability by brute force.
func wantDeliverability(events []event.Event, w window) store.Deliverability {
	var out store.Deliverability
	domains := map[string]*store.DomainRates{}
	errs := map[[2]string]int64{}
	for _, e := range events {
		if e.Time.IsZero() || e.Time.Before(w.since) || !e.Time.Before(w.until) {
			continue
		}
		d := domains[e.Domain]
		if d == nil {
			d = &store.DomainRates{Domain: e.Domain}
			domains[e.Domain] = d
		}
		switch e.Type {
		case "sent":
			d.Sent++
		case "bounce", "blocked":
			var data struct {
				Error      string `json:"error"`
				HardBounce bool   `json:"hard_bounce"`
			}
			_ = json.Unmarshal(e.Data, &data)
			errs[[2]string{e.Type, data.Error}]++
			if e.Type == "blocked" {
				d.Blocked++
			} else if d.Bounce++; data.HardBounce {
				out.HardBounces++
			} else {
				out.SoftBounces++
			}
		case "spam":
			d.Spam++
		}
	}
	for _, d := range domains {
		if bad := d.Bounce + d.Blocked + d.Spam; bad > 0 {
			d.Rate = 1
			if n := d.Sent + d.Bounce + d.Blocked; n > 0 && bad < n {
				d.Rate = float64(bad) / float64(n)
			}
			out.Domains = append(out.Domains, *d)
		}
	}
	sort.Slice(out.Domains, func(i, j int) bool {
		a, b := out.Domains[i], out.Domains[j]
		if a.Rate != b.Rate {
			return a.Rate > b.Rate
		}
		return a.Domain < b.Domain
	})
	if out.Domains == nil {
		out.Domains = []store.DomainRates{}
	}
	out.Errors = []store.ErrorCount{}
	for k, n := range errs {
		out.Errors = append(out.Errors, store.ErrorCount{Type: k[0], Error: k[1], Count: n})
	}
	sort.Slice(out.Errors, func(i, j int) bool {
		a, b := out.Errors[i], out.Errors[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Error < b.Error
	})
	return out
}

// checkCounts compares Stats and Deliverability on st with brute-force
// counts of events over every window.
func checkCounts(t *testing.T, st *store.Store, events []event.Event) {
	t.Helper()
	ctx := context.Background()
	for _, w := range countWindows() {
		for _, by := range []string{"type", "source", "domain"} {
			for _, iv := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour} {
				if iv == time.Minute && w.until.Sub(w.since) > 20*time.Hour {
					continue
				}
				buckets, err := st.Stats(ctx, store.StatsQuery{By: by, Interval: iv, Since: w.since, Until: w.until})
				if err != nil {
					t.Fatalf("%s by %s per %s: %v", w.name, by, iv, err)
				}
				got := map[time.Time]map[string]int64{}
				for _, b := range buckets {
					if len(b.Counts) > 0 {
						got[b.Time] = b.Counts
					}
				}
				if want := wantStats(events, by, iv, w); !reflect.DeepEqual(got, want) {
					t.Errorf("%s by %s per %s:\n got %v\nwant %v", w.name, by, iv, got, want)
				}
			}
		}
		got, err := st.Deliverability(ctx, w.since, w.until, store.MaxLimit)
		if err != nil {
			t.Fatalf("%s: deliverability: %v", w.name, err)
		}
		if want := wantDeliverability(events, w); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: deliverability\n got %+v\nwant %+v", w.name, got, want)
		}
	}
}

// TestCountsAgreeWithEvents checks that the counts Stats and
// Deliverability read from the count tables for whole hours and days, and
// from the events for the rest, are exactly the events' counts: for
// windows aligned and not, after duplicates were inserted again, and after
// a store of the previous schema version was migrated and counted its
// events in the migration.
func TestCountsAgreeWithEvents(t *testing.T) {
	sqliteOnly(t) // it rolls a store.db back to an older schema
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	events := countEvents(3000)
	for i := 0; i < len(events); i += 250 {
		if err := st.Insert(ctx, events[i:min(i+250, len(events))]...); err != nil {
			t.Fatal(err)
		}
	}
	// Redelivered: stored once, counted once.
	if err := st.Insert(ctx, events[100:700]...); err != nil {
		t.Fatal(err)
	}
	t.Run("inserted", func(t *testing.T) { checkCounts(t, st, events) })
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Back to schema version 4, as a store from before the count tables.
	execRaw(t, dir,
		`DROP TABLE counts_hour`, `DROP TABLE counts_domain_day`, `DROP TABLE counts_domain_hour`,
		`DROP TABLE counts_error_hour`, `DROP INDEX jobs_created`,
		`DROP TABLE rule_sets`, `DROP TABLE explanations`, // migration 6, which comes after
		`ALTER TABLE jobs DROP COLUMN retried_after`, // migration 8
		`DROP TABLE admin_sessions`,                  // migration 9
		`DROP TABLE log_offsets`,                     // migration 10
		`UPDATE schema_version SET version = 4`,
	)
	st, err = store.Open(ctx, store.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t.Run("migrated", func(t *testing.T) { checkCounts(t, st, events) })
}

// execRaw runs queries on the SQLite store in dir, which no Store has
// open, as a store of an older hookd would have them.
func execRaw(t *testing.T, dir string, queries ...string) {
	t.Helper()
	raw, err := sql.Open("sqlite", filepath.Join(dir, store.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range queries {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestRecountMigration rolls a store back to schema version 6, whose
// retention left deleted events in the count tables, with rows counted
// too often and a row of events no longer there: version 7 counts them
// again from the events.
func TestRecountMigration(t *testing.T) {
	sqliteOnly(t) // it rolls a store.db back to an older schema
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, countEvents(600)...); err != nil {
		t.Fatal(err)
	}
	want, err := st.CountRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	execRaw(t, dir,
		`UPDATE counts_hour SET n = n + 3`,
		`UPDATE counts_error_hour SET n = n + 1`,
		`UPDATE counts_domain_day SET bounce = bounce + 2`,
		`INSERT INTO counts_domain_hour VALUES (0, 'deleted.example', 5, 1, 0, 0)`,
		`ALTER TABLE jobs DROP COLUMN retried_after`, // migration 8, which comes after
		`DROP TABLE admin_sessions`,                  // migration 9
		`DROP TABLE log_offsets`,                     // migration 10
		`UPDATE schema_version SET version = 6`,
	)
	st, err = store.Open(ctx, store.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.CountRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("after migration, %d count rows, want %d as inserted:\n got %v\nwant %v", len(got), len(want), got, want)
	}
}

// TestCounts checks Stats and Deliverability on whichever database the
// tests run on (see TestPostgres): the count tables and the queries of the
// partial buckets agree with brute-force counts.
func TestCounts(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	events := countEvents(1200)
	for i := 0; i < len(events); i += 300 {
		if err := st.Insert(ctx, events[i:min(i+300, len(events))]...); err != nil {
			t.Fatal(err)
		}
	}
	checkCounts(t, st, events)
}

// TestCountsAfterRetention checks that DeleteBefore takes the events it
// deletes off the count tables: Stats and Deliverability then agree with
// brute-force counts of the events left, and the count tables hold
// exactly the rows of a store that only ever had those events (no rows
// left at zero).
func TestCountsAfterRetention(t *testing.T) {
	day := base.Truncate(24 * time.Hour)
	for _, tc := range []struct {
		name   string
		before time.Time
	}{
		{"within an hour", base.Add(-13*time.Hour - 17*time.Minute)},
		{"at a day", day},
		{"within a day", base.Add(20*time.Hour + 30*time.Minute + 5*time.Second)},
		{"all but the newest", base.Add(1000 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := openStore(t, t.TempDir())
			events := countEvents(1200)
			for i := 0; i < len(events); i += 300 {
				if err := st.Insert(ctx, events[i:min(i+300, len(events))]...); err != nil {
					t.Fatal(err)
				}
			}
			for {
				n, err := st.DeleteBefore(ctx, tc.before, 97)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			// The newest event stays whatever its time.
			var kept []event.Event
			for i, e := range events {
				if !e.Time.Before(tc.before) || i == len(events)-1 {
					kept = append(kept, e)
				}
			}
			checkCounts(t, st, kept)

			fresh := openStore(t, t.TempDir())
			if err := fresh.Insert(ctx, kept...); err != nil {
				t.Fatal(err)
			}
			got, err := st.CountRows(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want, err := fresh.CountRows(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("count tables after DeleteBefore: %d rows, a store of the kept events: %d\n got %v\nwant %v",
					len(got), len(want), got, want)
			}
		})
	}
}
