package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/store"
)

// TestRebuild rebuilds a store, on whichever database the tests run on
// (see TestPostgres), from a SQLite log: the events come back with their
// seqs, the counts agree, and events stored afterwards get new seqs.
func TestRebuild(t *testing.T) {
	ctx := context.Background()
	log := openLog(t)
	st := openStore(t, t.TempDir())
	var events []event.Event
	for i := range 40 {
		events = append(events, ev(i, []string{"sent", "open", "bounce", "blocked"}[i%4], fmt.Sprintf("u%d@x.com", i%5), base.Add(time.Duration(i)*time.Minute)))
	}
	msgs := make([]*message.Message, len(events))
	for i, e := range events {
		msgs[i] = eventMessage(t, e)
	}
	if _, err := log.Append(ctx, eventlog.TopicEvents, msgs); err != nil {
		t.Fatal(err)
	}
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

	res, err := st.Rebuild(ctx, log.(eventlog.Reader), nil)
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

	// A new event after the rebuild is stored under a new seq, newest.
	late := ev(99, "open", "late@x.com", base.Add(time.Hour))
	if err := st.Insert(ctx, late); err != nil {
		t.Fatalf("insert after rebuild: %v", err)
	}
	if got := list().Events; len(got) != len(events)+1 || got[0].ID != late.ID {
		t.Fatalf("after rebuild and one insert: %d events, newest %+v", len(got), got[0])
	}
}
