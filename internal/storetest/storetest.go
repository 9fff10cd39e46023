// Package storetest makes action jobs in a store for tests the way hookd
// does: through the store's projector, which enqueues a job in the
// transaction that stores its event. It is its own package because the
// store's internal tests import internal/testenv, which therefore cannot
// import the store.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/store"
)

// evaluator enqueues the job its function makes of each event.
type evaluator func(event.Event) actions.Job

func (f evaluator) Evaluate(ctx context.Context, tx *store.Tx, e event.Event) error {
	_, err := tx.Enqueue(ctx, f(e))
	return err
}

// Jobs projects events into st, none of which it holds yet, one at a time,
// each enqueuing the job that job makes of it, and returns once all are
// stored: the jobs' ids then follow the order of events. It fails t when
// an event is not stored within 20 s.
func Jobs(t testing.TB, st *store.Store, events []event.Event, job func(event.Event) actions.Job) {
	t.Helper()
	Project(t, st, events, evaluator(job))
}

// Project projects events into st, none of which it holds yet, one at a
// time, each evaluated by ev in the transaction that stores it, and
// returns once all are stored. It fails t when an event is not stored
// within 20 s.
func Project(t testing.TB, st *store.Store, events []event.Event, ev store.Evaluator) {
	t.Helper()
	ctx := context.Background()
	start, err := st.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pubsub := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, nil)
	defer pubsub.Close()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Run(runCtx, pubsub, ev) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}()
	for i, e := range events {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		msg := message.NewMessage(watermill.NewUUID(), b)
		msg.Metadata.Set(eventlog.DedupKey, e.ID)
		if err := pubsub.Publish(eventlog.TopicEvents, msg); err != nil {
			t.Fatal(err)
		}
		want := start + int64(i) + 1
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			n, err := st.Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d events stored, want %d", n, want)
			}
		}
	}
}
