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
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

// counted is what the count tables should count an event of countEvents
// as: its category, bounce class and error text, given here and not
// derived as the store derives them.
type counted struct {
	cat   event.Category
	class event.BounceClass
	err   string
}

// countKind is a kind of event of countEvents: a provider's type with its
// category and bounce class, and its provider object for an error text
// (which the provider cannot carry when it is "").
type countKind struct {
	provider, typ string
	cat           event.Category
	class         event.BounceClass
	// legacy: stored before events had a category, so without one; the
	// store counts it under cat and class all the same.
	legacy bool
	data   func(err, email string) map[string]any
	// noErr: the provider object has no place for an error text.
	noErr bool
	// fallback is the error text the provider object gives in another
	// place, which counts when the first is empty.
	fallback string
}

// countKinds are events of every provider, the types of each that the
// dashboard counts and some it does not.
var countKinds = []countKind{
	{provider: "mailjet", typ: "sent", cat: event.Delivered},
	{provider: "mailjet", typ: "sent", cat: event.Delivered},
	{provider: "mailjet", typ: "open", cat: event.Open},
	{provider: "mailjet", typ: "click", cat: event.Click},
	{provider: "mailjet", typ: "bounce", cat: event.Bounce, class: event.Hard, data: mailjetError(`"hard_bounce":true`)},
	{provider: "mailjet", typ: "bounce", cat: event.Bounce, class: event.Soft, data: mailjetError(`"hard_bounce":false`)},
	{provider: "mailjet", typ: "blocked", cat: event.Blocked, data: mailjetError("")},
	{provider: "mailjet", typ: "spam", cat: event.Complaint},
	{provider: "mailjet", typ: "unsub", cat: event.Unsubscribe},
	// Mailjet's events from before the category column.
	{provider: "mailjet", typ: "sent", cat: event.Delivered, legacy: true},
	{provider: "mailjet", typ: "open", cat: event.Open, legacy: true},
	{provider: "mailjet", typ: "click", cat: event.Click, legacy: true},
	{provider: "mailjet", typ: "unsub", cat: event.Unsubscribe, legacy: true},
	{provider: "mailjet", typ: "bounce", cat: event.Bounce, class: event.Hard, legacy: true, data: mailjetError(`"hard_bounce":true`)},
	{provider: "mailjet", typ: "bounce", cat: event.Bounce, class: event.Soft, legacy: true, data: mailjetError(`"hard_bounce":false`)},
	{provider: "mailjet", typ: "bounce", cat: event.Bounce, legacy: true, data: mailjetError("")},
	{provider: "mailjet", typ: "blocked", cat: event.Blocked, legacy: true, data: mailjetError("")},
	{provider: "mailjet", typ: "spam", cat: event.Complaint, legacy: true},
	{provider: "postmark", typ: "Delivery", cat: event.Delivered},
	{provider: "postmark", typ: "Open", cat: event.Open},
	{provider: "postmark", typ: "Bounce", cat: event.Bounce, class: event.Hard, data: func(err, _ string) map[string]any {
		return map[string]any{"RecordType": "Bounce", "Type": "HardBounce", "Details": err}
	}},
	{provider: "postmark", typ: "Bounce", cat: event.Bounce, class: event.Soft, data: func(err, _ string) map[string]any {
		return map[string]any{"RecordType": "Bounce", "Type": "SoftBounce", "Description": err}
	}},
	{provider: "postmark", typ: "Bounce", cat: event.Bounce, class: event.Hard, fallback: "Unknown user", data: func(err, _ string) map[string]any {
		return map[string]any{"RecordType": "Bounce", "Type": "HardBounce", "Details": err, "Description": "Unknown user"}
	}},
	{provider: "postmark", typ: "SpamComplaint", cat: event.Complaint},
	{provider: "mailgun", typ: "delivered", cat: event.Delivered},
	{provider: "mailgun", typ: "failed", cat: event.Bounce, class: event.Hard, data: func(err, _ string) map[string]any {
		return map[string]any{"event": "failed", "severity": "permanent", "delivery-status": map[string]any{"message": err, "code": 550}}
	}},
	{provider: "mailgun", typ: "failed", cat: event.Bounce, class: event.Hard, fallback: "Not delivering to previously bounced address", data: func(err, _ string) map[string]any {
		return map[string]any{"event": "failed", "delivery-status": map[string]any{"message": err, "description": "Not delivering to previously bounced address"}}
	}},
	{provider: "mailgun", typ: "failed", cat: event.Blocked, noErr: true, data: func(string, string) map[string]any {
		return map[string]any{"event": "failed", "severity": "permanent", "reason": "suppress-bounce"}
	}},
	{provider: "mailgun", typ: "complained", cat: event.Complaint},
	{provider: "sendgrid", typ: "delivered", cat: event.Delivered},
	{provider: "sendgrid", typ: "bounce", cat: event.Bounce, class: event.Soft, data: func(err, _ string) map[string]any {
		return map[string]any{"event": "bounce", "type": "blocked", "reason": err}
	}},
	{provider: "sendgrid", typ: "dropped", cat: event.Blocked, data: func(err, _ string) map[string]any {
		return map[string]any{"event": "dropped", "reason": err}
	}},
	{provider: "ses", typ: "Delivery", cat: event.Delivered},
	{provider: "ses", typ: "Bounce", cat: event.Bounce, class: event.Hard, data: func(err, email string) map[string]any {
		return map[string]any{"eventType": "Bounce", "bounce": map[string]any{"bounceType": "Permanent", "bouncedRecipients": []any{
			map[string]any{"emailAddress": "other@elsewhere.example", "diagnosticCode": "not this one"},
			map[string]any{"emailAddress": strings.ToUpper(email), "diagnosticCode": err},
		}}}
	}},
	{provider: "ses", typ: "Reject", cat: event.Blocked, data: func(err, _ string) map[string]any {
		return map[string]any{"eventType": "Reject", "reject": map[string]any{"reason": err}}
	}},
	{provider: "standardwebhooks", typ: "email.delivered", cat: event.Delivered},
	{provider: "standardwebhooks", typ: "email.bounced", cat: event.Bounce, class: event.Hard, data: func(err, _ string) map[string]any {
		return map[string]any{"type": "email.bounced", "data": map[string]any{"bounce": map[string]any{"message": err, "type": "Permanent"}}}
	}},
	{provider: "standardwebhooks", typ: "email.failed", cat: event.Blocked, data: func(err, _ string) map[string]any {
		return map[string]any{"type": "email.failed", "data": map[string]any{"failed": map[string]any{"reason": err}}}
	}},
	// A generic bounce whose sender tells no class, with or without an
	// error, and a type with no category.
	{provider: "generic", typ: "bounce", cat: event.Bounce, data: mailjetError("")},
	{provider: "generic", typ: "bounce", cat: event.Bounce, noErr: true},
	{provider: "generic", typ: "ping"},
}

// mailjetError is the data of a Mailjet bounce or block with more, the
// members of a JSON object without braces, when not empty.
func mailjetError(more string) func(err, email string) map[string]any {
	return func(err, _ string) map[string]any {
		d := map[string]any{}
		if more != "" {
			_ = json.Unmarshal([]byte("{"+more+"}"), &d)
		}
		if err != "" {
			d["error"] = err
		}
		return d
	}
}

// countEvent is the event countEvents holds at index i, and how it should
// be counted: one of countKinds at a random time over three days, to one
// of a few domains, from one of two sources; every 97th has no time.
func countEvent(i int) (event.Event, counted) {
	r := rand.New(rand.NewPCG(1, uint64(i)))
	k := countKinds[r.IntN(len(countKinds))]
	domains := []string{"a.com", "b.org", "c.net", "gmail.com"}
	errs := []string{"user unknown", "mailbox full", strings.Repeat("é", 130), ""}
	at := base.Add(-36 * time.Hour).Add(time.Duration(r.Int64N(int64(72 * time.Hour))))
	if i%97 == 0 {
		at = time.Time{}
	}
	e := ev(i, k.typ, fmt.Sprintf("u%d@%s", r.IntN(50), domains[r.IntN(len(domains))]), at)
	e.ID = fmt.Sprintf("count-%d", i)
	e.Source = []string{k.provider, "other"}[r.IntN(2)]
	e.Provider = k.provider
	want := counted{cat: k.cat, class: k.class}
	e.Category, e.BounceClass = k.cat, k.class
	if k.legacy {
		e.Category, e.BounceClass = "", ""
	}
	data := map[string]any{"event": k.typ}
	if k.data != nil {
		msg := errs[r.IntN(len(errs))]
		data = k.data(msg, e.Email)
		if !k.noErr {
			want.err = string([]rune(msg)[:min(120, len([]rune(msg)))])
			if want.err == "" {
				want.err = k.fallback
			}
		}
	}
	e.Data, _ = json.Marshal(data)
	return e, want
}

// countEvents is a random history of n events (see countEvent).
func countEvents(n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i], _ = countEvent(i)
	}
	return out
}

// countedAs is how e of countEvents should be counted.
func countedAs(e event.Event) counted {
	var i int
	if _, err := fmt.Sscanf(e.ID, "count-%d", &i); err != nil {
		panic("not an event of countEvents: " + e.ID)
	}
	_, want := countEvent(i)
	return want
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
		key := map[string]string{"type": e.Type, "source": e.Source, "domain": e.Domain}[by]
		if by == "category" {
			key = string(countedAs(e).cat)
		}
		out[b][key]++
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
		c := countedAs(e)
		switch c.cat {
		case event.Delivered:
			d.Delivered++
		case event.Bounce:
			d.Bounce++
			switch c.class {
			case event.Hard:
				out.HardBounces++
			case event.Soft:
				out.SoftBounces++
			}
		case event.Blocked:
			d.Blocked++
		case event.Complaint:
			d.Complaint++
		}
		if (c.cat == event.Bounce || c.cat == event.Blocked) && c.err != "" {
			errs[[2]string{string(c.cat), c.err}]++
		}
	}
	for _, d := range domains {
		if bad := d.Bounce + d.Blocked + d.Complaint; bad > 0 {
			d.Rate = 1
			if n := d.Delivered + d.Bounce + d.Blocked; n > 0 && bad < n {
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
		out.Errors = append(out.Errors, store.ErrorCount{Category: k[0], Error: k[1], Count: n})
	}
	sort.Slice(out.Errors, func(i, j int) bool {
		a, b := out.Errors[i], out.Errors[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Category != b.Category {
			return a.Category < b.Category
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
		for _, by := range []string{"type", "category", "source", "domain"} {
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

	// Back to schema version 4, as a store from before the count tables
	// (those of migration 10 have the names of migration 5's).
	execRaw(t, dir,
		`DROP TABLE counts_hour`, `DROP TABLE counts_domain_day`, `DROP TABLE counts_domain_hour`,
		`DROP TABLE counts_error_hour`, `DROP INDEX jobs_created`,
		`DROP TABLE rule_sets`, `DROP TABLE explanations`, // migration 6, which comes after
		`ALTER TABLE jobs DROP COLUMN retried_after`, // migration 8
		`DROP TABLE admin_sessions`,                  // migration 9
		`DROP TABLE log_offsets`,                     // migration 11
		`DROP INDEX rule_firings_at`,                 // migration 14
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

// toVersion9 makes the count tables of the SQLite store in dir, which no
// Store has open, those of schema versions 5 to 9, counted by type as
// migration 5 counted them, drops what later versions added, and sets its
// schema version to 9.
func toVersion9(t *testing.T, dir string) {
	t.Helper()
	execRaw(t, dir,
		`DROP TABLE counts_hour`, `DROP TABLE counts_domain_day`, `DROP TABLE counts_domain_hour`,
		`DROP TABLE counts_error_hour`, `DROP INDEX jobs_created`,
		store.Migration(5),
		`DROP TABLE log_offsets`,     // migration 11
		`DROP INDEX rule_firings_at`, // migration 14
		`UPDATE schema_version SET version = 9`,
	)
}

// TestCategoryCountsMigration rolls a store of events of every provider,
// some of Mailjet's stored before events had a category, back to schema
// version 9, whose count tables count by the provider's type: version 10
// counts them by category, exactly as the projector counts the same
// events in a new store, and Stats and Deliverability agree with
// brute-force counts.
func TestCategoryCountsMigration(t *testing.T) {
	sqliteOnly(t) // it rolls a store.db back to an older schema
	events := countEvents(1500)
	st := checkMigratedRows(t, events, func(dir string) { toVersion9(t, dir) })
	checkCounts(t, st, events)
}

// checkMigratedRows inserts events into a new SQLite store, closes it and
// has rollBack take its store.db back to an older schema, opens it again,
// which migrates it, and checks that the migration leaves the count rows
// that inserting wrote. It returns the migrated store, closed with the
// test.
func checkMigratedRows(t *testing.T, events []event.Event, rollBack func(dir string)) *store.Store {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, events...); err != nil {
		t.Fatal(err)
	}
	want, err := st.CountRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	rollBack(dir)
	st, err = store.Open(ctx, store.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	got, err := st.CountRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("after migration, %d count rows, want %d as inserted:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	return st
}

// TestRecount checks, on whichever database the tests run on, that the Go
// step of the migration to schema version 10 fills the count tables with
// the rows that inserting the events wrote, in pages of events.
func TestRecount(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	if err := st.Insert(ctx, countEvents(12000)...); err != nil {
		t.Fatal(err)
	}
	want, err := st.CountRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Recount(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := st.CountRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("after recount, %d count rows, want %d as inserted", len(got), len(want))
	}
}

// TestRecountMigration rolls a store back to schema version 6, whose
// retention left deleted events in the count tables, with rows counted
// too often and a row of events no longer there: version 7 counts them
// again from the events.
func TestRecountMigration(t *testing.T) {
	sqliteOnly(t) // it rolls a store.db back to an older schema
	checkMigratedRows(t, countEvents(600), func(dir string) {
		toVersion9(t, dir)
		execRaw(t, dir,
			`UPDATE counts_hour SET n = n + 3`,
			`UPDATE counts_error_hour SET n = n + 1`,
			`UPDATE counts_domain_day SET bounce = bounce + 2`,
			`INSERT INTO counts_domain_hour VALUES (0, 'deleted.example', 5, 1, 0, 0)`,
			`ALTER TABLE jobs DROP COLUMN retried_after`, // migration 8, which comes after
			`DROP TABLE admin_sessions`,                  // migration 9
			`UPDATE schema_version SET version = 6`,
		)
	})
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

// TestCategoryMigration takes a store, on whichever database the tests run
// on, back to schema version 12, whose Mailjet events stored before events
// had a category have none: version 13 gives them the category and bounce
// class the mailjet adapter gives them, so that filtering events by
// category or bounce class finds them as the counts count them, and leaves
// the count tables as they were.
func TestCategoryMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	events := countEvents(1500)
	st, err := store.Open(ctx, storeConfig(t, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, events...); err != nil {
		t.Fatal(err)
	}
	// Inserted without a category, as a log written before events had
	// one holds them, they are stored with the adapter's.
	t.Run("inserted", func(t *testing.T) { checkCategories(t, st, events) })
	want, err := st.CountRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var legacy []any
	for _, e := range events {
		if e.Provider == "mailjet" && e.Category == "" {
			legacy = append(legacy, e.ID)
		}
	}
	if len(legacy) == 0 {
		t.Fatal("countEvents holds no event stored before events had a category")
	}
	for _, q := range []string{
		`UPDATE events SET category = '', bounce_class = '' WHERE id IN (?` + strings.Repeat(", ?", len(legacy)-1) + `)`,
		`DROP INDEX rule_firings_at`, // migration 14
		`UPDATE schema_version SET version = 12`,
	} {
		args := legacy
		if !strings.Contains(q, "?") {
			args = nil
		}
		if err := st.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(ctx, storeConfig(t, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t.Run("migrated", func(t *testing.T) {
		checkCategories(t, st, events)
		got, err := st.CountRows(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("after migration, %d count rows, want %d as inserted", len(got), len(want))
		}
		checkCounts(t, st, events)
	})
}

// checkCategories checks that listing the events of st by each category
// and bounce class finds exactly those of events that countEvents says
// are of it, legacy Mailjet events included.
func checkCategories(t *testing.T, st *store.Store, events []event.Event) {
	t.Helper()
	want := map[[2]string][]string{}
	for _, e := range events {
		c := countedAs(e)
		want[[2]string{"category", string(c.cat)}] = append(want[[2]string{"category", string(c.cat)}], e.ID)
		if c.class != "" {
			want[[2]string{"bounce_class", string(c.class)}] = append(want[[2]string{"bounce_class", string(c.class)}], e.ID)
		}
	}
	for key, ids := range want {
		if key[1] == "" {
			continue // no filter
		}
		q := store.EventQuery{Limit: store.MaxLimit}
		if key[0] == "category" {
			q.Category = key[1]
		} else {
			q.BounceClass = key[1]
		}
		var got []string
		for {
			page, err := st.Events(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Events {
				got = append(got, e.ID)
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
		slices.Sort(got)
		slices.Sort(ids)
		if !slices.Equal(got, ids) {
			t.Errorf("%s %s: %d events listed, want %d", key[0], key[1], len(got), len(ids))
		}
	}
}
