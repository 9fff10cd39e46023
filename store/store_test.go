package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/store"
)

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), storeConfig(t, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st
}

// openLog opens a SQLite event log in a directory of its own, closed when
// the test ends.
func openLog(tb testing.TB) eventlog.Log {
	tb.Helper()
	log, err := eventlog.Open(context.Background(), eventlog.Config{Backend: "sqlite", Dir: tb.TempDir()}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { log.Close() })
	return log
}

var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// mailjetCategories are the categories the mailjet adapter gives its types.
var mailjetCategories = map[string]event.Category{
	"sent": event.Delivered, "open": event.Open, "click": event.Click, "bounce": event.Bounce,
	"blocked": event.Blocked, "spam": event.Complaint, "unsub": event.Unsubscribe,
}

// ev builds a Mailjet event whose fields derive from its number, for
// readable assertions, with the category the mailjet adapter gives typ.
func ev(n int, typ, email string, at time.Time) event.Event {
	e, d := event.NormalizeEmail(email)
	return event.Event{
		ID:        fmt.Sprintf("ev-%03d", n),
		Source:    "mailjet",
		Provider:  "mailjet",
		Type:      typ,
		Time:      at,
		Received:  at.Add(time.Second),
		Email:     e,
		Domain:    d,
		MessageID: fmt.Sprintf("%d", 1<<60+n),
		Campaign:  "spring",
		Category:  mailjetCategories[typ],
		Data:      json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)),
	}
}

func ids(events []event.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func TestOpen(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	t.Run("creates the data directory and reopens", func(t *testing.T) {
		// Characters that mean something in a URI must not confuse the DSN.
		dir := filepath.Join(t.TempDir(), "my data?x=1#%20")
		st, err := store.Open(ctx, store.Config{Dir: dir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Insert(ctx, ev(1, "open", "a@x.com", base)); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, store.FileName)); err != nil {
			t.Fatal(err)
		}
		st = openStore(t, dir)
		if n, err := st.Count(ctx); err != nil || n != 1 {
			t.Fatalf("Count = %d, %v; want 1", n, err)
		}
	})
	t.Run("read-only never creates", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		_, err := store.Open(ctx, store.Config{Dir: dir, ReadOnly: true}, nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open = %v, want fs.ErrNotExist", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("data dir exists after read-only open: %v", err)
		}
		if err := os.Mkdir(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		_, err = store.Open(ctx, store.Config{Dir: dir, ReadOnly: true}, nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open = %v, want fs.ErrNotExist", err)
		}
		if _, err := os.Stat(filepath.Join(dir, store.FileName)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("store created by read-only open: %v", err)
		}
	})
	t.Run("read-only beside a writer", func(t *testing.T) {
		dir := t.TempDir()
		w := openStore(t, dir)
		if err := w.Insert(ctx, ev(1, "open", "a@x.com", base)); err != nil {
			t.Fatal(err)
		}
		r, err := store.Open(ctx, store.Config{Dir: dir, ReadOnly: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := w.Insert(ctx, ev(2, "open", "a@x.com", base)); err != nil {
			t.Fatal(err)
		}
		if n, err := r.Count(ctx); err != nil || n != 2 {
			t.Fatalf("Count = %d, %v; want 2", n, err)
		}
		if err := r.Insert(ctx, ev(3, "open", "a@x.com", base)); err == nil {
			t.Fatal("Insert on a read-only store succeeded")
		}
	})
	t.Run("read-only after the writer closed", func(t *testing.T) {
		dir := t.TempDir()
		w, err := store.Open(ctx, store.Config{Dir: dir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Insert(ctx, ev(1, "open", "a@x.com", base)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := store.Open(ctx, store.Config{Dir: dir, ReadOnly: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if n, err := r.Count(ctx); err != nil || n != 1 {
			t.Fatalf("Count = %d, %v; want 1", n, err)
		}
	})
	t.Run("newer schema refused", func(t *testing.T) {
		dir := t.TempDir()
		st, err := store.Open(ctx, store.Config{Dir: dir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		raw, err := sql.Open("sqlite", filepath.Join(dir, store.FileName))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.Exec(`UPDATE schema_version SET version = 99`); err != nil {
			t.Fatal(err)
		}
		for _, ro := range []bool{false, true} {
			if _, err := store.Open(ctx, store.Config{Dir: dir, ReadOnly: ro}, nil); err == nil || !strings.Contains(err.Error(), "99") {
				t.Errorf("Open(ReadOnly %v) = %v, want an error about version 99", ro, err)
			}
		}
	})
	t.Run("older schema kept by NoMigrate", func(t *testing.T) {
		dir := t.TempDir()
		st, err := store.Open(ctx, store.Config{Dir: dir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		if st, err = store.Open(ctx, store.Config{Dir: dir, NoMigrate: true}, nil); err != nil {
			t.Fatalf("Open(NoMigrate) of the current schema: %v", err)
		}
		st.Close()
		execRaw(t, dir, `UPDATE schema_version SET version = 13`)
		_, err = store.Open(ctx, store.Config{Dir: dir, NoMigrate: true}, nil)
		if err == nil || !strings.Contains(err.Error(), "store has version 13") {
			t.Fatalf("Open(NoMigrate) = %v, want an error about version 13", err)
		}
		raw, err := sql.Open("sqlite", filepath.Join(dir, store.FileName))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		var v int
		if err := raw.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != 13 {
			t.Fatalf("schema version %d, %v after Open(NoMigrate); want 13 left as it was", v, err)
		}
	})
	t.Run("unknown driver", func(t *testing.T) {
		if _, err := store.Open(ctx, store.Config{Driver: "oracle", Dir: t.TempDir()}, nil); err == nil {
			t.Fatal("Open succeeded")
		}
	})
}

func TestInsert(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())

	e := ev(1, "open", "Ann@Example.COM", base)
	e.Email, e.Domain = "Ann@Example.COM", "Example.COM"
	if err := st.Insert(ctx, e, e); err != nil {
		t.Fatal(err)
	}
	changed := e
	changed.Type = "click"
	if err := st.Insert(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Count(ctx); err != nil || n != 1 {
		t.Fatalf("Count = %d, %v; want 1", n, err)
	}
	got, err := st.Event(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := e
	want.Email, want.Domain = "ann@example.com", "example.com"
	if !equalEvents(got, want) {
		t.Fatalf("Event = %+v\nwant %+v", got, want)
	}
	if _, err := st.Event(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Event(missing) = %v, want ErrNotFound", err)
	}
	if err := st.Insert(ctx, event.Event{Type: "open"}); err == nil {
		t.Fatal("Insert of an event without id succeeded")
	}
}

// TestInsertLongestText stores an event whose normalized text fields are
// each as long as the listener lets through (event.MaxText bytes), of
// characters that do not compress: PostgreSQL refuses an index entry over
// about 2,700 bytes, and the store indexes email, domain, message id and
// campaign each with the type.
func TestInsertLongestText(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	r := rand.New(rand.NewPCG(1, 2))
	text := func(n int) string {
		const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		return string(b)
	}
	e := ev(1, text(event.MaxText), text(event.MaxText/2-1)+"@"+text(event.MaxText/2), base)
	e.ID, e.MessageID, e.Campaign = text(event.MaxText), text(event.MaxText), text(event.MaxText)
	if err := st.Insert(ctx, e); err != nil {
		t.Fatalf("Insert: %v", err)
	}
	for _, q := range []store.EventQuery{{Email: e.Email}, {Domain: e.Domain, Type: e.Type}, {Campaign: e.Campaign}} {
		page, err := st.Events(ctx, q)
		if err != nil {
			t.Fatalf("Events(%+v): %v", q, err)
		}
		if len(page.Events) != 1 || !equalEvents(page.Events[0], e) {
			t.Fatalf("Events(%+v) = %d events, want the one inserted", q, len(page.Events))
		}
	}
}

func equalEvents(a, b event.Event) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestTimes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	tests := []struct {
		name string
		time time.Time
		want time.Time
	}{
		{"nanoseconds", time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC), time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{"other zone reads back in UTC", time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)), time.Date(2025, 1, 2, 2, 4, 5, 0, time.UTC)},
		{"before 1970", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"zero", time.Time{}, time.Time{}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ev(i, "open", "a@x.com", tt.time)
			if err := st.Insert(ctx, e); err != nil {
				t.Fatal(err)
			}
			got, err := st.Event(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(tt.want) || got.Time.Location() != time.UTC {
				t.Fatalf("Time = %v, want %v", got.Time, tt.want)
			}
		})
	}
}

// seed inserts 40 events: types alternate open, click, bounce, sent; two
// recipients per domain on two domains; a minute apart, except that events
// 10 to 14 share one time, to exercise tie-breaking.
func seed(t testing.TB, st *store.Store) []event.Event {
	t.Helper()
	types := []string{"open", "click", "bounce", "sent"}
	emails := []string{"ann@a.com", "bob@a.com", "cat@b.org", "dan@b.org"}
	var events []event.Event
	for i := range 40 {
		at := base.Add(time.Duration(i) * time.Minute)
		if i >= 10 && i < 15 {
			at = base.Add(10 * time.Minute)
		}
		e := ev(i, types[i%4], emails[i%len(emails)], at)
		if i%5 == 0 {
			e.Source = "other"
		}
		events = append(events, e)
	}
	// Inserted in shuffled batches: order in the store must not depend on
	// insertion order except among events of the same time.
	for _, batch := range [][]event.Event{events[20:], events[:10], events[10:20]} {
		if err := st.Insert(context.Background(), batch...); err != nil {
			t.Fatal(err)
		}
	}
	return events
}

func TestEvents(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	seed(t, st)

	tests := []struct {
		name string
		q    store.EventQuery
		want []string
	}{
		{"type", store.EventQuery{Type: "bounce", Limit: 3}, []string{"ev-038", "ev-034", "ev-030"}},
		{"email any case", store.EventQuery{Email: " Ann@A.com ", Limit: 3}, []string{"ev-036", "ev-032", "ev-028"}},
		{"domain and type", store.EventQuery{Domain: "B.ORG", Type: "sent", Limit: 3}, []string{"ev-039", "ev-035", "ev-031"}},
		{"source", store.EventQuery{Source: "other", Limit: 3}, []string{"ev-035", "ev-030", "ev-025"}},
		{"since until", store.EventQuery{Since: base.Add(15 * time.Minute), Until: base.Add(18 * time.Minute)}, []string{"ev-017", "ev-016", "ev-015"}},
		{"ties newest insert first", store.EventQuery{Since: base.Add(10 * time.Minute), Until: base.Add(11 * time.Minute)}, []string{"ev-014", "ev-013", "ev-012", "ev-011", "ev-010"}},
		{"nothing", store.EventQuery{Type: "spam"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := st.Events(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(page.Events); !slices.Equal(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTypesAndSources: the types and sources of the stored events, each
// once, sorted; none in an empty store.
func TestTypesAndSources(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	for _, f := range []func(context.Context) ([]string, error){st.Types, st.Sources} {
		if got, err := f(ctx); err != nil || len(got) != 0 {
			t.Fatalf("empty store: %q, %v; want none", got, err)
		}
	}
	seed(t, st)
	types, err := st.Types(ctx)
	if want := []string{"bounce", "click", "open", "sent"}; err != nil || !slices.Equal(types, want) {
		t.Errorf("Types = %q, %v; want %q", types, err, want)
	}
	sources, err := st.Sources(ctx)
	if want := []string{"mailjet", "other"}; err != nil || !slices.Equal(sources, want) {
		t.Errorf("Sources = %q, %v; want %q", sources, err, want)
	}
}

func TestEventsPagination(t *testing.T) {
	ctx := context.Background()
	for _, limit := range []int{1, 3, 7, 40} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			st := openStore(t, t.TempDir())
			seed(t, st)
			all, err := st.Events(ctx, store.EventQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(all.Events) != 40 || all.Next != "" {
				t.Fatalf("got %d events, next %q; want 40 and no next", len(all.Events), all.Next)
			}
			var got []string
			q := store.EventQuery{Limit: limit}
			for pages := 0; ; pages++ {
				if pages > 40 {
					t.Fatal("pagination does not end")
				}
				page, err := st.Events(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Events) == 0 {
					t.Fatal("empty page")
				}
				got = append(got, ids(page.Events)...)
				if page.Next == "" {
					break
				}
				// Newer events arriving meanwhile do not shift the pages.
				newer := ev(100+pages, "open", "new@a.com", base.Add(24*time.Hour))
				if err := st.Insert(ctx, newer); err != nil {
					t.Fatal(err)
				}
				q.Cursor = page.Next
			}
			if want := ids(all.Events); !slices.Equal(got, want) {
				t.Fatalf("pages = %v\nwant %v", got, want)
			}
		})
	}
}

func TestEventsInvalid(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	for _, q := range []store.EventQuery{
		{Limit: store.MaxLimit + 1},
		{Limit: -1},
		{Cursor: "garbage"},
		{Since: base, Until: base.Add(-time.Second)},
	} {
		if _, err := st.Events(ctx, q); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("Events(%+v) = %v, want ErrInvalidQuery", q, err)
		}
	}
}

func TestStats(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	seed(t, st)
	old := ev(100, "open", "old@a.com", time.Date(1969, 12, 31, 23, 59, 30, 0, time.UTC))
	if err := st.Insert(ctx, old); err != nil {
		t.Fatal(err)
	}

	type b = map[string]int64
	tests := []struct {
		name  string
		q     store.StatsQuery
		times []time.Time
		want  []b
	}{
		{
			name:  "type per minute",
			q:     store.StatsQuery{By: "type", Interval: time.Minute, Since: base.Add(9*time.Minute + 30*time.Second), Until: base.Add(12 * time.Minute)},
			times: []time.Time{base.Add(9 * time.Minute), base.Add(10 * time.Minute), base.Add(11 * time.Minute)},
			// The tie of events 10 to 14 is at minute 10.
			want: []b{{}, {"open": 1, "click": 1, "bounce": 2, "sent": 1}, {}},
		},
		{
			name:  "domain per hour",
			q:     store.StatsQuery{By: "domain", Interval: time.Hour, Since: base.Add(-time.Hour), Until: base.Add(time.Hour)},
			times: []time.Time{base.Add(-time.Hour), base},
			want:  []b{{}, {"a.com": 20, "b.org": 20}},
		},
		{
			name:  "source per day aligned to midnight",
			q:     store.StatsQuery{By: "source", Interval: 24 * time.Hour, Since: base, Until: base.Add(time.Hour)},
			times: []time.Time{time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)},
			want:  []b{{"mailjet": 32, "other": 8}},
		},
		{
			name:  "before 1970 floors",
			q:     store.StatsQuery{By: "type", Interval: time.Minute, Since: time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC), Until: time.Unix(60, 0)},
			times: []time.Time{time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC), time.Unix(0, 0).UTC()},
			want:  []b{{"open": 1}, {}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Stats(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.times) {
				t.Fatalf("got %d buckets %+v, want %d", len(got), got, len(tt.times))
			}
			for i, bk := range got {
				if !bk.Time.Equal(tt.times[i]) {
					t.Errorf("bucket %d time %v, want %v", i, bk.Time, tt.times[i])
				}
				if fmt.Sprint(bk.Counts) != fmt.Sprint(tt.want[i]) {
					t.Errorf("bucket %d counts %v, want %v", i, bk.Counts, tt.want[i])
				}
			}
		})
	}

	for _, q := range []store.StatsQuery{
		{By: "email", Interval: time.Hour, Since: base, Until: base.Add(time.Hour)},
		{By: "type", Interval: 2 * time.Hour, Since: base, Until: base.Add(time.Hour)},
		{By: "type", Interval: time.Hour, Until: base},
		{By: "type", Interval: time.Hour, Since: base, Until: base},
		{By: "type", Interval: time.Minute, Since: base, Until: base.Add(25*time.Hour + time.Minute)},
	} {
		if _, err := st.Stats(ctx, q); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("Stats(%+v) = %v, want ErrInvalidQuery", q, err)
		}
	}
	if _, err := st.Stats(ctx, store.StatsQuery{By: "type", Interval: time.Minute, Since: base, Until: base.Add(25 * time.Hour)}); err != nil {
		t.Errorf("Stats over exactly %d buckets: %v", store.MaxBuckets, err)
	}
}

func TestQuarantine(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	var items []event.Quarantined
	for i := range 5 {
		items = append(items, event.Quarantined{
			ID:          fmt.Sprintf("q-%d", i),
			Source:      "mailjet",
			Received:    base.Add(time.Duration(i/2) * time.Second),
			Error:       "unexpected end of JSON input",
			ContentType: "application/json",
			Body:        []byte{'{', byte(i), 0xff},
		})
	}
	if err := st.InsertQuarantined(ctx, items...); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertQuarantined(ctx, items[0]); err != nil {
		t.Fatal(err)
	}
	var got []event.Quarantined
	cursor := ""
	for range 5 {
		page, err := st.Quarantine(ctx, store.QuarantineQuery{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Items...)
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	want := slices.Clone(items)
	slices.Reverse(want)
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Fatalf("quarantine = %s\nwant %s", gj, wj)
	}
	page, err := st.Quarantine(ctx, store.QuarantineQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Events(ctx, store.EventQuery{Cursor: page.Next}); !errors.Is(err, store.ErrInvalidQuery) {
		t.Fatalf("Events with a quarantine cursor = %v, want ErrInvalidQuery", err)
	}
}

// TestTextNotUTF8 checks that an event whose text holds what PostgreSQL's
// text cannot (a NUL character, as a JSON sender's "\u0000" decodes to,
// or bytes that are not UTF-8, as a header may hold) is stored with the
// events of its batch, and that a lookup with the value as sent finds it,
// on either database; on PostgreSQL each such character reads back as
// U+FFFD. Storing one failed there, and the projector retried its batch for
// ever, storing nothing more.
func TestTextNotUTF8(t *testing.T) {
	ctx := context.Background()
	// stored is how text reads back from the store under test.
	stored := func(s string) string {
		if storeDriver != "postgres" {
			return s
		}
		return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	}
	tests := []struct {
		name  string
		edit  func(e *event.Event, v string)
		query func(v string) store.EventQuery
		field func(e event.Event) string
	}{
		{"type", func(e *event.Event, v string) { e.Type = v },
			func(v string) store.EventQuery { return store.EventQuery{Type: v} },
			func(e event.Event) string { return e.Type }},
		{"email", func(e *event.Event, v string) { e.Email, e.Domain = v+"@x.example", "x.example" },
			func(v string) store.EventQuery { return store.EventQuery{Email: v + "@X.example"} },
			func(e event.Event) string { return strings.ToLower(e.Email) }},
		{"source", func(e *event.Event, v string) { e.Source = v },
			func(v string) store.EventQuery { return store.EventQuery{Source: v} },
			func(e event.Event) string { return e.Source }},
		{"campaign", func(e *event.Event, v string) { e.Campaign = v },
			func(v string) store.EventQuery { return store.EventQuery{Campaign: v} },
			func(e event.Event) string { return e.Campaign }},
		{"message id", func(e *event.Event, v string) { e.MessageID = v },
			func(string) store.EventQuery { return store.EventQuery{} },
			func(e event.Event) string { return e.MessageID }},
	}
	for _, v := range []string{"a\x00b", "a\xffb"} {
		for i, tt := range tests {
			t.Run(fmt.Sprintf("%s %q", tt.name, v), func(t *testing.T) {
				st := openStore(t, t.TempDir())
				e := ev(i, "open", "ann@a.com", base)
				tt.edit(&e, v)
				e.ID += v
				after := ev(100+i, "open", "bob@a.com", base.Add(time.Minute))
				if err := st.Insert(ctx, e, after); err != nil {
					t.Fatalf("Insert: %v", err)
				}
				page, err := st.Events(ctx, tt.query(v))
				if err != nil {
					t.Fatalf("Events: %v", err)
				}
				if !slices.Contains(ids(page.Events), stored(e.ID)) {
					t.Fatalf("Events(%s %q) = %q, want %q among them", tt.name, v, ids(page.Events), stored(e.ID))
				}
				got, err := st.Event(ctx, e.ID)
				if err != nil {
					t.Fatalf("Event(%q): %v", e.ID, err)
				}
				if want := stored(tt.field(e)); tt.field(got) != want {
					t.Errorf("%s = %q, want %q", tt.name, tt.field(got), want)
				}
				if _, err := st.Event(ctx, after.ID); err != nil {
					t.Errorf("the event after it: %v", err)
				}
			})
		}
	}
	t.Run("quarantined", func(t *testing.T) {
		st := openStore(t, t.TempDir())
		q := event.Quarantined{ID: "q-\x00", Source: "mailjet", Received: base,
			Error: "bad \x00 byte", ContentType: "text/plain; charset=\xff", Body: []byte{0, 0xff}}
		if err := st.InsertQuarantined(ctx, q); err != nil {
			t.Fatalf("InsertQuarantined: %v", err)
		}
		page, err := st.Quarantine(ctx, store.QuarantineQuery{Source: "mailjet"})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("Quarantine = %+v, %v; want the body", page, err)
		}
		got := page.Items[0]
		if got.Error != stored(q.Error) || got.ContentType != stored(q.ContentType) || string(got.Body) != string(q.Body) {
			t.Errorf("quarantined = %q %q %q, want %q %q %q", got.Error, got.ContentType, got.Body,
				stored(q.Error), stored(q.ContentType), q.Body)
		}
	})
	t.Run("lookups", func(t *testing.T) {
		st := openStore(t, t.TempDir())
		seed(t, st)
		for _, v := range []string{"\x00", "\xff", "a\xc3"} {
			if page, err := st.Events(ctx, store.EventQuery{Type: v, Source: v, Campaign: v}); err != nil || len(page.Events) != 0 {
				t.Errorf("Events(%q) = %d events, %v; want none", v, len(page.Events), err)
			}
			if _, err := st.Event(ctx, v); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Event(%q) = %v, want ErrNotFound", v, err)
			}
			if _, err := st.Quarantine(ctx, store.QuarantineQuery{Source: v}); err != nil {
				t.Errorf("Quarantine(%q): %v", v, err)
			}
			if _, err := st.Jobs(ctx, store.JobQuery{Rule: v, EventID: v}); err != nil {
				t.Errorf("Jobs(%q): %v", v, err)
			}
			if err := st.Unsuppress(ctx, v+"@x.example"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Unsuppress(%q) = %v, want ErrNotFound", v, err)
			}
		}
	})
}

// TestSQLiteWriterDurable checks that the sqlite store commits with an
// fsync (synchronous=FULL): the projector acks a message once its commit
// returns, so the commit, and the jobs it holds, must survive a power loss.
func TestSQLiteWriterDurable(t *testing.T) {
	st, err := store.Open(context.Background(), store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, err := st.WriterSynchronous(context.Background()); err != nil || v != 2 {
		t.Fatalf("writer's synchronous = %d, %v; want 2 (FULL)", v, err)
	}
}

// TestEventsAfterPageBytes follows EventsAfter, which the live stream
// reads with, over events of 1.5 MiB: each call holds at most
// PageBytes of data (two such events) and says more follow, and
// following the last Seq gives every event once, in the order stored.
func TestEventsAfterPageBytes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	const n = 5
	pad := strings.Repeat("z", 3<<19)
	for i := range n {
		e := event.Event{ID: fmt.Sprintf("big-%d", i), Source: "mailjet", Type: "open", Time: base,
			Data: json.RawMessage(`{"p":"` + pad + `"}`)}
		if err := st.Insert(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var (
		got   []string
		after int64
	)
	for range n + 1 {
		events, more, err := st.EventsAfter(ctx, after, "", "", store.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, e := range events {
			got = append(got, e.ID)
			size += len(e.Data)
			after = e.Seq
		}
		if size > store.PageBytes {
			t.Errorf("a call returned %d events of %d bytes, more than PageBytes", len(events), size)
		}
		if !more {
			break
		}
	}
	if want := []string{"big-0", "big-1", "big-2", "big-3", "big-4"}; !slices.Equal(got, want) {
		t.Errorf("followed EventsAfter: %v, want %v", got, want)
	}
}
