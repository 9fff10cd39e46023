package store_test

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/store"
)

// TestRebuild rebuilds a store, on whichever database the tests run on
// (see TestPostgres), from a SQLite log: the events come back with their
// seqs and categories, the counts agree, and events stored afterwards get new seqs.
func TestRebuild(t *testing.T) {
	ctx := context.Background()
	log := openLog(t)
	st := openStore(t, t.TempDir())
	events := appendRebuildEvents(t, log)
	if err := st.Insert(ctx, events...); err != nil {
		t.Fatal(err)
	}
	list := func() store.EventPage {
		t.Helper()
		page, err := st.Events(ctx, store.EventQuery{Limit: store.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		return page
	}
	before := list()

	res, err := st.Rebuild(ctx, log.(eventlog.Reader), nil, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != len(events) || res.Skipped != 0 {
		t.Fatalf("Rebuild = %+v, want %d events stored again", res, len(events))
	}
	if after := list(); !reflect.DeepEqual(after, before) {
		t.Errorf("events after rebuild differ:\n%+v\nwant\n%+v", after, before)
	}
	checkCounts(t, st, events)
	// Mailjet's events without a category, as a log written before events
	// had one holds them, are stored again with the adapter's.
	checkCategories(t, st, events)
	// The store records where it got in the log, as the projector does.
	recs, err := log.(eventlog.Reader).Read(ctx, eventlog.TopicEvents, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	offsets, err := st.LogOffsets(ctx)
	if want := map[string]int64{eventlog.TopicEvents: recs[len(recs)-1].Offset}; err != nil || !maps.Equal(offsets, want) {
		t.Errorf("LogOffsets after rebuild = %v, %v; want %v", offsets, err, want)
	}

	// A new event after the rebuild is stored under a new seq, newest.
	late := ev(99, "open", "late@x.com", base.Add(time.Hour))
	if err := st.Insert(ctx, late); err != nil {
		t.Fatalf("insert after rebuild: %v", err)
	}
	if got := list().Events; len(got) != len(events)+1 || got[0].ID != late.ID {
		t.Fatalf("after rebuild and one insert: %d events, newest %+v", len(got), got[0])
	}
}

// appendRebuildEvents appends 40 events of four types, five addresses and
// a minute apart to log, and returns them.
func appendRebuildEvents(t *testing.T, log eventlog.Log) []event.Event {
	t.Helper()
	var events []event.Event
	msgs := make([]*message.Message, 40)
	for i := range msgs {
		e, _ := countEvent(i) // of every provider, so that the counts tell
		e.Time = base.Add(time.Duration(i) * time.Minute)
		events = append(events, e)
		msgs[i] = eventMessage(t, e)
	}
	if _, err := log.Append(context.Background(), eventlog.TopicEvents, msgs); err != nil {
		t.Fatal(err)
	}
	return events
}

// TestRebuildRestores rebuilds a store that lost events and a quarantined
// body the projector had consumed (as when store.db is replaced by an older
// copy): they come back under new seqs, newer than the kept ones, and
// the log's messages after the projector's offsets are left for it.
func TestRebuildRestores(t *testing.T) {
	ctx := context.Background()
	log := openLog(t)
	st := openStore(t, t.TempDir())
	events := appendRebuildEvents(t, log)
	var qmsgs []*message.Message
	quarantined := []event.Quarantined{
		{ID: "q-1", Source: "mailjet", Received: base, Error: "bad json", Body: []byte("{")},
		{ID: "q-2", Source: "mailjet", Received: base.Add(time.Minute), Error: "bad json", Body: []byte("[")},
		{ID: "q-3", Source: "mailjet", Received: base.Add(2 * time.Minute), Error: "bad json", Body: []byte("]")},
	}
	for _, q := range quarantined {
		b, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		qmsgs = append(qmsgs, message.NewMessage(q.ID, b))
	}
	if _, err := log.Append(ctx, eventlog.TopicQuarantine, qmsgs); err != nil {
		t.Fatal(err)
	}
	// The store kept the first 25 events and the first body; the
	// projector had consumed 35 events and 2 bodies.
	if err := st.Insert(ctx, events[:25]...); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertQuarantined(ctx, quarantined[0]); err != nil {
		t.Fatal(err)
	}
	offset := func(topic string, i int) int64 {
		t.Helper()
		recs, err := log.(eventlog.Reader).Read(ctx, topic, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		return recs[i].Offset
	}
	projected := map[string]int64{
		eventlog.TopicEvents:     offset(eventlog.TopicEvents, 34),
		eventlog.TopicQuarantine: offset(eventlog.TopicQuarantine, 1),
	}
	res, err := st.Rebuild(ctx, log.(eventlog.Reader), nil, projected, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := store.RebuildResult{Events: 25, Quarantined: 1, Restored: 10 + 1, Skipped: 5 + 1}
	if res != want {
		t.Fatalf("Rebuild = %+v, want %+v", res, want)
	}
	checkListed(t, st, events[:35])
	// In the order stored: the restored events follow the kept ones, in
	// log order.
	stored, _, err := st.EventsAfter(ctx, 0, "", "", store.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range stored {
		got = append(got, e.ID)
	}
	if wantIDs := ids(events[:35]); !slices.Equal(got, wantIDs) {
		t.Errorf("events in the order stored: %v, want %v", got, wantIDs)
	}
	checkCounts(t, st, events[:35])
	// The store got to the projector's offsets: CatchUp will not find it
	// behind.
	if offsets, err := st.LogOffsets(ctx); err != nil || !maps.Equal(offsets, projected) {
		t.Errorf("LogOffsets after rebuild = %v, %v; want %v", offsets, err, projected)
	}
	qp, err := st.Quarantine(ctx, store.QuarantineQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(qp.Items) != 2 {
		t.Errorf("quarantine after rebuild: %+v, want q-1 and q-2", qp.Items)
	}
}

// TestRebuildKeepsRetention rebuilds a store whose retention deleted the
// events older than a horizon that the log still has: they stay deleted
// and are counted as Expired, while an event lost from the store that is
// newer than the horizon is restored, and old events the store still
// holds (retention had not reached them) are kept.
func TestRebuildKeepsRetention(t *testing.T) {
	ctx := context.Background()
	log := openLog(t)
	st := openStore(t, t.TempDir())
	events := appendRebuildEvents(t, log)
	// Retention deleted events[:18]; events[30] was lost with a store.db
	// replaced by an older copy; the projector had consumed 35.
	held := append(slices.Clone(events[18:30]), events[31:35]...)
	if err := st.Insert(ctx, held...); err != nil {
		t.Fatal(err)
	}
	recs, err := log.(eventlog.Reader).Read(ctx, eventlog.TopicEvents, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	projected := map[string]int64{eventlog.TopicEvents: recs[34].Offset}
	horizon := base.Add(20 * time.Minute) // events[18] and [19] are older, and held
	res, err := st.Rebuild(ctx, log.(eventlog.Reader), nil, projected, horizon)
	if err != nil {
		t.Fatal(err)
	}
	want := store.RebuildResult{Events: 16, Restored: 1, Expired: 18, Skipped: 5}
	if res != want {
		t.Fatalf("Rebuild = %+v, want %+v", res, want)
	}
	checkListed(t, st, events[18:35])
}

// checkListed checks that st lists the events of want and no other, newest
// first: as they were appended to the log, whose times rise, reversed.
func checkListed(t *testing.T, st *store.Store, want []event.Event) {
	t.Helper()
	page, err := st.Events(context.Background(), store.EventQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := ids(want)
	slices.Reverse(wantIDs)
	if got := ids(page.Events); !slices.Equal(got, wantIDs) {
		t.Errorf("events after rebuild: %v, want %v", got, wantIDs)
	}
}
