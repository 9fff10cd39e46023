package retention_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	_ "github.com/hookd/hookd/eventlog/nats"
	_ "github.com/hookd/hookd/eventlog/postgres"
	_ "github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/internal/retention"
	"github.com/hookd/hookd/internal/storetest"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/store"
)

// TestRun deletes, in batches, the events older than 90 days from a real
// store and the log messages older than 400 days that the store's group
// processed, and nothing else.
func TestRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// The log stamps its messages with the real time: a clock 500 days
	// ahead puts them beyond 400 days.
	now := time.Now().Add(500 * 24 * time.Hour).Truncate(time.Hour)
	st, err := store.Open(ctx, store.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var events []event.Event
	for i := range 25 {
		// Two a day from 100 days ago: the first 20 are older than 90 days.
		at := now.Add(-100 * 24 * time.Hour).Add(time.Duration(i) * 24 * time.Hour / 2)
		events = append(events, event.Event{ID: fmt.Sprintf("e%02d", i), Source: "s", Provider: "p", Type: "sent", Time: at, Received: at})
	}
	if err := st.Insert(ctx, events...); err != nil {
		t.Fatal(err)
	}
	log, err := eventlog.Open(ctx, eventlog.Config{Backend: "sqlite", Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	var msgs []*message.Message
	for i := range 7 {
		msgs = append(msgs, message.NewMessage(fmt.Sprintf("m%d", i), []byte("{}")))
	}
	if _, err := log.Append(ctx, eventlog.TopicEvents, msgs); err != nil {
		t.Fatal(err)
	}
	// The store's group processes 5 of the 7.
	sub, err := log.Subscriber("store")
	if err != nil {
		t.Fatal(err)
	}
	subCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ch, err := sub.Subscribe(subCtx, eventlog.TopicEvents)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		(<-ch).Ack()
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		retention.Run(runCtx, retention.Config{
			Events: 90 * 24 * time.Hour, Log: 400 * 24 * time.Hour, Batch: 3, Pause: time.Millisecond,
			Now: func() time.Time { return now }, Interval: time.Hour,
		}, st, log, nil)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := st.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := log.(eventlog.Reader).Read(ctx, eventlog.TopicEvents, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 5 && len(recs) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	page, err := st.Events(ctx, store.EventQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 5 || page.Events[4].ID != "e20" {
		t.Errorf("kept %d events, the oldest %v; want the 5 of the last 90 days, from e20", len(page.Events), page.Events)
	}
	recs, err := log.(eventlog.Reader).Read(ctx, eventlog.TopicEvents, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Message.UUID != "m5" {
		t.Errorf("the log kept %d messages, want the 2 the store's group has not processed", len(recs))
	}
}

// TestRunFailed runs retention on a store that was closed: every round's
// deletion fails, is reported to Failed as the store's, and the next round
// tries again.
func TestRunFailed(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	failed := make(chan string, 10)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		retention.Run(runCtx, retention.Config{Events: time.Hour, Interval: 5 * time.Millisecond,
			Failed: func(from string) {
				select {
				case failed <- from:
				default: // the test has read what it needs
				}
			}}, st, nil, nil)
	}()
	defer func() { stop(); <-done }()
	for i := range 2 {
		select {
		case from := <-failed:
			if from != "store" {
				t.Errorf("failure %d reported from %q, want store", i, from)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d failures reported, want 2: one a round", i)
		}
	}
}

// trimCounter is a log that counts what Trim deleted.
type trimCounter struct {
	eventlog.Log
	mu      sync.Mutex
	trimmed int
}

func (c *trimCounter) Trim(ctx context.Context, topic string, before time.Time, limit int) (int, error) {
	n, err := c.Log.Trim(ctx, topic, before, limit)
	c.mu.Lock()
	c.trimmed += n
	c.mu.Unlock()
	return n, err
}

func (c *trimCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trimmed
}

// TestRunLog runs retention.log on each event log backend (postgres and
// nats on the servers of HOOKD_TEST_POSTGRES_DSN and HOOKD_TEST_NATS_URL,
// skipped without them) from two processes' Logs at once, as two replicas
// do: it deletes, in batches, the 5 old messages the store's group
// processed and keeps the 2 appended after, which it has not, and no
// deletion fails.
func TestRunLog(t *testing.T) {
	for _, tc := range []struct {
		backend string
		config  func(t *testing.T) eventlog.Config
	}{
		{"sqlite", func(t *testing.T) eventlog.Config {
			return eventlog.Config{Backend: "sqlite", Dir: t.TempDir()}
		}},
		{"postgres", func(t *testing.T) eventlog.Config {
			return eventlog.Config{Backend: "postgres", DSN: testenv.PostgresSchema(t)}
		}},
		{"nats", func(t *testing.T) eventlog.Config {
			u, prefix := testenv.NATSPrefix(t)
			return eventlog.Config{Backend: "nats", URL: u, Prefix: prefix}
		}},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			ctx := context.Background()
			cfg := tc.config(t)
			open := func() eventlog.Log {
				l, err := eventlog.Open(ctx, cfg, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = l.Close() })
				return l
			}
			l := open()
			appendN := func(from, n int) {
				var msgs []*message.Message
				for i := from; i < from+n; i++ {
					m := message.NewMessage(fmt.Sprintf("m%d", i), []byte("{}"))
					m.Metadata.Set(eventlog.DedupKey, fmt.Sprintf("k%d", i))
					msgs = append(msgs, m)
				}
				if _, err := l.Append(ctx, eventlog.TopicEvents, msgs); err != nil {
					t.Fatal(err)
				}
			}
			appendN(0, 5)
			sub, err := l.Subscriber("store")
			if err != nil {
				t.Fatal(err)
			}
			subCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			ch, err := sub.Subscribe(subCtx, eventlog.TopicEvents)
			if err != nil {
				t.Fatal(err)
			}
			for range 5 {
				select {
				case m := <-ch:
					m.Ack()
				case <-subCtx.Done():
					t.Fatal("the store's group did not receive 5 messages")
				}
			}
			appendN(5, 2)

			// The log stamps its messages with the real time: a clock
			// 500 days ahead puts them beyond 400 days.
			now := time.Now().Add(500 * 24 * time.Hour)
			failed := make(chan string, 10)
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			var wg sync.WaitGroup
			logs := []*trimCounter{{Log: l}, {Log: open()}}
			for _, lc := range logs {
				wg.Go(func() {
					retention.Run(runCtx, retention.Config{
						Log: 400 * 24 * time.Hour, Batch: 2, Pause: time.Millisecond, Interval: 10 * time.Millisecond,
						Now: func() time.Time { return now },
						Failed: func(from string) {
							select {
							case failed <- from:
							default:
							}
						},
					}, nil, lc, nil)
				})
			}
			deadline := time.Now().Add(30 * time.Second)
			for logs[0].count()+logs[1].count() < 5 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			// More rounds, which must find nothing more to delete.
			time.Sleep(100 * time.Millisecond)
			stop()
			wg.Wait()
			if n := logs[0].count() + logs[1].count(); n != 5 {
				t.Errorf("the two replicas deleted %d messages (%d and %d), want the 5 the store's group processed", n, logs[0].count(), logs[1].count())
			}
			select {
			case from := <-failed:
				t.Errorf("a deletion from the %s failed", from)
			default:
			}
			// A retry of a message still there is a duplicate.
			m := message.NewMessage("retry", []byte("{}"))
			m.Metadata.Set(eventlog.DedupKey, "k6")
			if dup, err := l.Append(ctx, eventlog.TopicEvents, []*message.Message{m}); err != nil || !dup[0] {
				t.Errorf("retry of a kept message: dup = %v, %v; want a duplicate", dup, err)
			}
		})
	}
}

// cooldownRule fires a rule with a cooldown of an hour per recipient on
// every event, as the rules engine does for a rule with once and cooldown.
type cooldownRule struct{}

func (cooldownRule) Evaluate(ctx context.Context, tx *store.Tx, e event.Event) error {
	_, err := tx.Cooldown(ctx, "alert", e.Email, e.Time, time.Hour, e.ID)
	return err
}

// TestRunFirings runs retention.events of 10 days with rules whose longest
// cooldown is a day over a store with the firings of 20 days: the firings
// older than 11 days go, in batches, and the others stay, so that they
// still hold back a firing for every event the store keeps.
func TestRunFirings(t *testing.T) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Hour)
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var events []event.Event
	for d := 19; d >= 0; d-- {
		// One a day, from 20 days ago, oldest first, each an hour
		// before a whole number of days ago: none on a horizon.
		at := now.Add(-time.Duration(d)*24*time.Hour - time.Hour)
		events = append(events, event.Event{ID: fmt.Sprintf("e%02d", d), Source: "s", Provider: "p", Type: "blocked",
			Time: at, Received: at, Email: "a@example.com", Domain: "example.com"})
	}
	storetest.Project(t, st, events, cooldownRule{})
	fc := &firingCounter{Store: st}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		retention.Run(runCtx, retention.Config{Events: 10 * 24 * time.Hour, Batch: 3, Pause: time.Millisecond,
			Now: func() time.Time { return now }, Interval: time.Hour,
			Cooldown: func() time.Duration { return 24 * time.Hour }}, fc, nil, nil)
	}()
	// The 9 firings of 11 to 19 days ago go.
	deadline := time.Now().Add(20 * time.Second)
	for fc.count() < 9 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	// What is left: deleting every firing says how many.
	left, err := st.DeleteFiringsBefore(ctx, now.Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if left != 11 {
		t.Errorf("%d firings left, want the 11 of the last 11 days: the events' 10 and a cooldown's", left)
	}
}

// firingCounter is a store that counts what DeleteFiringsBefore deleted.
type firingCounter struct {
	*store.Store
	mu      sync.Mutex
	deleted int
}

func (c *firingCounter) DeleteFiringsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	n, err := c.Store.DeleteFiringsBefore(ctx, before, limit)
	c.mu.Lock()
	c.deleted += n
	c.mu.Unlock()
	return n, err
}

func (c *firingCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deleted
}
