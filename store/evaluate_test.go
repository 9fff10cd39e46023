package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/store"
)

// probe is an Evaluator that asks the state about every event, records the
// answers, and enqueues one job per event. It fails on the event fail
// while failing is set.
type probe struct {
	mu      sync.Mutex
	calls   []string          // event ids, in the order evaluated
	answers map[string]string // event id → "count/last" of the last call
	fail    string
	failing bool
}

var errProbe = errors.New("probe failure")

func (p *probe) Evaluate(ctx context.Context, tx *store.Tx, e event.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, e.ID)
	if p.failing && e.ID == p.fail {
		return errProbe
	}
	n, err := tx.Count(ctx, e, "sent", "email", time.Hour)
	if err != nil {
		return err
	}
	last, err := tx.Last(ctx, e, "sent", "email")
	if err != nil {
		return err
	}
	answer := fmt.Sprintf("%d/", n)
	if last != nil {
		answer += last.ID
	}
	if p.answers == nil {
		p.answers = map[string]string{}
	}
	p.answers[e.ID] = answer
	_, err = tx.Enqueue(ctx, actions.Job{Key: "probe/0/" + e.ID, Rule: "probe", Action: "log", Target: "log", EventID: e.ID})
	return err
}

func (p *probe) setFailing(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failing = on
}

func (p *probe) callsOf(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		if c == id {
			n++
		}
	}
	return n
}

// jobKeys returns the keys of every job in st, sorted.
func jobKeys(t *testing.T, st *store.Store) []string {
	t.Helper()
	page, err := st.Jobs(context.Background(), store.JobQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, j := range page.Jobs {
		keys = append(keys, j.Key)
	}
	slices.Sort(keys)
	return keys
}

// storedIDs returns the ids of the events in st, sorted.
func storedIDs(t *testing.T, st *store.Store) []string {
	t.Helper()
	page, err := st.Events(context.Background(), store.EventQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	got := ids(page.Events)
	slices.Sort(got)
	return got
}

// projectLog appends events to a new SQLite log in one transaction and
// returns a function that starts the projector with ev on it, in group,
// reading through a window of a batch.
func projectLog(t *testing.T, st *store.Store, ev store.Evaluator, events ...event.Event) (project func(group string) (stop func())) {
	t.Helper()
	ctx := context.Background()
	log := openLog(t)
	msgs := make([]*message.Message, len(events))
	seen := map[string]bool{}
	for i, e := range events {
		msgs[i] = eventMessage(t, e)
		if seen[e.ID] {
			// A duplicate that the log lets through, as a replay from
			// another log would.
			msgs[i].Metadata.Set(eventlog.DedupKey, "")
		}
		seen[e.ID] = true
	}
	if _, err := log.Append(ctx, eventlog.TopicEvents, msgs); err != nil {
		t.Fatal(err)
	}
	return func(group string) func() {
		sub, err := log.Subscriber(group, eventlog.InFlight(store.Batch))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- st.Run(ctx, sub, ev) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("Run = %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Error("Run did not return after ctx ended")
				}
				sub.Close()
			})
		}
		t.Cleanup(stop)
		return stop
	}
}

// TestRunEvaluates checks that the projector evaluates each new event in
// log order, in the transaction that stores its batch, each seeing the
// events before it in the log (of its own batch too) and not later in
// time; and that a replay into the same store evaluates nothing again.
func TestRunEvaluates(t *testing.T) {
	st := openStore(t, t.TempDir())
	log := []event.Event{
		ev(1, "sent", "ann@a.com", base),
		ev(2, "sent", "ann@a.com", base.Add(time.Minute)),
		ev(3, "open", "ann@a.com", base.Add(2*time.Minute)),
		ev(4, "sent", "ann@a.com", base.Add(30*time.Minute)), // later in time than ev-005
		ev(5, "open", "ann@a.com", base.Add(3*time.Minute)),
		ev(6, "open", "bob@a.com", base.Add(3*time.Minute)),
		ev(2, "sent", "ann@a.com", base.Add(time.Minute)), // a duplicate the log let through
	}
	p := &probe{}
	project := projectLog(t, st, p, log...)
	stop := project("store")
	acked := func() uint64 { p := st.ProjectorStats(); return p.Events + p.Duplicates }
	waitFor(t, "every event", func() bool { return acked() == uint64(len(log)) })
	stop()

	p.mu.Lock()
	calls, answers := slices.Clone(p.calls), p.answers
	p.mu.Unlock()
	if want := []string{"ev-001", "ev-002", "ev-003", "ev-004", "ev-005", "ev-006"}; !slices.Equal(calls, want) {
		t.Errorf("evaluated %v, want %v: each new event once, in log order", calls, want)
	}
	want := map[string]string{
		"ev-001": "0/",
		"ev-002": "1/ev-001",
		"ev-003": "2/ev-002",
		"ev-004": "2/ev-002",
		"ev-005": "2/ev-002",
		"ev-006": "0/",
	}
	for id, w := range want {
		if answers[id] != w {
			t.Errorf("%s saw count/last %q, want %q", id, answers[id], w)
		}
	}
	keys := jobKeys(t, st)
	if len(keys) != 6 {
		t.Errorf("jobs %v, want one per event", keys)
	}

	// A replay in a new group delivers every message again: the events are
	// in the store, so nothing is evaluated or enqueued again.
	stop = project("replay")
	waitFor(t, "the replay", func() bool { return acked() == 2*uint64(len(log)) })
	stop()
	if got := st.ProjectorStats(); got.Events != 6 || got.Duplicates != uint64(len(log)+1) {
		t.Errorf("after the replay, %d events stored and %d duplicates, want 6 and %d", got.Events, got.Duplicates, len(log)+1)
	}
	if n := len(p.calls); n != 6 {
		t.Errorf("%d evaluations after the replay, want still 6", n)
	}
	if again := jobKeys(t, st); !slices.Equal(again, keys) {
		t.Errorf("jobs after the replay %v, want %v", again, keys)
	}
}

// TestRunEvaluateFails checks crash safety: an evaluation that fails rolls
// back its batch, events and jobs together, and the redelivered batch
// makes each job exactly once.
func TestRunEvaluateFails(t *testing.T) {
	st := openStore(t, t.TempDir())
	var log []event.Event
	for i := range 20 {
		log = append(log, ev(i, []string{"sent", "open"}[i%2], fmt.Sprintf("u%d@a.com", i%3), base.Add(time.Duration(i)*time.Minute)))
	}
	p := &probe{fail: "ev-012", failing: true}
	project := projectLog(t, st, p, log...)
	stop := project("store")
	waitFor(t, "failures", func() bool { return st.ProjectorStats().Failed > 0 && p.callsOf("ev-012") >= 2 })

	// Whatever was committed, it is whole batches before ev-012 with their
	// jobs: never an event without its job, nor a job without its event.
	stored, keys := storedIDs(t, st), jobKeys(t, st)
	if slices.Contains(stored, "ev-012") {
		t.Fatal("the event whose evaluation fails was stored")
	}
	if len(stored) != len(keys) {
		t.Fatalf("%d events stored with %d jobs: %v, %v", len(stored), len(keys), stored, keys)
	}
	for _, id := range stored {
		if !slices.Contains(keys, "probe/0/"+id) {
			t.Errorf("event %s stored without its job", id)
		}
	}

	p.setFailing(false)
	waitFor(t, "every event", func() bool { return len(storedIDs(t, st)) == len(log) })
	stop()
	keys = jobKeys(t, st)
	var want []string
	for _, e := range log {
		want = append(want, "probe/0/"+e.ID)
	}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("jobs %v\nwant %v", keys, want)
	}
}

// categories is an Evaluator that records the category and bounce class
// of each event it evaluates, and of the event last("bounce", "email")
// finds.
type categories struct {
	mu   sync.Mutex
	seen map[string]string // event id → "category/class"
	last map[string]string // event id → "id category/class" of its last bounce
}

func (c *categories) Evaluate(ctx context.Context, tx *store.Tx, e event.Event) error {
	last, err := tx.Last(ctx, e, "bounce", "email")
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[e.ID] = fmt.Sprintf("%s/%s", e.Category, e.BounceClass)
	if last != nil {
		c.last[e.ID] = fmt.Sprintf("%s %s/%s", last.ID, last.Category, last.BounceClass)
	}
	return nil
}

// TestRunEvaluatesLegacyCategory checks that a Mailjet event the log kept
// from before events had a category is evaluated with the category and
// bounce class it is stored under, which a replay, a backtest and last()
// see: a rule on category decides on it live as it does replayed.
func TestRunEvaluatesLegacyCategory(t *testing.T) {
	st := openStore(t, t.TempDir())
	legacy := func(e event.Event, data string) event.Event {
		e.Category, e.Data = "", json.RawMessage(data)
		return e
	}
	log := []event.Event{
		legacy(ev(1, "bounce", "ann@a.com", base), `{"hard_bounce":true}`),
		legacy(ev(2, "bounce", "ann@a.com", base.Add(time.Minute)), `{"hard_bounce":false}`),
		legacy(ev(3, "open", "ann@a.com", base.Add(2*time.Minute)), `{}`),
		ev(4, "bounce", "ann@a.com", base.Add(3*time.Minute)), // a new one: its own category, no class
	}
	c := &categories{seen: map[string]string{}, last: map[string]string{}}
	stop := projectLog(t, st, c, log...)("store")
	waitFor(t, "every event", func() bool { return st.ProjectorStats().Events == uint64(len(log)) })
	stop()

	want := map[string]string{"ev-001": "bounce/hard", "ev-002": "bounce/soft", "ev-003": "open/", "ev-004": "bounce/"}
	page, err := st.Events(context.Background(), store.EventQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Events {
		if got := fmt.Sprintf("%s/%s", e.Category, e.BounceClass); got != want[e.ID] {
			t.Errorf("%s stored as %s, want %s", e.ID, got, want[e.ID])
		}
	}
	check := func(how string) {
		t.Helper()
		c.mu.Lock()
		defer c.mu.Unlock()
		for id, w := range want {
			if got := c.seen[id]; got != w {
				t.Errorf("%s: %s evaluated as %q, stored as %q", how, id, got, w)
			}
		}
		if got, w := c.last["ev-003"], "ev-002 bounce/soft"; got != w {
			t.Errorf("%s: ev-003's last bounce is %q, want %q", how, got, w)
		}
		clear(c.seen)
		clear(c.last)
	}
	check("projected")

	// A rebuild explains the events again as it stores them from the log:
	// those the store held, and those it restores.
	l := openLog(t)
	msgs := make([]*message.Message, len(log))
	for i, e := range log {
		msgs[i] = eventMessage(t, e)
	}
	if _, err := l.Append(context.Background(), eventlog.TopicEvents, msgs); err != nil {
		t.Fatal(err)
	}
	recs, err := l.(eventlog.Reader).Read(context.Background(), eventlog.TopicEvents, 0, 100)
	if err != nil || len(recs) != len(log) {
		t.Fatalf("log holds %d messages (%v), want %d", len(recs), err, len(log))
	}
	held := openStore(t, t.TempDir())
	if err := held.Insert(context.Background(), log...); err != nil {
		t.Fatal(err)
	}
	if _, err := held.Rebuild(context.Background(), l.(eventlog.Reader), c, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	check("rebuilt")
	projected := map[string]int64{eventlog.TopicEvents: recs[len(recs)-1].Offset}
	if _, err := openStore(t, t.TempDir()).Rebuild(context.Background(), l.(eventlog.Reader), c, projected, time.Time{}); err != nil {
		t.Fatal(err)
	}
	check("restored")
}
