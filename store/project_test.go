package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/store"
)

// runProjector starts st.Run on sub with opts and returns a function that
// stops it and reports what Run returned.
func runProjector(t *testing.T, st *store.Store, sub message.Subscriber, opts ...store.RunOption) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx, sub, nil, opts...) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after ctx ended")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitFor polls cond until it holds, failing the test after a generous
// bound: the log is consumed asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func eventMessage(t *testing.T, e event.Event) *message.Message {
	t.Helper()
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	msg := message.NewMessage(watermill.NewUUID(), b)
	msg.Metadata.Set(eventlog.DedupKey, e.ID)
	return msg
}

func countIs(t *testing.T, st *store.Store, n int64) func() bool {
	return func() bool {
		got, err := st.Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return got == n
	}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	pubsub := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, nil)
	defer pubsub.Close()

	e1, e2 := ev(1, "sent", "ann@a.com", base), ev(2, "open", "ann@a.com", base.Add(time.Minute))
	q := event.Quarantined{ID: "q-1", Source: "mailjet", Received: base, Error: "bad json", ContentType: "application/json", Body: []byte("{")}
	qb, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(topic string, msgs ...*message.Message) {
		t.Helper()
		if err := pubsub.Publish(topic, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	publish(eventlog.TopicEvents,
		eventMessage(t, e1),
		message.NewMessage(watermill.NewUUID(), []byte("not json")),
		message.NewMessage(watermill.NewUUID(), []byte(`{"type":"open"}`)), // no id
		eventMessage(t, e2),
		eventMessage(t, e1), // redelivered by a replay
	)
	publish(eventlog.TopicQuarantine,
		message.NewMessage(watermill.NewUUID(), qb),
		message.NewMessage(watermill.NewUUID(), []byte(`{"id":`)),
	)

	stop := runProjector(t, st, pubsub)
	// e1, delivered twice, is stored and counted once.
	want := store.ProjectorStats{Events: 2, Quarantined: 1, Duplicates: 1, Undecodable: 3}
	waitFor(t, "the projector", func() bool {
		got := st.ProjectorStats()
		got.Batches = 0 // one or two per message: the topics come one at a time
		return got == want
	})
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if n, err := st.Count(ctx); err != nil || n != 2 {
		t.Fatalf("Count = %d, %v; want 2", n, err)
	}
	got, err := st.Event(ctx, e2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !equalEvents(got, e2) {
		t.Fatalf("Event = %+v, want %+v", got, e2)
	}
	page, err := st.Quarantine(ctx, store.QuarantineQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != "q-1" || string(page.Items[0].Body) != "{" {
		t.Fatalf("Quarantine = %+v", page.Items)
	}
}

// TestRunRetries makes the database refuse an event until a switch is
// cleared, as a transient error would, and checks that the message is nacked,
// delivered again and then stored.
func TestRunRetries(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	st := openStore(t, dir)
	raw, err := sql.Open("sqlite", filepath.Join(dir, store.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TABLE fail_switch (x INTEGER);
		INSERT INTO fail_switch VALUES (1);
		CREATE TRIGGER fail_insert BEFORE INSERT ON events WHEN EXISTS (SELECT 1 FROM fail_switch)
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END;`); err != nil {
		t.Fatal(err)
	}

	pubsub := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, nil)
	defer pubsub.Close()
	if err := pubsub.Publish(eventlog.TopicEvents, eventMessage(t, ev(1, "open", "a@a.com", base))); err != nil {
		t.Fatal(err)
	}
	runProjector(t, st, pubsub)
	waitFor(t, "a failed attempt", func() bool { return st.ProjectorStats().Failed > 0 })
	if n, err := st.Count(context.Background()); err != nil || n != 0 {
		t.Fatalf("Count = %d, %v; want 0 while failing", n, err)
	}
	// The retries back off: waits of 100, 200, 400 and 800 ms leave room
	// for at most 5 attempts in 1.5 s (a slow machine makes fewer), where
	// retrying at once made hundreds.
	time.Sleep(1500 * time.Millisecond)
	if n := st.ProjectorStats().Failed; n > 6 {
		t.Errorf("%d failed attempts in 1.5 s: the retries do not back off", n)
	}
	if _, err := raw.Exec(`DELETE FROM fail_switch`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the event after retries", countIs(t, st, 1))
}

// TestRunKeepsLogOrder fails the transaction of one event once, while the
// next event of the log is handed out: the SQLite log, whose group holds
// several messages in flight, delivers the failed one again after it, and
// the store must still take them in log order, as the rules decide on what
// came before in the log (the open of a message evaluated before its sent
// finds no sent).
func TestRunKeepsLogOrder(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	first, second := ev(1, "sent", "a@a.com", base), ev(2, "open", "a@a.com", base.Add(time.Minute))
	log := openLog(t)
	sub, err := log.Subscriber(store.Group, eventlog.InFlight(store.Batch))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	appendEvent := func(e event.Event) {
		t.Helper()
		if _, err := log.Append(ctx, eventlog.TopicEvents, []*message.Message{eventMessage(t, e)}); err != nil {
			t.Fatal(err)
		}
	}
	ev := &failOnce{id: first.ID, started: make(chan struct{}), fail: make(chan struct{})}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Run(runCtx, sub, ev) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	appendEvent(first)
	<-ev.started
	appendEvent(second)
	// Long enough for the log to hand the second event out while the
	// first one's transaction runs.
	time.Sleep(300 * time.Millisecond)
	close(ev.fail)
	waitFor(t, "both events", countIs(t, st, 2))
	if got := ev.order(); len(got) != 3 || got[1] != first.ID || got[2] != second.ID {
		t.Errorf("evaluated %v, want %s (failed), then the log's order", got, first.ID)
	}
}

// failOnce is an Evaluator that fails the first evaluation of the event id,
// once fail is closed, having closed started when it began, and records the
// ids it evaluates.
type failOnce struct {
	id            string
	started, fail chan struct{}
	mu            sync.Mutex
	ids           []string
}

func (f *failOnce) Evaluate(_ context.Context, _ *store.Tx, e event.Event) error {
	f.mu.Lock()
	f.ids = append(f.ids, e.ID)
	first := len(f.ids) == 1 && e.ID == f.id
	f.mu.Unlock()
	if !first {
		return nil
	}
	close(f.started)
	<-f.fail
	return errors.New("injected failure")
}

func (f *failOnce) order() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ids)
}

func TestRunReadOnly(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	openStore(t, dir)
	ro, err := store.Open(context.Background(), store.Config{Dir: dir, ReadOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, nil)
	defer pubsub.Close()
	if err := ro.Run(context.Background(), pubsub, nil); err == nil {
		t.Fatal("Run on a read-only store succeeded")
	}
}

func TestRunSubscriberClosed(t *testing.T) {
	st := openStore(t, t.TempDir())
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, nil)
	done := make(chan error, 1)
	go func() { done <- st.Run(context.Background(), pubsub, nil) }()
	// Close may come before Run subscribes; either way Run must end with an
	// error, not hang.
	pubsub.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run = nil after the subscriber closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the subscriber closed")
	}
}

// readySubscriber hands out channels that already hold every message, as a
// log with a large window does when the projector falls behind.
type readySubscriber map[string]chan *message.Message

func (r readySubscriber) Subscribe(_ context.Context, topic string) (<-chan *message.Message, error) {
	ch := r[topic]
	if ch == nil {
		ch = make(chan *message.Message)
	}
	return ch, nil
}

func (r readySubscriber) Close() error { return nil }

// TestRunBatches gives the projector more messages at once than a batch
// holds: it stores them in as few transactions as the batch size allows,
// then acks them all, or nacks them all when the database fails.
func TestRunBatches(t *testing.T) {
	const events, quarantined = 2*store.Batch + 80, 20
	for _, tc := range []struct {
		name string
		fail bool
	}{
		{name: "stored"},
		{name: "database error", fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.fail {
				sqliteOnly(t)
			}
			st := openStore(t, dir)
			if tc.fail {
				raw, err := sql.Open("sqlite", filepath.Join(dir, store.FileName)+"?_pragma=busy_timeout(5000)")
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				if _, err := raw.Exec(`CREATE TRIGGER fail_event BEFORE INSERT ON events
					BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
					CREATE TRIGGER fail_quarantined BEFORE INSERT ON quarantine
					BEGIN SELECT RAISE(ABORT, 'injected failure'); END;`); err != nil {
					t.Fatal(err)
				}
			}
			sub := readySubscriber{
				eventlog.TopicEvents:     make(chan *message.Message, events+1),
				eventlog.TopicQuarantine: make(chan *message.Message, quarantined),
			}
			var all []*message.Message
			for i := range events {
				all = append(all, eventMessage(t, ev(i, "open", "a@x.com", base.Add(time.Duration(i)*time.Second))))
				sub[eventlog.TopicEvents] <- all[i]
			}
			for i := range quarantined {
				qb, err := json.Marshal(event.Quarantined{ID: fmt.Sprintf("q-%d", i), Source: "mailjet", Received: base, Body: []byte("{")})
				if err != nil {
					t.Fatal(err)
				}
				m := message.NewMessage(watermill.NewUUID(), qb)
				all = append(all, m)
				sub[eventlog.TopicQuarantine] <- m
			}
			bad := message.NewMessage(watermill.NewUUID(), []byte("not json"))
			sub[eventlog.TopicEvents] <- bad

			runProjector(t, st, sub)
			for _, m := range all {
				want, other := m.Acked(), m.Nacked()
				if tc.fail {
					want, other = other, want
				}
				select {
				case <-want:
				case <-other:
					t.Fatalf("message %s acked %v, want %v", m.UUID, !tc.fail, tc.fail)
				case <-time.After(20 * time.Second):
					t.Fatalf("message %s neither acked nor nacked", m.UUID)
				}
			}
			select {
			case <-bad.Acked():
			case <-time.After(20 * time.Second):
				t.Fatal("the undecodable message was not acked")
			}

			got := st.ProjectorStats()
			want := store.ProjectorStats{Events: events, Quarantined: quarantined, Undecodable: 1, Batches: 3}
			if tc.fail {
				want = store.ProjectorStats{Undecodable: 1, Failed: events + quarantined}
			}
			if got != want {
				t.Errorf("ProjectorStats = %+v, want %+v", got, want)
			}
			wantCount := int64(events)
			if tc.fail {
				wantCount = 0
			}
			if n, err := st.Count(context.Background()); err != nil || n != wantCount {
				t.Errorf("Count = %d, %v; want %d", n, err, wantCount)
			}
		})
	}
}

// TestRunGivesWay checks GiveWay: the projector stores nothing while busy
// reports true, goes on once it reports false, advances anyway after the
// longest wait when busy never ends, and stops when ctx ends mid-wait.
func TestRunGivesWay(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxWait time.Duration
		release bool // busy turns false once the wait is seen
	}{
		{"until not busy", time.Hour, true},
		{"at most maxWait", 20 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, t.TempDir())
			pubsub := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, nil)
			defer pubsub.Close()
			var busy atomic.Bool
			var asked atomic.Int64
			busy.Store(true)
			stop := runProjector(t, st, pubsub, store.GiveWay(func() bool { asked.Add(1); return busy.Load() }, tc.maxWait))
			if err := pubsub.Publish(eventlog.TopicEvents, eventMessage(t, ev(1, "open", "a@a.com", base))); err != nil {
				t.Fatal(err)
			}
			if tc.release {
				// Many polls later the event is still not stored.
				waitFor(t, "the projector to poll busy", func() bool { return asked.Load() >= 20 })
				if n, err := st.Count(context.Background()); err != nil || n != 0 {
					t.Fatalf("Count = %d, %v while busy; want 0", n, err)
				}
				busy.Store(false)
			}
			waitFor(t, "the event", countIs(t, st, 1))
			if st.ProjectorStats().GaveWay <= 0 {
				t.Fatal("ProjectorStats().GaveWay = 0 after waiting")
			}
			if err := stop(); err != nil {
				t.Fatalf("Run = %v", err)
			}
		})
	}

	t.Run("stops while waiting", func(t *testing.T) {
		st := openStore(t, t.TempDir())
		pubsub := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, nil)
		defer pubsub.Close()
		var asked atomic.Int64
		stop := runProjector(t, st, pubsub, store.GiveWay(func() bool { asked.Add(1); return true }, time.Hour))
		if err := pubsub.Publish(eventlog.TopicEvents, eventMessage(t, ev(1, "open", "a@a.com", base))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the projector to poll busy", func() bool { return asked.Load() >= 5 })
		if err := stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if n, err := st.Count(context.Background()); err != nil || n != 0 {
			t.Fatalf("Count = %d, %v; want 0: it was busy all along", n, err)
		}
	})
}
