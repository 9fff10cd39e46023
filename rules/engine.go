package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

var (
	_ store.Evaluator = (*Engine)(nil)
	_ State           = (*store.Tx)(nil)
)

// Engine is the "pipe": it evaluates the rules on every event the store's
// projector stores for the first time, and turns each match into one action
// job per action, written to the store's queue in the projector's
// transaction, so that a crash neither loses nor repeats a decision. It is
// the store.Evaluator that store.Run takes.
//
// For each match of a rule (Set.Eval, with the transaction as State, so
// last and count see the events before this one in the log):
//
//   - a rule with once and no cooldown fires only for the first event of
//     its key, ever (store.Tx.Once);
//   - a rule with a cooldown fires only when it did not fire less than the
//     cooldown before or after the event's time, per once key when it has
//     one (so at most once per cooldown per key), else per rule
//     (store.Tx.Cooldown);
//   - when it fires, each action becomes an actions.Job whose Key is
//     "rule/index/event-id", or "rule/index/once:key" for a rule with once
//     and no cooldown, so that the queue holds one job per key whatever is
//     replayed; its Target is the action kind's (actions.Lookup). A once
//     key longer than 1024 bytes is held, there and by once and cooldown,
//     as "sha256:" and its hex SHA-256 (heldKey).
//
// A rule that fails on the event (Match.Err, which includes parameters
// that Options.Check refused, an action type no package registered,
// parameters that do not encode as JSON) is logged and counted
// in hookd_rule_errors_total, and the other rules go on; only a failure of
// the store fails Evaluate, so that the event is evaluated again.
type Engine struct {
	rules    func() *Set
	logger   *slog.Logger
	m        *engineMetrics
	failures failureLog
}

// NewEngine returns an Engine that evaluates the Set that rules returns
// when each event comes, such as a Watcher's Current. logger nil discards;
// reg nil registers the metrics nowhere.
func NewEngine(rules func() *Set, logger *slog.Logger, reg prometheus.Registerer) (*Engine, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newEngineMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Engine{rules: rules, logger: logger, m: m, failures: failureLog{last: map[string]*failures{}, now: time.Now}}, nil
}

// failureLogEvery is the least time between two lines of a rule's failures
// on events.
const failureLogEvery = time.Minute

// failureLog logs the rules' failures on events (an expression or a
// template that fails on the event's data) so that a rule that fails on
// every event of a burst does not write a line for each: a rule's first
// failure is logged at once, later ones at most once a failureLogEvery,
// each line with how many failures it stands for. hookd_rule_errors_total
// counts every one, and the event's outcome keeps its error.
type failureLog struct {
	mu   sync.Mutex
	last map[string]*failures // by rule
	now  func() time.Time
}

// failures are a rule's failures since its last line.
type failures struct {
	at       time.Time // of the last line
	unlogged int
}

func (f *failureLog) log(logger *slog.Logger, rule, eventID string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	r := f.last[rule]
	if r == nil {
		r = &failures{}
		f.last[rule] = r
	}
	r.unlogged++
	if !r.at.IsZero() && now.Sub(r.at) < failureLogEvery {
		return
	}
	attrs := []any{"rule", rule, "event", eventID, "error", err}
	if r.unlogged > 1 {
		attrs = append(attrs, "failures", r.unlogged, "since", r.at.UTC().Format(time.RFC3339))
	}
	logger.Error("rule failed on an event", attrs...)
	r.at, r.unlogged = now, 0
}

// Ledger keeps what once and cooldown need across events; store.Tx is the
// durable one, and a backtest keeps one in memory. Both methods record a
// firing when they allow it, and allow the same event again (see
// store.Tx.Once and store.Tx.Cooldown).
type Ledger interface {
	Once(ctx context.Context, rule, key, eventID string) (first bool, err error)
	Cooldown(ctx context.Context, rule, key string, at time.Time, window time.Duration, eventID string) (ok bool, err error)
}

var _ Ledger = (*store.Tx)(nil)

// Decision is what a Set decides on one event.
type Decision struct {
	// Outcomes has one entry per rule that could match the event's type
	// (the others did not, by their guard), indexed as in Set.Describe;
	// none with DecideOptions.NoOutcomes.
	Outcomes []store.Outcome
	// Jobs are the jobs of the rules that fired, in rule and action order.
	Jobs []actions.Job
	// Fired are the rules that fired, in order.
	Fired []*Rule
	// Failed are the rules that failed on the event, in order, with
	// outcomes or without.
	Failed []Failure
}

// Failure is a rule's failure on an event: Err says why it neither fired
// nor did not (an *Error, or a parameter the action refused).
type Failure struct {
	Rule *Rule
	Err  error
}

// Evaluate implements store.Evaluator: it evaluates the current rules on e
// and enqueues, in tx, the jobs of the rules that fire, and records why
// each rule did or did not fire (store.Tx.Explain). It fails, and writes
// nothing that will be kept, when the store fails or ctx ends.
func (en *Engine) Evaluate(ctx context.Context, tx *store.Tx, e event.Event) error {
	set := en.rules()
	if set == nil || len(set.rules) == 0 {
		return nil
	}
	d, err := en.Decide(ctx, set, tx, tx, e, DecideOptions{Event: true, Explain: true})
	if err != nil {
		return err
	}
	if _, err := tx.Enqueue(ctx, d.Jobs...); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	return tx.Explain(ctx, set.Describe(), d.Outcomes)
}

// DecideOptions say what Decide makes besides the jobs.
type DecideOptions struct {
	// Event sets each job's Event to the event's JSON, as the queue needs.
	Event bool
	// Explain makes an Outcome for every rule that could match the
	// event's type, rather than for those that matched or failed only.
	Explain bool
	// NoOutcomes leaves Decision.Outcomes empty, for a caller that looks
	// at the jobs and the rules that fired only; with Explain, Explain.
	NoOutcomes bool
}

// Decide evaluates set on e with state st, applies once and cooldown
// through l, and returns the jobs of the rules that fire and the outcome of
// the rules it evaluated; it writes nothing else. A backtest, which only
// looks at the decision, leaves out the options. It fails when st or l
// fails or ctx ends.
func (en *Engine) Decide(ctx context.Context, set *Set, st State, l Ledger, e event.Event, opts DecideOptions) (Decision, error) {
	var d Decision
	mode := matchesOnly
	if opts.Explain {
		mode = candidates
	}
	matches, err := set.eval(ctx, &e, st, mode)
	if err != nil {
		return d, err
	}
	withEvent := opts.Event
	outcomes := opts.Explain || !opts.NoOutcomes
	if outcomes {
		d.Outcomes = make([]store.Outcome, 0, len(matches))
	}
	var eventJSON []byte // e's, made for the first job
	for _, m := range matches {
		name := m.Rule.Name
		out := store.Outcome{Rule: set.pos[m.Rule], Condition: -1}
		if m.Why != "" && m.Err == nil {
			out.Result, out.Condition, out.Detail = store.NoMatch, m.CondIndex, m.Saw
			if outcomes {
				d.Outcomes = append(d.Outcomes, out)
			}
			continue
		}
		err := m.Err
		var jobs []actions.Job
		if err == nil && eventJSON == nil && withEvent {
			eventJSON, err = e.Marshal()
		}
		if err == nil {
			jobs, err = en.jobs(m, e, eventJSON, withEvent)
		}
		if err != nil {
			en.m.errors.WithLabelValues(name).Inc()
			en.failures.log(en.logger, name, e.ID, err)
			d.Failed = append(d.Failed, Failure{m.Rule, err})
			if outcomes {
				out.Result, out.Detail = store.Failed, err.Error()
				d.Outcomes = append(d.Outcomes, out)
			}
			continue
		}
		en.m.matches.WithLabelValues(name).Inc()
		reason, why, err := Hold(ctx, l, m, e)
		if err != nil {
			return Decision{}, fmt.Errorf("rule %q on event %s: %w", name, e.ID, err)
		}
		if reason != "" {
			en.m.skipped.WithLabelValues(name, reason).Inc()
			if outcomes {
				out.Result, out.Detail = store.Held, why
				d.Outcomes = append(d.Outcomes, out)
			}
			continue
		}
		if outcomes {
			out.Result = store.Fired
			d.Outcomes = append(d.Outcomes, out)
		}
		d.Jobs = append(d.Jobs, jobs...)
		d.Fired = append(d.Fired, m.Rule)
	}
	return d, nil
}

// Hold applies once and cooldown through l to m, a match of e that did not
// fail, as the Engine does: a rule with once and no cooldown fires only for
// the first event of its key, and a rule with a cooldown only when it did
// not fire less than the cooldown before or after e's time, per once key
// when it has one. It returns reason "" when the rule fires, l having
// recorded the firing; else "once" or "cooldown", and why in the words of
// an explanation. It fails when l fails.
func Hold(ctx context.Context, l Ledger, m Match, e event.Event) (reason, why string, err error) {
	key := heldKey(m.Key)
	if m.Rule.Once != "" && m.Rule.Cooldown == 0 {
		first, err := l.Once(ctx, m.Rule.Name, key, e.ID)
		if err != nil || first {
			return "", "", err
		}
		return "once", fmt.Sprintf("once key %q fired before", m.Key), nil
	}
	if m.Rule.Cooldown > 0 {
		ok, err := l.Cooldown(ctx, m.Rule.Name, key, e.Time, m.Rule.Cooldown, e.ID)
		if err != nil || ok {
			return "", "", err
		}
		why = "cooldown " + formatDuration(m.Rule.Cooldown) + ": fired less than that from this event's time"
		if m.Key != "" {
			why += fmt.Sprintf(" for once key %q", m.Key)
		}
		return "cooldown", why, nil
	}
	return "", "", nil
}

// maxHeldKey bounds a once key as the Ledger and the job keys hold it.
// PostgreSQL refuses an index entry beyond about 2.7 kB (rule_once's and
// rule_firings' keys, the jobs' keys are indexed), and a once key made of
// the event's data (once: data.url, a click's URL with its tracking
// parameters) can be longer: the transaction of its event would fail on
// every delivery, and the projector would store nothing after it.
const maxHeldKey = 1024

// heldKey returns once key k as the Ledger and the job keys hold it, and a
// job's target as the store holds it: k, or, when k is longer than
// maxHeldKey bytes, "sha256:" and the hex SHA-256 of k, which stands for k
// alone as well. A target is as long as the address an email action
// renders from the event's data.
func heldKey(k string) string {
	if len(k) <= maxHeldKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// jobs returns the jobs of match m on e, whose JSON is eventJSON; their
// parameters and retry policy are written only for the queue (withParams).
func (en *Engine) jobs(m Match, e event.Event, eventJSON []byte, withParams bool) ([]actions.Job, error) {
	suffix := e.ID
	if m.Rule.Once != "" && m.Rule.Cooldown == 0 {
		suffix = "once:" + heldKey(m.Key)
	}
	jobs := make([]actions.Job, len(m.Actions))
	for i, r := range m.Actions {
		a := r.Action
		kind, err := actions.Lookup(a.Type)
		if err != nil {
			return nil, fmt.Errorf("actions[%d]: %w", a.Index, err)
		}
		var (
			params []byte
			retry  string
		)
		if withParams {
			if params, err = json.Marshal(r.Params); err != nil {
				return nil, fmt.Errorf("actions[%d].%s: encode parameters: %w", a.Index, a.Type, err)
			}
			retry = a.Retry.String()
		}
		jobs[i] = actions.Job{
			Key:     m.Rule.Name + "/" + strconv.Itoa(a.Index) + "/" + suffix,
			Rule:    m.Rule.Name,
			Index:   a.Index,
			Action:  a.Type,
			Target:  heldKey(kind.Target(r.Params)),
			Params:  params,
			Retry:   retry,
			EventID: e.ID,
			Event:   eventJSON,
		}
	}
	return jobs, nil
}

// engineMetrics are the Engine's Prometheus collectors. They count
// evaluations: a batch the projector retries after a store failure is
// counted again.
type engineMetrics struct {
	matches, errors, skipped *prometheus.CounterVec
}

func newEngineMetrics(reg prometheus.Registerer) (*engineMetrics, error) {
	m := &engineMetrics{
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_rule_matches_total",
			Help: "Events a rule matched, by rule; those held back by once or cooldown are also in hookd_rule_skipped_total, the others made jobs.",
		}, []string{"rule"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_rule_errors_total",
			Help: "Events a rule failed on (an expression or template error, an unknown action), by rule: it neither fired nor did not.",
		}, []string{"rule"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_rule_skipped_total",
			Help: "Matches that made no job, by rule and reason: once (the key fired before) or cooldown.",
		}, []string{"rule", "reason"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.matches, m.errors, m.skipped} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register rule engine metrics: %w", err)
			}
		}
	}
	return m, nil
}
