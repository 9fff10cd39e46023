package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	exprast "github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/hookd/hookd/event"
)

// State is the view of the event log that last and count read. The store
// implements it; the rules engine passes it to Eval.
//
// Every answer is as of the event e: an implementation looks only at events
// that came before e in the log (never e itself, whose ID it may already
// hold, nor anything after it) and whose Time is not after e.Time. Evaluating
// the same log again therefore gets the same answers. field is one of email,
// domain, message_id, campaign or source, and an event matches when its
// value of field equals e's; Eval never asks about an empty value.
//
// An error means the answer is unknown, not that there is none: Eval fails
// and the caller evaluates the event again later. Methods may be called
// concurrently by concurrent Evals; they should give up when ctx ends.
type State interface {
	// Last returns the matching event of type typ with the latest Time,
	// the later in the log of two with the same Time, or nil and no error
	// when there is none.
	Last(ctx context.Context, e event.Event, typ, field string) (*event.Event, error)
	// Count returns how many matching events of type typ have a Time after
	// e.Time minus window and not after e.Time.
	Count(ctx context.Context, e event.Event, typ, field string, window time.Duration) (int, error)
}

// Match is the outcome of one rule on one event.
type Match struct {
	// Rule is the rule.
	Rule *Rule
	// Key is the once key, "" when the rule has no once. It is unique per
	// rule only: the caller keys its once and cooldown state by the rule's
	// name and Key.
	Key string
	// Actions are the rule's actions with their parameters rendered for
	// the event, in order.
	Actions []Rendered
	// Err, when set, is an *Error: the rule failed on this event (its when
	// or once failed to run, or a parameter did not render), so it neither
	// fired nor did not. Evaluating the event again fails the same way; the
	// caller reports it and goes on. Key and Actions are then unset.
	Err error
	// Why, set by Explain only, says why the rule did not match: the
	// first condition of its when that was false and the values it saw,
	// as in `since(last("sent", "message_id").time) < duration("24h") is
	// false: since(...) = 26h3m`.
	Why string
	// Condition is, when Why is set, that condition as written (see
	// Rule.Conditions), and CondIndex its index in Rule.Conditions (-1
	// when none could be told apart, Condition being then the whole when).
	Condition string
	CondIndex int
	// Saw is, when Why is set, the values the condition saw:
	// "since(...) = 26h3m", "count(\"blocked\", \"domain\", \"15m\") = 2, ...".
	Saw string
}

// Rendered is an action with its parameters rendered for one event.
type Rendered struct {
	// Action is the action of the rule.
	Action *Action
	// Params are its parameters, each template executed: strings, int64,
	// uint64, float64, bool and nil leaves in map[string]any and []any.
	Params map[string]any
}

// evalMode says which rules eval reports on.
type evalMode int

const (
	// matchesOnly reports the rules that matched or failed.
	matchesOnly evalMode = iota
	// everyRule reports every rule of the set, with why it did not match.
	everyRule
	// candidates reports every rule that could match the event's type,
	// with why it did not match; the others did not by their guard.
	candidates
)

// Eval evaluates every rule of s on e, in order, and returns a Match for each
// rule that matched, and one with Err set for each rule that failed on e.
// It keeps no state: once and cooldown are for the caller to apply, with
// Rule.Cooldown and Match.Key.
//
// Eval fails, returning no matches, when st fails (or is nil and a rule
// calls last or count) or ctx ends: the caller evaluates e again later.
// It is safe for concurrent use.
func (s *Set) Eval(ctx context.Context, e event.Event, st State) ([]Match, error) {
	return s.eval(ctx, &e, st, matchesOnly)
}

// Explain is Eval reporting on every rule: it returns one Match per rule of
// s, in order, those that did not match with Why set.
func (s *Set) Explain(ctx context.Context, e event.Event, st State) ([]Match, error) {
	return s.eval(ctx, &e, st, everyRule)
}

func (s *Set) eval(ctx context.Context, e *event.Event, st State, mode evalMode) ([]Match, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluate rules on event %s: %w", e.ID, err)
	}
	explain := mode != matchesOnly
	x := s.candidates(e.Type)
	rules := x.rules
	if mode == everyRule {
		rules = s.rules
	}
	if len(rules) == 0 {
		return nil, nil
	}
	ev := evaluations.Get().(*evaluation)
	defer ev.release()
	// Rules the index leaves out cannot match e: Eval runs the others
	// only, and an explanation of candidates says which comparison
	// excluded them.
	var selected []int
	if mode != everyRule {
		ev.positions, ev.selected = x.selectFor(e, ev.positions, ev.selected)
		if mode == matchesOnly {
			rules = ev.selected
		} else {
			selected = ev.positions
		}
	}
	if len(rules) == 0 {
		return nil, nil
	}
	ev.bind(ctx, e, st, s.names)
	ev.priorData = s.priorData
	var matches []Match
	for i, r := range rules {
		if explain && !r.admits(e.Type) {
			matches = append(matches, guardFalse(r, e.Type))
			continue
		}
		if mode == candidates {
			if len(selected) == 0 || selected[0] != i {
				matches = append(matches, fieldGuardFalse(r, e))
				continue
			}
			selected = selected[1:]
		}
		m, err := ev.rule(r)
		if err != nil {
			return nil, fmt.Errorf("evaluate rule %q on event %s: %w", r.Name, e.ID, err)
		}
		if m.Why != "" {
			if !explain {
				continue
			}
			if m.CondIndex, m.Condition, m.Saw, err = ev.whyFalse(r); err != nil {
				return nil, fmt.Errorf("evaluate rule %q on event %s: %w", r.Name, e.ID, err)
			}
			m.Why = m.Condition + " is false: " + m.Saw
		}
		matches = append(matches, m)
	}
	return matches, nil
}

// guardFalse is the Match of rule r on an event of a type r's guard does
// not admit: its first condition, the guard, is false.
func guardFalse(r *Rule, typ string) Match {
	m := Match{Rule: r, CondIndex: 0, Saw: "type = " + strconv.Quote(typ)}
	if conds := r.conditions(); len(conds) > 0 {
		m.Condition = conds[0].text
	}
	m.Why = m.Condition + " is false: " + m.Saw
	return m
}

// fieldGuardFalse is the Match of rule r, which the index left out for
// event e: the comparison of its field guard is false.
func fieldGuardFalse(r *Rule, e *event.Event) Match {
	g := r.fieldGuard
	m := Match{Rule: r, CondIndex: g.cond, Saw: g.field + " = " + strconv.Quote(stringFields[g.field](e))}
	if conds := r.conditions(); g.cond < len(conds) {
		m.Condition = conds[g.cond].text
	}
	m.Why = m.Condition + " is false: " + m.Saw
	return m
}

// prior is an earlier event as an expression sees it: what last returns.
type prior struct {
	ID        string         `expr:"id"`
	Source    string         `expr:"source"`
	Provider  string         `expr:"provider"`
	Type      string         `expr:"type"`
	Time      time.Time      `expr:"time"`
	Email     string         `expr:"email"`
	Domain    string         `expr:"domain"`
	MessageID string         `expr:"message_id"`
	Campaign  string         `expr:"campaign"`
	Category  string         `expr:"category"`
	Bounce    string         `expr:"bounce_class"`
	Data      map[string]any `expr:"data"`
}

// sinceFunc is the type of since in the environment.
type sinceFunc = func(t time.Time) time.Duration

// evaluationName is the environment's name for the evaluation, which no
// expression can write: stateCalls gives it to last and count.
const evaluationName = "\x00evaluation"

// stateFunctions make last and count functions of expr taking the
// evaluation first, which stateCalls adds to every call: expr calls such a
// function directly, where it calls a function of the environment of
// another signature than its few through reflection, which cost a fifth
// of a backtest's evaluation. Type checking and its messages are the same,
// the evaluation's argument being always right.
var stateFunctions = []expr.Option{
	expr.Function("last", func(args ...any) (any, error) {
		ev := args[0].(*evaluation)
		typ, ok1 := args[1].(string)
		field, ok2 := args[2].(string)
		if !ok1 || !ok2 {
			return nil, stateArgError("last", args[1:], "type", "field")
		}
		return ev.last(ev.ctx, typ, field)
	}, new(func(*evaluation, string, string) (*prior, error))),
	expr.Function("count", func(args ...any) (any, error) {
		ev := args[0].(*evaluation)
		typ, ok1 := args[1].(string)
		field, ok2 := args[2].(string)
		window, ok3 := args[3].(string)
		if !ok1 || !ok2 || !ok3 {
			return nil, stateArgError("count", args[1:], "type", "field", "window")
		}
		return ev.count(ev.ctx, typ, field, window)
	}, new(func(*evaluation, string, string, string) (int, error))),
	expr.Patch(stateCalls{}),
}

// stateArgError is the error of a call of last or count (fn) whose
// arguments, named names, are not all strings: one given by the event's
// data, which the type check lets through, such as count("sent", "email",
// data.window) of an event without a window.
func stateArgError(fn string, args []any, names ...string) error {
	for i, a := range args {
		if _, ok := a.(string); !ok {
			return fmt.Errorf("%s: its %s is %s, want a string", fn, names[i], describe(a))
		}
	}
	return nil
}

// stateCalls adds the evaluation as first argument to the calls of last
// and count.
type stateCalls struct{}

func (stateCalls) Visit(n *exprast.Node) {
	c, ok := (*n).(*exprast.CallNode)
	if !ok || !isStateCall(c) {
		return
	}
	if len(c.Arguments) > 0 && isIdent(c.Arguments[0], evaluationName) {
		return
	}
	arg := &exprast.IdentifierNode{Value: evaluationName}
	arg.SetLocation(c.Location())
	c.Arguments = append([]exprast.Node{arg}, c.Arguments...)
}

// schema is the expression environment's names with values of their types,
// for type checking. At run time each evaluation fills a map of the same
// names (those its rules read, see bind) rather than a struct with expr tags: expr reads a map[string]any
// environment with one map lookup, a struct field through reflection and an
// allocation. Measured on 100 rules of two comparisons each, 9.0 µs on a
// map against 13.9 µs on a struct.
var schema = map[string]any{
	"id":           "",
	"source":       "",
	"provider":     "",
	"type":         "",
	"time":         time.Time{},
	"email":        "",
	"domain":       "",
	"message_id":   "",
	"campaign":     "",
	"category":     "",
	"bounce_class": "",
	"data":         map[string]any(nil),
	"since":        sinceFunc(nil),
	evaluationName: (*evaluation)(nil),
}

// evaluation is the scratch space of one Eval; evaluations are pooled.
type evaluation struct {
	env map[string]any
	vm  vm.VM
	// ctx is the Eval's, for last and count, which expr calls with the
	// evaluation only.
	ctx context.Context

	e  *event.Event
	st State
	// stateErr is the first failure of st: it fails the Eval whatever the
	// expression made of it.
	stateErr error

	data      map[string]any
	dataErr   error
	dataReady bool
	tmplData  map[string]any

	// priorData has the (type, field) pairs whose last must decode the
	// data of the event it returns, nil for all (Set.priorData).
	priorData map[[2]string]bool

	// lasts and counts are the answers of last and count on the event,
	// few enough to look up in order.
	lasts []lastAnswer
	// priors keeps the data of events last returned, decoded, by id,
	// across the evaluations of this scratch space: consecutive events
	// often find the same earlier one (the last send to a domain). It
	// is bounded by priorsMax; expressions and templates never modify a
	// decoded map.
	priors map[string]map[string]any
	counts []countAnswer

	// positions and selected are the scratch space of index.selectFor.
	positions []int
	selected  []*Rule
}

var evaluations = sync.Pool{New: func() any { return newEvaluation() }}

func newEvaluation() *evaluation {
	ev := &evaluation{
		env:    make(map[string]any, len(schema)),
		priors: map[string]map[string]any{},
	}
	ev.env["since"] = sinceFunc(func(t time.Time) time.Duration { return ev.e.Time.Sub(t) })
	ev.env[evaluationName] = ev
	return ev
}

// eventNames are the environment's names for the event's fields.
var eventNames = [...]struct {
	name  string
	value func(e *event.Event) any
}{
	{"id", func(e *event.Event) any { return e.ID }},
	{"source", func(e *event.Event) any { return e.Source }},
	{"provider", func(e *event.Event) any { return e.Provider }},
	{"type", func(e *event.Event) any { return e.Type }},
	{"time", func(e *event.Event) any { return e.Time }},
	{"email", func(e *event.Event) any { return e.Email }},
	{"domain", func(e *event.Event) any { return e.Domain }},
	{"message_id", func(e *event.Event) any { return e.MessageID }},
	{"campaign", func(e *event.Event) any { return e.Campaign }},
	{"category", func(e *event.Event) any { return string(e.Category) }},
	{"bounce_class", func(e *event.Event) any { return string(e.BounceClass) }},
}

// names is a set of eventNames, by index.
type names uint16

// allNames has every name of eventNames.
const allNames = names(1)<<len(eventNames) - 1

// namesOf returns the eventNames that when or once of rules may read.
func namesOf(rules []*Rule) names {
	f := &nameFinder{}
	for _, r := range rules {
		for _, p := range []*program{r.when, r.once} {
			if p != nil {
				exprast.Walk(&p.tree.Node, f)
			}
		}
	}
	return f.names
}

type nameFinder struct{ names names }

func (f *nameFinder) Visit(n *exprast.Node) {
	id, ok := (*n).(*exprast.IdentifierNode)
	if !ok {
		return
	}
	if id.Value == "$env" {
		f.names = allNames
		return
	}
	for i, en := range eventNames {
		if en.name == id.Value {
			f.names |= 1 << i
		}
	}
}

// bind prepares ev to evaluate rules on e, whose expressions read the
// event's names in used only: the others keep the values of an earlier
// event, which no one reads, rather than cost an allocation each.
func (ev *evaluation) bind(ctx context.Context, e *event.Event, st State, used names) {
	ev.ctx, ev.e, ev.st = ctx, e, st
	env := ev.env
	for i, en := range eventNames {
		if used&(1<<i) != 0 {
			env[en.name] = en.value(e)
		}
	}
	env["data"] = map[string]any(nil)
}

// release clears ev of the event and returns it to the pool.
func (ev *evaluation) release() {
	ev.ctx, ev.e, ev.st, ev.stateErr = nil, nil, nil, nil
	ev.data, ev.dataErr, ev.dataReady, ev.tmplData = nil, nil, false, nil
	ev.env["data"] = map[string]any(nil)
	clear(ev.lasts) // no prior kept alive by the pool
	ev.lasts, ev.counts = ev.lasts[:0], ev.counts[:0]
	clear(ev.selected) // no Set kept alive by the pool
	ev.priorData = nil
	evaluations.Put(ev)
}

// rule evaluates r. Its error is a failure of the state, which fails the
// whole evaluation; a failure of the rule itself is Match.Err.
func (ev *evaluation) rule(r *Rule) (Match, error) {
	m := Match{Rule: r}
	if r.usesData {
		if err := ev.loadData(); err != nil {
			m.Err = ev.dataError(r, err)
			return m, nil
		}
	}
	if r.native != nil {
		if !r.native(ev.e) {
			m.Why = "when was false" // eval tells which part when explaining
			return m, nil
		}
	} else {
		// Eval runs a guarded rule on events of the types it admits only.
		when := r.when.prog
		if r.admitted != nil {
			when = r.admitted
		}
		out, err := ev.vm.Run(when, ev.env)
		if ev.stateErr != nil {
			return m, ev.stateErr
		}
		if err != nil {
			m.Err = r.when.runtimeError(r, "when", err)
			return m, nil
		}
		if ok, _ := out.(bool); !ok {
			m.Why = "when was false" // eval tells which part when explaining
			return m, nil
		}
	}
	if r.once != nil {
		out, err := ev.vm.Run(r.once.prog, ev.env)
		if ev.stateErr != nil {
			return m, ev.stateErr
		}
		if err != nil {
			m.Err = r.once.runtimeError(r, "once", err)
			return m, nil
		}
		key, _ := out.(string)
		if key == "" {
			m.Err = r.once.runtimeError(r, "once", fmt.Errorf("once gave %s, want a non-empty string", describe(out)))
			return m, nil
		}
		m.Key = key
	}
	if r.rendersData {
		if err := ev.loadData(); err != nil {
			m.Err, m.Key = ev.dataError(r, err), ""
			return m, nil
		}
	}
	data := &tmplData{e: ev.e, ev: ev}
	m.Actions = make([]Rendered, len(r.Actions))
	for i, a := range r.Actions {
		p, err := a.params.render(data)
		if err != nil {
			var re *renderError
			errors.As(err, &re)
			at, msg := re.p.templateError(re.err)
			m.Err = &Error{File: r.File, Line: at.line, Column: at.col, Rule: r.Name, Field: re.p.field, Err: errors.New(msg)}
			m.Key, m.Actions = "", nil
			return m, nil
		}
		params := p.(map[string]any)
		if a.check != nil {
			if err := a.check(params, ev.e.Email); err != nil {
				field := fmt.Sprintf("actions[%d].%s", a.Index, a.Type)
				var pe *ParamError
				if errors.As(err, &pe) {
					field, err = joinPath(field, pe.Param), pe.Err
				}
				m.Err = &Error{File: r.File, Line: a.Line, Rule: r.Name, Field: field, Err: err}
				m.Key, m.Actions = "", nil
				return m, nil
			}
		}
		m.Actions[i] = Rendered{Action: a, Params: params}
	}
	return m, nil
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case string:
		return `""`
	default:
		return fmt.Sprintf("%T", v)
	}
}

// loadData decodes the event's data, once, and puts it in the environment.
func (ev *evaluation) loadData() error {
	if !ev.dataReady {
		ev.dataReady = true
		ev.data, ev.dataErr = decodeData(ev.e.Data)
		ev.env["data"] = ev.data
	}
	return ev.dataErr
}

func (ev *evaluation) dataError(r *Rule, err error) *Error {
	return &Error{File: r.File, Line: r.Line, Rule: r.Name, Err: fmt.Errorf("event %s: %w", ev.e.ID, err)}
}

// tmplData is what templates render: the event, and as text/template sees
// it, a map made on first use, which simple templates do without.
type tmplData struct {
	e  *event.Event
	ev *evaluation
}

func (d *tmplData) asMap() map[string]any { return d.ev.templateData() }

// templateData returns the event as templates see it, with its data if it
// has been loaded.
func (ev *evaluation) templateData() map[string]any {
	if ev.tmplData == nil {
		e := ev.e
		ev.tmplData = map[string]any{
			"id":           e.ID,
			"source":       e.Source,
			"provider":     e.Provider,
			"type":         e.Type,
			"time":         timestamp{e.Time},
			"email":        e.Email,
			"domain":       e.Domain,
			"message_id":   e.MessageID,
			"campaign":     e.Campaign,
			"category":     string(e.Category),
			"bounce_class": string(e.BounceClass),
		}
	}
	ev.tmplData["data"] = ev.data
	return ev.tmplData
}

// timestamp is a time as a template prints it: RFC 3339, like the API's
// JSON. Its time.Time methods work in templates ({{ .time.Unix }}).
type timestamp struct{ time.Time }

// String returns t in RFC 3339 with as many fractional digits as it needs.
func (t timestamp) String() string { return t.Format(time.RFC3339Nano) }

// last implements last(typ, field).
func (ev *evaluation) last(ctx context.Context, typ, field string) (*prior, error) {
	v, ok := fieldValue(ev.e, field)
	if !ok {
		return nil, fmt.Errorf("last: unknown field %q: want %s", field, stateFields)
	}
	if v == "" {
		return nil, nil
	}
	for _, a := range ev.lasts {
		if a.typ == typ && a.field == field {
			return a.p, nil
		}
	}
	if err := ev.ready(); err != nil {
		return nil, err
	}
	e, err := ev.st.Last(ctx, *ev.e, typ, field)
	if err != nil {
		return nil, ev.fail(fmt.Errorf("last(%q, %q): %w", typ, field, err))
	}
	var p *prior
	if e != nil {
		decode := ev.priorData == nil || ev.priorData[[2]string{typ, field}]
		data, ok := ev.priors[e.ID]
		switch {
		case ok:
		case !decode && isObject(e.Data):
			// No rule reads it: it only has to decode, as it would.
		default:
			var err error
			if data, err = decodeData(e.Data); err != nil {
				return nil, ev.fail(fmt.Errorf("last(%q, %q): event %s: %w", typ, field, e.ID, err))
			}
			if decode {
				if len(ev.priors) >= priorsMax {
					clear(ev.priors)
				}
				ev.priors[e.ID] = data
			} else {
				data = nil
			}
		}
		p = &prior{ID: e.ID, Source: e.Source, Provider: e.Provider, Type: e.Type, Time: e.Time,
			Email: e.Email, Domain: e.Domain, MessageID: e.MessageID, Campaign: e.Campaign,
			Category: string(e.Category), Bounce: string(e.BounceClass), Data: data}
	}
	ev.lasts = append(ev.lasts, lastAnswer{typ, field, p})
	return p, nil
}

type lastAnswer struct {
	typ, field string
	p          *prior
}

type countAnswer struct {
	typ, field, window string
	n                  int
}

// priorsMax bounds evaluation.priors.
const priorsMax = 512

// count implements count(typ, field, window).
func (ev *evaluation) count(ctx context.Context, typ, field, window string) (int, error) {
	v, ok := fieldValue(ev.e, field)
	if !ok {
		return 0, fmt.Errorf("count: unknown field %q: want %s", field, stateFields)
	}
	for _, a := range ev.counts {
		if a.typ == typ && a.field == field && a.window == window {
			return a.n, nil // its window parsed, and v is not empty
		}
	}
	w, err := parseWindow(window)
	if err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	if v == "" {
		return 0, nil
	}
	if err := ev.ready(); err != nil {
		return 0, err
	}
	n, err := ev.st.Count(ctx, *ev.e, typ, field, w)
	if err != nil {
		return 0, ev.fail(fmt.Errorf("count(%q, %q, %q): %w", typ, field, window, err))
	}
	ev.counts = append(ev.counts, countAnswer{typ, field, window, n})
	return n, nil
}

// errNoState is the failure of a state function called with no State.
var errNoState = errors.New("no state to answer last or count")

// ready fails when the state has failed before or there is none.
func (ev *evaluation) ready() error {
	if ev.st == nil {
		return ev.fail(errNoState)
	}
	return ev.stateErr
}

func (ev *evaluation) fail(err error) error {
	if ev.stateErr == nil {
		ev.stateErr = err
	}
	return err
}

// decodeData decodes an event's data, a JSON object, keeping integers
// exact: an integral number that fits becomes an int, any other a float64.
// Empty or null data is a nil map.
func decodeData(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode data: %w", err)
	}
	for k, v := range m {
		m[k] = number(v)
	}
	return m, nil
}

// isObject tells whether raw is valid JSON whose value is an object, which
// decodeData decodes without error; it allocates nothing.
func isObject(raw json.RawMessage) bool {
	i := 0
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i < len(raw) && raw[i] == '{' && json.Valid(raw)
}

// number replaces the json.Numbers in v.
func number(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 0); err == nil {
			return int(i)
		}
		f, _ := strconv.ParseFloat(string(v), 64) // a JSON number always parses; ±Inf when too large
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = number(e)
		}
	case []any:
		for i, e := range v {
			v[i] = number(e)
		}
	}
	return v
}
