// Package backtest runs the stored events through a rule set as the live
// engine would have, each event as of its time, without running or queueing
// any action, and compares what the rules would have fired with what the
// job queue records that the live rules fired.
//
// It keeps the rule state in memory while it streams the store's events in
// log order (per type and field value, the sorted times of the events,
// and for the pairs that last names the latest few events whole, encoded
// where the garbage collector need not follow them; once keys and cooldown
// firings), since asking the database for
// every last and count costs tens of microseconds an event. An older event,
// which an event out of time order may ask last for, is read from the
// store. It is a package of its own because it joins rules (the engine's
// decisions) and store (the events and the job queue) and belongs to
// neither.
package backtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/rules"
	"github.com/hookd/hookd/store"
)

// Options tune Run.
type Options struct {
	// Since and Until bound the events reported on, by event time: Since
	// included, Until excluded, zero for no bound. Every stored event is
	// evaluated whatever the bounds, so that once and cooldown see the
	// firings before the range as the live engine did.
	Since, Until time.Time
	// Samples is how many event ids a rule's added and removed matches
	// show; default 5.
	Samples int
	// Progress, when set, is called after each batch of events with how
	// many have been read and how many there are, from the goroutine that
	// called Run; evaluation trails reading by a few batches.
	Progress func(done, total int64)
	// Workers is how many goroutines evaluate, each on a share of the
	// rules (and each keeping the state its rules need), beside the
	// goroutine reading the store; default GOMAXPROCS. Reading takes
	// less than evaluating: on 2 cores, 2 workers and the reader keep
	// both busy, where 1 worker leaves the reader's core half idle.
	Workers int
}

// Report is what Run found.
type Report struct {
	// Events is how many stored events were evaluated, and InRange how
	// many of them were in [Since, Until).
	Events  int64 `json:"events"`
	InRange int64 `json:"in_range"`
	// Rules has the new set's rules in order, then the rules the job queue
	// records firings of that the new set does not have, by name.
	Rules []RuleReport `json:"rules"`
}

// RuleReport compares one rule's firings on the events in range.
type RuleReport struct {
	Rule string `json:"rule"`
	// New tells whether the rule is in the new set.
	New bool `json:"new"`
	// Live is how many events the job queue records the rule fired on,
	// Backtest how many the new rules fire it on.
	Live     int `json:"live"`
	Backtest int `json:"backtest"`
	// Added are the events the new rules fire it on and the live rules did
	// not, Removed the reverse; the samples are the first event ids of
	// each, in log order.
	Added          int      `json:"added"`
	Removed        int      `json:"removed"`
	AddedSamples   []string `json:"added_samples"`
	RemovedSamples []string `json:"removed_samples"`
	// Actions are the jobs the new rules would have queued for the rule,
	// by action type and target.
	Actions []ActionCount `json:"actions"`
	// Failed is how many events in range the rule failed on (an
	// expression or a template that does not work on the event's data),
	// which it neither fires on nor not, as live; FirstFailure is the
	// first of them, in log order, and its error.
	Failed       int      `json:"failed,omitempty"`
	FirstFailure *Failure `json:"first_failure,omitempty"`
}

// Failure is a rule's failure on one event.
type Failure struct {
	Event string `json:"event"`
	Error string `json:"error"`
}

// ActionCount counts the jobs of one action type and target.
type ActionCount struct {
	Action string `json:"action"`
	Target string `json:"target"`
	Jobs   int    `json:"jobs"`
}

// Run evaluates set on every event of st, in log order, each as of its own
// time, and reports per rule what it fires on the events in range against
// what the job queue records. It reads st only, and may run while a
// server writes to it: it sees the events stored when it started.
//
// Its decisions are the live engine's (rules.Engine.Decide, with state and
// once and cooldown kept in memory with the semantics of store.Tx), so
// that a backtest of the rules that ran live reports no difference.
func Run(ctx context.Context, st *store.Store, set *rules.Set, opts Options) (*Report, error) {
	if opts.Samples <= 0 {
		opts.Samples = 5
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var total int64 // for the progress only
	if opts.Progress != nil {
		var err error
		if total, _, err = st.CountEvents(ctx); err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
	}
	// The live firings are needed at the end only: they are read while
	// the events are.
	var (
		live     []store.Firing
		liveErr  error
		liveDone = make(chan struct{})
	)
	go func() {
		defer close(liveDone)
		if live, liveErr = st.Firings(ctx, opts.Since, opts.Until); liveErr != nil {
			cancel(liveErr)
		}
	}()
	lo, hi := int64(minInt64), int64(maxInt64)
	if !opts.Since.IsZero() {
		lo = encodeTime(opts.Since)
	}
	if !opts.Until.IsZero() {
		hi = encodeTime(opts.Until)
	}
	parts, err := split(set, opts.Workers)
	if err != nil {
		cancel(err)
		<-liveDone
		return nil, fmt.Errorf("backtest: %w", err)
	}

	workers := make([]*worker, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		w, err := newWorker(part, st.EventAt, lo, hi)
		if err != nil {
			cancel(err)
			for _, w := range workers[:i] {
				close(w.in)
			}
			wg.Wait()
			<-liveDone
			return nil, fmt.Errorf("backtest: %w", err)
		}
		workers[i] = w
		wg.Go(func() {
			if err := w.run(ctx); err != nil {
				cancel(err)
			}
		})
	}
	rep := &Report{}
	var lastSeq int64 // of the last event read
	// The events are read here and evaluated by the workers, each on its
	// share of the rules, all in log order.
	err = st.Scan(ctx, 1024, func(b []store.Stored) error {
		for _, w := range workers {
			select {
			case w.in <- b:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		lastSeq = b[len(b)-1].Seq
		for i := range b {
			rep.Events++
			if b[i].TimeNanos >= lo && b[i].TimeNanos < hi {
				rep.InRange++
			}
		}
		if opts.Progress != nil {
			opts.Progress(rep.Events, max(total, rep.Events))
		}
		return nil
	})
	for _, w := range workers {
		close(w.in)
	}
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // a worker's failure, which stopped the scan
	}
	<-liveDone
	if err == nil {
		err = liveErr
	}
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	// A server storing events meanwhile may have fired on events stored
	// after those read.
	live = slices.DeleteFunc(live, func(f store.Firing) bool { return f.Seq > lastSeq })
	fired := map[string][]firing{}
	actions := map[string]map[[2]string]int{}
	failed := map[string]*failures{}
	for _, w := range workers {
		maps.Copy(fired, w.fired)
		maps.Copy(actions, w.actions)
		maps.Copy(failed, w.failed)
	}
	rep.Rules = compare(set, fired, live, actions, opts.Samples)
	for i := range rep.Rules {
		if f := failed[rep.Rules[i].Rule]; f != nil && rep.Rules[i].New {
			rep.Rules[i].Failed, rep.Rules[i].FirstFailure = f.n, &f.first
		}
	}
	return rep, nil
}

// split divides set's rules among at most n sets, round robin: each rule's
// decisions depend on the events and on its own once and cooldown record
// only, so sets of rules can be evaluated apart.
func split(set *rules.Set, n int) ([]*rules.Set, error) {
	all := set.Rules()
	n = max(1, min(n, len(all)))
	names := make([][]string, n)
	for i, r := range all {
		names[i%n] = append(names[i%n], r.Name)
	}
	parts := make([]*rules.Set, n)
	for i := range parts {
		var err error
		if parts[i], err = set.Only(names[i]...); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// worker evaluates a share of the rules on every event, with its own state
// of the events (for the pairs its rules look up) and its own ledger.
type worker struct {
	set     *rules.Set
	en      *rules.Engine
	state   *state
	ledger  *Ledger
	lo, hi  int64
	in      chan []store.Stored
	fired   map[string][]firing
	actions map[string]map[[2]string]int
	failed  map[string]*failures
}

// failures are a rule's failures on the events in range.
type failures struct {
	n     int
	first Failure
}

func newWorker(set *rules.Set, fetch func(context.Context, int64) (event.Event, error), lo, hi int64) (*worker, error) {
	en, err := rules.NewEngine(func() *rules.Set { return set }, nil, nil)
	if err != nil {
		return nil, err
	}
	return &worker{set: set, en: en, state: newState(set, fetch), ledger: NewLedger(), lo: lo, hi: hi,
		in: make(chan []store.Stored, 4), fired: map[string][]firing{}, actions: map[string]map[[2]string]int{},
		failed: map[string]*failures{}}, nil
}

// run evaluates the batches it receives until in closes. The state keeps
// pointers into the batches, which no one modifies.
func (w *worker) run(ctx context.Context) error {
	for b := range w.in {
		if ctx.Err() != nil {
			continue // drain, so that the scan never blocks
		}
		for i := range b {
			s := &b[i]
			e := &s.Event
			w.state.cur, w.state.curTime = e, s.TimeNanos
			d, err := w.en.Decide(ctx, w.set, w.state, w.ledger, *e, rules.DecideOptions{NoOutcomes: true})
			if err != nil {
				return fmt.Errorf("event %s: %w", e.ID, err)
			}
			if s.TimeNanos >= w.lo && s.TimeNanos < w.hi {
				for _, r := range d.Fired {
					w.fired[r.Name] = append(w.fired[r.Name], firing{e.ID, s.Seq})
				}
				for _, f := range d.Failed {
					fs := w.failed[f.Rule.Name]
					if fs == nil {
						fs = &failures{first: Failure{Event: e.ID, Error: f.Err.Error()}}
						w.failed[f.Rule.Name] = fs
					}
					fs.n++
				}
				for _, j := range d.Jobs {
					a := w.actions[j.Rule]
					if a == nil {
						a = map[[2]string]int{}
						w.actions[j.Rule] = a
					}
					a[[2]string{j.Action, j.Target}]++
				}
			}
			w.state.add(e, s.Seq, s.TimeNanos)
		}
	}
	return nil
}

type firing struct {
	id  string
	seq int64
}

// compare builds the per-rule reports.
func compare(set *rules.Set, fired map[string][]firing, live []store.Firing, actions map[string]map[[2]string]int, samples int) []RuleReport {
	liveBy := map[string][]firing{}
	for _, f := range live {
		liveBy[f.Rule] = append(liveBy[f.Rule], firing{f.EventID, f.Seq})
	}
	var out []RuleReport
	report := func(name string, isNew bool) {
		r := RuleReport{Rule: name, New: isNew, Live: len(liveBy[name]), Backtest: len(fired[name]),
			AddedSamples: []string{}, RemovedSamples: []string{}, Actions: []ActionCount{}}
		r.Added, r.AddedSamples = diff(fired[name], liveBy[name], samples)
		r.Removed, r.RemovedSamples = diff(liveBy[name], fired[name], samples)
		for k, n := range actions[name] {
			r.Actions = append(r.Actions, ActionCount{Action: k[0], Target: k[1], Jobs: n})
		}
		slices.SortFunc(r.Actions, func(a, b ActionCount) int {
			return cmp.Or(cmp.Compare(a.Action, b.Action), cmp.Compare(a.Target, b.Target))
		})
		out = append(out, r)
	}
	for _, r := range set.Rules() {
		report(r.Name, true)
	}
	var gone []string
	for name := range liveBy {
		if set.Rule(name) == nil {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	for _, name := range gone {
		report(name, false)
	}
	return out
}

// diff returns how many of a, in log order, are not in b, and the first
// samples of their ids.
func diff(a, b []firing, samples int) (int, []string) {
	in := make(map[string]bool, len(b))
	for _, f := range b {
		in[f.id] = true
	}
	n, ids := 0, []string{}
	for _, f := range a {
		if !in[f.id] {
			n++
			if len(ids) < samples {
				ids = append(ids, f.id)
			}
		}
	}
	return n, ids
}
