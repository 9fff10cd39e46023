package backtest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	_ "github.com/hookd/hookd/actions/log"
	"github.com/hookd/hookd/backtest"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	_ "github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/rules"
	"github.com/hookd/hookd/store"
)

var (
	base  = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	types = []string{"sent", "open", "click", "sent", "bounce", "blocked", "sent", "open", "blocked", "spam", "blocked"}
)

// synthetic is event n of a stream that exercises the rule state: 300
// recipients on 6 domains and 4 campaigns, times mostly rising by 20s, a
// seventh of them 40 minutes late (out of time order in the log) and a
// fifth sharing the time of the one before.
func synthetic(n int) event.Event {
	r := n % 300
	domain := fmt.Sprintf("d%d.example", r%6)
	at := base.Add(time.Duration(n) * 20 * time.Second)
	switch {
	case n%7 == 3:
		at = at.Add(-3 * time.Hour)
	case n%5 == 1:
		at = base.Add(time.Duration(n-1) * 20 * time.Second)
	}
	typ := types[n%len(types)]
	data := fmt.Sprintf(`{"event":%q,"hard_bounce":%t,"ip":%q}`, typ, n%3 == 0, map[bool]string{true: "10.0.0.1", false: ""}[n%4 != 0])
	return event.Event{
		ID: fmt.Sprintf("ev-%05d", n), Source: []string{"mailjet", "other"}[n%2], Provider: "mailjet", Type: typ,
		Time: at, Received: at, Email: fmt.Sprintf("u%d@%s", r, domain), Domain: domain,
		// A message per recipient and day, so that opens find their sent.
		MessageID: fmt.Sprintf("%d-%d", r, n/4000), Campaign: fmt.Sprintf("c%d", n%4),
		Data: []byte(data),
	}
}

func loadRules(t testing.TB, text string) *rules.Set {
	t.Helper()
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{file}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// project appends events to a SQLite log in dir and runs the projector with
// the live engine on set until all are stored; it returns the store, open.
func project(t testing.TB, dir string, events []event.Event, set *rules.Set) *store.Store {
	t.Helper()
	ctx := context.Background()
	log, err := eventlog.Open(ctx, eventlog.Config{Backend: "sqlite", Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	var msgs []*message.Message
	for i, e := range events {
		p, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		m := message.NewMessage(e.ID, p)
		m.Metadata.Set(eventlog.DedupKey, e.ID)
		if msgs = append(msgs, m); len(msgs) == 500 || i == len(events)-1 {
			if _, err := log.Append(ctx, eventlog.TopicEvents, msgs); err != nil {
				t.Fatal(err)
			}
			msgs = nil
		}
	}
	st, err := store.Open(ctx, store.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	en, err := rules.NewEngine(func() *rules.Set { return set }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := log.Subscriber("store", eventlog.InFlight(store.Batch))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Run(runCtx, sub, en) }()
	deadline := time.Now().Add(3 * time.Minute)
	for st.ProjectorStats().Events < uint64(len(events)) {
		if time.Now().After(deadline) {
			t.Fatalf("projected %d events in 3 minutes, want %d", st.ProjectorStats().Events, len(events))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return st
}

func liveRules(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSameAsLive checks that a backtest of the rules that ran live finds
// exactly what they fired, on a stream with events out of time order,
// equal times, once keys, cooldowns, counts and lasts.
func TestSameAsLive(t *testing.T) {
	events := make([]event.Event, 6000)
	for i := range events {
		events[i] = synthetic(i)
	}
	set := loadRules(t, liveRules(t))
	st := project(t, t.TempDir(), events, set)
	rep, err := backtest.Run(context.Background(), st, set, backtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != int64(len(events)) || rep.InRange != rep.Events {
		t.Errorf("evaluated %d events, %d in range, want %d", rep.Events, rep.InRange, len(events))
	}
	for _, r := range rep.Rules {
		t.Logf("%s: live %d, backtest %d", r.Rule, r.Live, r.Backtest)
		if r.Live == 0 {
			t.Errorf("rule %s never fired live: the stream does not exercise it", r.Rule)
		}
		if r.Added != 0 || r.Removed != 0 || r.Live != r.Backtest {
			t.Errorf("rule %s: live %d, backtest %d, added %d %v, removed %d %v",
				r.Rule, r.Live, r.Backtest, r.Added, r.AddedSamples, r.Removed, r.RemovedSamples)
		}
	}
	if len(rep.Rules) != len(set.Rules()) {
		t.Errorf("%d rules reported, want %d", len(rep.Rules), len(set.Rules()))
	}
}

// TestChangedRules checks the differences a changed rule set reports: a
// threshold raised, a rule removed, a rule added, a range.
func TestChangedRules(t *testing.T) {
	events := make([]event.Event, 3000)
	for i := range events {
		events[i] = synthetic(i)
	}
	live := liveRules(t)
	st := project(t, t.TempDir(), events, loadRules(t, live))
	changed := strings.Replace(live, `count("blocked", "campaign", "30m") >= 3`, `count("blocked", "campaign", "30m") >= 5`, 1)
	changed = strings.Replace(changed, "  - name: spam\n", "  - name: spam-all\n", 1)
	if changed == live {
		t.Fatal("the rules did not change")
	}
	since := base.Add(2 * time.Hour)
	until := base.Add(10 * time.Hour)
	rep, err := backtest.Run(context.Background(), st, loadRules(t, changed), backtest.Options{Since: since, Until: until, Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]backtest.RuleReport{}
	for _, r := range rep.Rules {
		got[r.Rule] = r
	}
	if r := got["discount-on-open"]; r.Added != 0 || r.Removed != 0 || r.Live == 0 {
		t.Errorf("unchanged rule: %+v", r)
	}
	if r := got["per-campaign-blocks"]; r.Removed == 0 && r.Added == 0 {
		t.Errorf("rule with a new threshold reports no difference: %+v", r)
	}
	if r := got["spam"]; r.New || r.Backtest != 0 || r.Removed != r.Live || r.Live == 0 || len(r.RemovedSamples) != 2 {
		t.Errorf("removed rule: %+v", r)
	}
	if r := got["spam-all"]; !r.New || r.Live != 0 || r.Added != r.Backtest || r.Added == 0 {
		t.Errorf("added rule: %+v", r)
	}
	if rep.InRange == 0 || rep.InRange >= rep.Events {
		t.Errorf("%d of %d events in range", rep.InRange, rep.Events)
	}
	if a := got["list-cleanup"].Actions; len(a) != 1 || a[0].Action != "log" || a[0].Jobs != 2*got["list-cleanup"].Backtest {
		t.Errorf("list-cleanup actions = %+v", a)
	}
}
