package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

// TestDeleteBeforeFutureEvents checks that an event dated after now goes
// when it was received before the horizon, as the log's message it came
// in goes then too (hookd rebuild, which stores again what the log holds,
// refused to run once the log had lost the message of an event the store
// kept), and stays when it was received after it.
func TestDeleteBeforeFutureEvents(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	now := time.Now().UTC().Truncate(time.Second)
	before := now.Add(-90 * 24 * time.Hour)
	at := func(n int, time, received time.Time) event.Event {
		e := ev(n, "open", "a@example.com", time)
		e.Received = received
		return e
	}
	events := []event.Event{
		at(1, now.Add(365*24*time.Hour), before.Add(-time.Hour)), // received before the horizon, dated next year
		at(2, now.Add(365*24*time.Hour), before.Add(time.Hour)),  // received after it
		at(3, before.Add(-time.Hour), before.Add(-time.Hour)),    // old
		at(4, now, now), // recent
	}
	if err := st.Insert(ctx, events...); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := st.DeleteBefore(ctx, before, 10)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	for _, c := range []struct {
		e    event.Event
		kept bool
	}{{events[0], false}, {events[1], true}, {events[2], false}, {events[3], true}} {
		_, err := st.Event(ctx, c.e.ID)
		if kept := err == nil; kept != c.kept || (err != nil && !errors.Is(err, store.ErrNotFound)) {
			t.Errorf("event %s dated %s, received %s: kept %v (%v), want %v", c.e.ID, c.e.Time, c.e.Received, kept, err, c.kept)
		}
	}
	checkCounts(t, st, []event.Event{events[1], events[3]})
}
