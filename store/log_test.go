package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	_ "github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/store"
)

// TestRunSQLiteLog projects the real embedded log, one message in flight at
// a time and a window of a batch: everything appended arrives, a restart in
// the same consumer group resumes where it stopped, and a replay from a new
// group stores nothing twice.
func TestRunSQLiteLog(t *testing.T) {
	for _, inFlight := range []int{1, store.Batch} {
		t.Run(fmt.Sprintf("InFlight=%d", inFlight), func(t *testing.T) { testRunSQLiteLog(t, inFlight) })
	}
}

func testRunSQLiteLog(t *testing.T, inFlight int) {
	ctx := context.Background()
	log := openLog(t)
	st := openStore(t, t.TempDir())

	appendEvents := func(events ...event.Event) {
		t.Helper()
		msgs := make([]*message.Message, len(events))
		for i, e := range events {
			msgs[i] = eventMessage(t, e)
		}
		if _, err := log.Append(ctx, eventlog.TopicEvents, msgs); err != nil {
			t.Fatal(err)
		}
	}
	var events []event.Event
	for i := range 50 {
		events = append(events, ev(i, []string{"sent", "open", "click"}[i%3], fmt.Sprintf("u%d@x.com", i%7), base.Add(time.Duration(i)*time.Second)))
	}
	appendEvents(events[:30]...)
	qb, err := json.Marshal(event.Quarantined{ID: "q-1", Source: "mailjet", Received: base, Error: "bad", Body: []byte{0xff}})
	if err != nil {
		t.Fatal(err)
	}
	qmsg := message.NewMessage(watermill.NewUUID(), qb)
	qmsg.Metadata.Set(eventlog.DedupKey, "q-1")
	if _, err := log.Append(ctx, eventlog.TopicQuarantine, []*message.Message{qmsg}); err != nil {
		t.Fatal(err)
	}

	project := func(group string) (stop func() error) {
		t.Helper()
		sub, err := log.Subscriber(group, eventlog.InFlight(inFlight))
		if err != nil {
			t.Fatal(err)
		}
		stopRun := runProjector(t, st, sub)
		return func() error {
			err := stopRun()
			if cerr := sub.Close(); cerr != nil {
				t.Error(cerr)
			}
			return err
		}
	}

	stop := project("store")
	// The quarantine topic is consumed beside the events, in no order
	// with them.
	waitFor(t, "the first 30 events and the quarantined body", func() bool {
		return countIs(t, st, 30)() && st.ProjectorStats().Quarantined == 1
	})
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := st.ProjectorStats(); got.Events != 30 || got.Quarantined != 1 {
		t.Fatalf("after the first run: %+v", got)
	}

	// The same group resumes after what it acked.
	appendEvents(events[30:]...)
	stop = project("store")
	waitFor(t, "all 50 events", countIs(t, st, 50))
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := st.ProjectorStats(); got.Events != 50 {
		t.Fatalf("after the restart: %+v, want 50 events projected in all", got)
	}

	// A new group replays the whole log into the same store: every message
	// is delivered again, none is stored twice.
	stop = project("replay")
	// 51 messages, the quarantined body's among them, twice.
	waitFor(t, "the replay", func() bool { p := st.ProjectorStats(); return p.Events+p.Quarantined+p.Duplicates == 102 })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if n, err := st.Count(ctx); err != nil || n != 50 {
		t.Fatalf("Count after replay = %d, %v; want 50", n, err)
	}
	if got := st.ProjectorStats(); got.Events != 50 || got.Quarantined != 1 || got.Duplicates != 51 {
		t.Errorf("after the replay: %+v, want 50 events and a quarantined body stored, each once, and 51 duplicates", got)
	}
	page, err := st.Events(ctx, store.EventQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range page.Events {
		if want := events[len(events)-1-i]; !equalEvents(got, want) {
			t.Fatalf("event %d = %+v\nwant %+v", i, got, want)
		}
	}
	q, err := st.Quarantine(ctx, store.QuarantineQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Items) != 1 || string(q.Items[0].Body) != "\xff" {
		t.Fatalf("quarantine = %+v", q.Items)
	}
}

// TestRunAcksWhatItCommitted ends Run's ctx each time right after the
// projector committed an event and before it acked it, as a shutdown may:
// the acks still count, so no restart delivers an event again.
func TestRunAcksWhatItCommitted(t *testing.T) {
	const rounds = 10
	ctx := context.Background()
	log := openLog(t)
	st := openStore(t, t.TempDir())
	for i := range rounds {
		e := ev(i, "open", "u@x.com", base.Add(time.Duration(i)*time.Second))
		if _, err := log.Append(ctx, eventlog.TopicEvents, []*message.Message{eventMessage(t, e)}); err != nil {
			t.Fatal(err)
		}
		sub, err := log.Subscriber("store", eventlog.InFlight(store.Batch))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		// Once ctx has ended, leave the subscription time to notice before
		// the acks.
		committed := store.Committed(func() {
			cancel()
			time.Sleep(10 * time.Millisecond)
		})
		done := make(chan error, 1)
		go func() { done <- st.Run(runCtx, sub, nil, committed) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: Run = %v", i, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: event not stored", i)
		}
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.ProjectorStats(); got.Events != rounds {
		t.Fatalf("projector stats = %+v, want %d events projected, each once", got, rounds)
	}
}

// TestRunSQLiteLogBatches lets the projector find thousands of events in
// the real log, read through a window of a batch: it stores them in fewer
// transactions than events, and every one of them.
func TestRunSQLiteLogBatches(t *testing.T) {
	const events = 3000
	ctx := context.Background()
	log := openLog(t)
	st := openStore(t, t.TempDir())
	var msgs []*message.Message
	for i := range events {
		msgs = append(msgs, eventMessage(t, ev(i, "open", fmt.Sprintf("u%d@x.com", i%50), base.Add(time.Duration(i)*time.Second))))
		if len(msgs) == 100 {
			if _, err := log.Append(ctx, eventlog.TopicEvents, msgs); err != nil {
				t.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
	sub, err := log.Subscriber("store", eventlog.InFlight(store.Batch))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	stop := runProjector(t, st, sub)
	waitFor(t, "every event", func() bool { return st.ProjectorStats().Events == events })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	got := st.ProjectorStats()
	t.Logf("%d events in %d transactions", got.Events, got.Batches)
	// The log delivers while a transaction runs, so each one finds what
	// came meanwhile: one per event would mean no batching at all.
	if got.Batches >= events || got.Failed != 0 {
		t.Errorf("ProjectorStats = %+v, want fewer batches than events and no failure", got)
	}
	if n, err := st.Count(ctx); err != nil || n != events {
		t.Errorf("Count = %d, %v; want %d", n, err, events)
	}
}
