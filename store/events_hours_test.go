package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

// sparseStart is the first hour of sparseEvents.
var sparseStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// sparseEvents are the events of TestEventsSparse, in the order they are
// inserted (so their seq order): a Mailjet source with an event every 10
// minutes for 700 hours, and a "rare" source with one event every other
// hour for 600 hours (more runs of hours than the store reads at a time),
// some of them deferred, three in one instant, and events of both at times
// the count tables do not count: the zero time, before 1678 and after 2262.
func sparseEvents() []event.Event {
	var out []event.Event
	add := func(source, typ string, cat event.Category, class event.BounceClass, at time.Time) {
		n := len(out)
		domain := []string{"a.com", "b.org"}[n%2]
		out = append(out, event.Event{
			ID: fmt.Sprintf("sp-%05d", n), Source: source, Provider: "generic", Type: typ,
			Time: at, Received: sparseStart, Email: fmt.Sprintf("u%d@%s", n%7, domain), Domain: domain,
			MessageID: fmt.Sprint(n), Campaign: fmt.Sprintf("c%d", n%3), Category: cat, BounceClass: class,
			Data: []byte(fmt.Sprintf(`{"n":%d}`, n)),
		})
	}
	types := []struct {
		typ   string
		cat   event.Category
		class event.BounceClass
	}{{"sent", event.Delivered, ""}, {"open", event.Open, ""}, {"bounce", event.Bounce, event.Hard}, {"bounce", event.Bounce, event.Soft}}
	for i := range 700 * 6 {
		t := types[i%len(types)]
		add("mailjet", t.typ, t.cat, t.class, sparseStart.Add(time.Duration(i)*10*time.Minute))
	}
	for i := range 300 {
		t := types[i%len(types)]
		cat := t.cat
		if i%50 == 7 {
			cat = event.Deferred
		}
		at := sparseStart.Add(time.Duration(2*i)*time.Hour + 17*time.Minute)
		add("rare", t.typ, cat, t.class, at)
		if i == 150 {
			add("rare", "open", event.Open, "", at)
			add("rare", "open", event.Open, "", at)
		}
	}
	for _, at := range []time.Time{{}, time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		add("rare", "sent", event.Deferred, "", at)
		add("mailjet", "open", event.Open, "", at)
		add("rare", "open", event.Open, "", at)
	}
	return out
}

// storedNanos is where the store sorts an event's time: the zero time
// first of all, times outside the nanoseconds of an int64 at its ends.
func storedNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return math.MinInt64
	case t.Year() < 1678:
		return math.MinInt64 + 1
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// TestEventsSparse pages through the events of filters that no index of
// the events orders by time (source, category), alone and with others,
// which read only the hours the count tables count a match in, and checks
// that every page holds what reading every event would: the same events
// in the same order, across hours without a match, the spans of hours read
// at a time, ties, and the times the count tables do not count.
func TestEventsSparse(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	all := sparseEvents()
	if err := st.Insert(ctx, all...); err != nil {
		t.Fatal(err)
	}
	at := func(h int, m time.Duration) time.Time { return sparseStart.Add(time.Duration(h)*time.Hour + m) }
	tests := []struct {
		name string
		q    store.EventQuery
	}{
		{"source", store.EventQuery{Source: "rare"}},
		{"source none", store.EventQuery{Source: "none"}},
		{"category", store.EventQuery{Category: "deferred"}},
		{"source and category", store.EventQuery{Source: "rare", Category: "bounce", BounceClass: "soft"}},
		{"source and type", store.EventQuery{Source: "rare", Type: "open"}},
		{"source and domain", store.EventQuery{Source: "rare", Domain: "b.org"}},
		{"source and campaign", store.EventQuery{Source: "rare", Campaign: "c1"}},
		{"campaign", store.EventQuery{Campaign: "c2"}},
		{"campaign since until", store.EventQuery{Campaign: "c0", Since: at(30, 0), Until: at(90, 5*time.Minute)}},
		{"campaign and category", store.EventQuery{Campaign: "c0", Category: "bounce"}},
		{"source since until", store.EventQuery{Source: "rare", Since: at(101, 30*time.Minute), Until: at(501, 17*time.Minute)}},
		{"source since", store.EventQuery{Source: "rare", Since: at(590, 0)}},
		{"source until", store.EventQuery{Source: "rare", Until: at(9, 0)}},
		{"category in one instant", store.EventQuery{Category: "open", Source: "rare", Since: at(300, 17*time.Minute), Until: at(300, 18*time.Minute)}},
		{"category of both sources", store.EventQuery{Category: "delivered", Since: at(200, 0), Until: at(230, 0)}},
		{"source and email", store.EventQuery{Source: "rare", Email: "u3@b.org"}},
		{"email, domain and campaign", store.EventQuery{Email: "U3@b.org", Domain: "B.org", Campaign: "c1"}},
	}
	for _, tt := range tests {
		var want []string
		for i := len(all) - 1; i >= 0; i-- {
			e := all[i]
			if (tt.q.Source == "" || e.Source == tt.q.Source) && (tt.q.Category == "" || string(e.Category) == tt.q.Category) &&
				(tt.q.BounceClass == "" || string(e.BounceClass) == tt.q.BounceClass) && (tt.q.Type == "" || e.Type == tt.q.Type) &&
				(tt.q.Domain == "" || e.Domain == strings.ToLower(tt.q.Domain)) && (tt.q.Campaign == "" || e.Campaign == tt.q.Campaign) &&
				(tt.q.Email == "" || e.Email == strings.ToLower(tt.q.Email)) &&
				(tt.q.Since.IsZero() || storedNanos(e.Time) >= tt.q.Since.UnixNano()) &&
				(tt.q.Until.IsZero() || storedNanos(e.Time) < tt.q.Until.UnixNano()) {
				want = append(want, e.ID)
			}
		}
		// Newest first; the same time in reverse order of insertion.
		slices.SortStableFunc(want, func(a, b string) int {
			var i, j int
			fmt.Sscanf(a, "sp-%d", &i)
			fmt.Sscanf(b, "sp-%d", &j)
			ti, tj := storedNanos(all[i].Time), storedNanos(all[j].Time)
			switch {
			case ti > tj:
				return -1
			case ti < tj:
				return 1
			}
			return j - i
		})
		for _, limit := range []int{1, 7, 100, 1000} {
			t.Run(fmt.Sprintf("%s/limit=%d", tt.name, limit), func(t *testing.T) {
				q := tt.q
				q.Limit = limit
				var got []string
				for {
					page, err := st.Events(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if len(page.Events) > limit || (page.Next != "" && len(page.Events) < limit) {
						t.Fatalf("page of %d events, next %q, at limit %d", len(page.Events), page.Next, limit)
					}
					got = append(got, ids(page.Events)...)
					if page.Next == "" {
						break
					}
					q.Cursor = page.Next
				}
				if !slices.Equal(got, want) {
					t.Fatalf("got %d events %v\nwant %d %v", len(got), got, len(want), want)
				}
			})
		}
	}
}

// TestEventsSkipsUncountedHours shows where a filter by source or category
// reads: a row written into the events table behind the count tables'
// back, as no hookd writes one, in an hour where counts_hour counts no
// event of its source, is not listed, while one filtered by its type,
// whose index orders by time, is.
func TestEventsSkipsUncountedHours(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	if err := st.Insert(ctx, sparseEvents()[:10]...); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, store.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `INSERT INTO events (id, source, provider, type, time_ns, received_ns, email, domain,
		message_id, campaign, data, category) VALUES ('behind', 'ghost', 'generic', 'haunt', ?, 0, '', '', '', '', '{}', 'deferred')`,
		sparseStart.Add(time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		q    store.EventQuery
		want int
	}{
		{store.EventQuery{Source: "ghost"}, 0},
		{store.EventQuery{Category: "deferred", Source: "ghost"}, 0},
		{store.EventQuery{Type: "haunt"}, 1},
	} {
		page, err := st.Events(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != tt.want {
			t.Errorf("Events(%+v) = %v, want %d events", tt.q, ids(page.Events), tt.want)
		}
	}
}

// TestEventsPlan checks which index a listing of events reads, where
// SQLite, which keeps no statistics here, would pick one that gives it
// every event of a domain or campaign to skip or to sort. By recipient,
// events_email, whatever other filter it has (through the domain's or
// campaign's index it would read all of theirs, a third of a store for
// gmail.com); by campaign alone, one query per type through
// events_campaign, merged, not every event of the campaign sorted; after
// a cursor, from the cursor's time on.
func TestEventsPlan(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	if err := st.Insert(ctx, sparseEvents()[:10]...); err != nil {
		t.Fatal(err)
	}
	page, err := st.Events(ctx, store.EventQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	cursor := page.Next
	tests := []struct {
		q         store.EventQuery
		want, not string
	}{
		// A page after the first seeks to its cursor's time, where
		// SQLite, which does not take a range from the cursor's OR when
		// it reads the rows, read every event before it again: page
		// 300 of a type took 46 ms, a listing's time grew with the
		// square of its pages.
		{store.EventQuery{Type: "open", Cursor: cursor}, "(type=? AND time_ns<?)", "TEMP B-TREE"},
		{store.EventQuery{Domain: "b.org", Cursor: cursor}, "(domain=? AND time_ns<?)", "TEMP B-TREE"},
		{store.EventQuery{Cursor: cursor}, "(time_ns<?)", "TEMP B-TREE"},
		{store.EventQuery{Email: "ann@gmail.com"}, "INDEX events_email ", "events_domain"},
		{store.EventQuery{Email: "ann@gmail.com", Domain: "gmail.com"}, "INDEX events_email ", "events_domain"},
		{store.EventQuery{Email: "ann@gmail.com", Domain: "gmail.com", Type: "open"}, "INDEX events_email ", "events_domain"},
		{store.EventQuery{Email: "ann@gmail.com", Campaign: "spring"}, "INDEX events_email ", "events_campaign"},
		{store.EventQuery{Email: "ann@gmail.com", Campaign: "spring", Type: "open"}, "INDEX events_email ", "events_campaign"},
		{store.EventQuery{Email: "ann@gmail.com", Campaign: "spring", Domain: "gmail.com", Since: base}, "INDEX events_email ", "events_domain"},
		{store.EventQuery{Email: "ann@gmail.com", Source: "mailjet", Category: "open"}, "INDEX events_email ", "events_time"},
		{store.EventQuery{Campaign: "spring"}, "MERGE (UNION ALL)", "TEMP B-TREE"},
		{store.EventQuery{Campaign: "spring", Since: base, Until: base.Add(time.Hour)}, "MERGE (UNION ALL)", "TEMP B-TREE"},
		{store.EventQuery{Campaign: "spring", Type: "open"}, "INDEX events_campaign ", "TEMP B-TREE"},
		{store.EventQuery{Campaign: "spring", Category: "open"}, "INDEX events_campaign ", "MERGE"},
	}
	for _, tt := range tests {
		plan, err := st.EventsPlan(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, tt.want) || strings.Contains(plan, tt.not) {
			t.Errorf("Events(%+v) reads\n%s\nwant %s, not %s", tt.q, plan, tt.want, tt.not)
		}
	}
}
