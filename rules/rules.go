// Package rules loads hookd's YAML rule files, compiles their expr
// expressions and Go templates once, and evaluates every rule on an event:
// which rules match, with what once key, and with what rendered action
// parameters (Set.Eval, which keeps no state). The Engine applies once and
// cooldown and turns matches into action jobs, in the store's projector
// (see store.Evaluator); running the jobs is package actions' part. A
// Watcher reloads the files when they change.
//
// # Rule files
//
//	rules:
//	  - name: discount-for-early-openers        # unique across all files
//	    description: optional text
//	    when: type == "open" && since(last("sent", "message_id").time) < duration("24h")
//	    once: email + "/" + campaign            # optional
//	    cooldown: 1h                            # optional
//	    actions:
//	      - email: { to: "{{ .email }}", subject: "Your 10% discount" }
//	        retry: "5x10s,5x5m"                 # optional, default "10x30s,10x30m"
//
// A name is letters, digits, '.', '_' and '-', starting with a letter or a
// digit. when and actions are required; an action entry is a one-key mapping
// from the action type to its parameters, with an optional sibling retry.
// ${VAR} in any value is replaced with the environment variable VAR before
// the value is compiled (an unset variable is an error; $${ is a literal
// "${"), so a variable's text becomes part of the expression or template.
// Anchors, aliases and merge keys work as in YAML.
//
// # Expressions
//
// when (a boolean) and once (a string) are expr-lang expressions over the
// event: id, source, provider, type, time (a time.Time), email, domain,
// message_id, campaign and data (the provider's object as a map; its
// integral numbers are ints, so that Mailjet's 17-digit MessageID stays
// exact, other numbers float64). Besides expr's built-in functions, a rule
// may call:
//
//   - last(type, field): the latest earlier event of that type whose field
//     (email, domain, message_id, campaign or source) equals this event's,
//     or nil; its fields have the same names (last(...).time, .data.url).
//   - count(type, field, window): how many events of that type with this
//     event's field value happened within window (such as "15m") before it.
//   - since(t): the duration from t to this event's time.
//
// Time in a rule is the event's time: expr's now() is disabled, date()
// parses in UTC, and last and count see only what the log held before the
// event (see State). Evaluating the same log again therefore decides the
// same way.
//
// # Templates
//
// Every string among an action's parameters is a text/template executed on
// the event as a map with the names above ({{ .email }}, {{ .data.url }});
// {{ .time }} prints RFC 3339 like the API's JSON, and time's methods work
// ({{ .time.Unix }}). A key missing from the map is an error, not an empty
// string, and so is an action that prints nil (a JSON null in the data, or
// index of a key the data lacks: NoValueError), so that an email never goes
// out with a blank or "<no value>" field. In the condition of an {{if}} or
// a {{with}} (alone, or operands of and, or, not), .data.x of a key the
// data lacks is nil, which is false: {{ with .data.url }}{{ . }}{{ end }}
// renders an optional key, and prints nothing when it is missing or null.
//
// # Bodies
//
// Some parameters hold a message body (the email action's text and html,
// see Options.Body). A body that is one line without "{{" ending in .html,
// .htm, .txt, .tmpl or .tpl names a template file, relative to the rule
// file; anything else is an inline template. The file is read when the
// rules load (a Watcher reloads the rules when it changes; ${VAR} is not
// expanded in it). An HTML body is an html/template, so that what it
// prints from the event is escaped for where it appears.
//
// # JSON text
//
// A parameter whose text is JSON (see Options.JSON: the http action's body
// when its content type is JSON) is a text/template escaped for JSON when
// the rules load (see internal/jsontmpl): what an action prints is written
// as a string's contents inside a string literal, and as a JSON value
// outside one, so that event data can neither break the JSON nor add keys
// to it. Outside a string nil is written null; inside one it is an error,
// as in a text parameter. A template that leaves a string open at its end,
// whose branches end one inside a string and one outside, or that calls
// {{template}}, does not load.
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/internal/yamlfile"
	"github.com/hookd/hookd/store"
)

// Rule is one compiled rule. Its exported fields describe it; the compiled
// programs stay inside. A Rule belongs to a Set and must not be modified.
type Rule struct {
	// Name identifies the rule across all files.
	Name string
	// Description is free text for people.
	Description string
	// When is the condition as written (${VAR} not expanded).
	When string
	// Once is the once-key expression as compiled; "" when the rule has
	// none. Without a Cooldown the rule fires once per key, ever; with
	// one, the key is the cooldown's.
	Once string
	// Cooldown is the shortest time between two firings of the rule, per
	// once key when the rule has one, else per rule; 0 means none. Eval
	// does not apply it: the caller keeps the durable state it needs.
	Cooldown time.Duration
	// Actions run, in order, each time the rule fires.
	Actions []*Action
	// File is the rule file as Load resolved it, and Line the line where
	// the rule starts in it.
	File string
	Line int

	when, once *program
	// native is when as a predicate in Go (see nativeOf), nil when it is
	// more than comparisons of string fields.
	native predicate
	// admitted is when without its guard comparison (see unguarded), to
	// run on events of a type guard admits; nil to run when.
	admitted *vm.Program
	// guard lists the event types the rule can match, nil meaning any:
	// see guardOf.
	guard []string
	// fieldGuard is the comparison of another field the Set selects the
	// rule by, nil when it has none: see fieldGuardOf.
	fieldGuard *fieldGuard
	// usesData tells whether when or once may read data, and rendersData
	// whether a template of the actions may: data is decoded only for the
	// rules that need it.
	usesData, rendersData bool
	// conds are when's conditions for explanations; see conditions.
	conds conditions
}

// Action is one action of a rule: a type that names an action of the
// actions registry, its parameters, and its retry policy.
type Action struct {
	// Type is the action's type, e.g. "email" or "http".
	Type string
	// Index is the action's position in its rule's actions, from 0; with
	// the rule's name and the event id or once key it identifies one
	// action job.
	Index int
	// Retry says when a failed attempt is tried again: the action's retry,
	// or actions.DefaultRetry.
	Retry actions.Policy
	// Line is where the action starts in its rule's file.
	Line int

	params *mapParam
	// check is what Options.Check gave for the action's type, or nil.
	check func(params map[string]any, email string) error
}

// Params returns a new copy of the action's parameters as written, after
// ${VAR} expansion and before any template runs: strings, int64, uint64,
// float64, bool and nil leaves in map[string]any and []any.
func (a *Action) Params() map[string]any {
	return a.params.written().(map[string]any)
}

// Set is an immutable, compiled rule set: what Load returns and a Watcher
// swaps. It is safe for concurrent use.
type Set struct {
	files  []string
	rules  []*Rule
	byName map[string]*Rule
	// byType holds, for each event type some rule guards on, the rules
	// that can match an event of that type, in rule order; unguarded
	// holds the rules that can match any type.
	byType    map[string]*index
	unguarded *index
	// pos is each rule's position in rules.
	pos map[*Rule]int
	// priorData has the (type, field) pairs of the last calls that may
	// read the data of the event they return, which is then decoded;
	// nil when any may.
	priorData map[[2]string]bool
	// names are the event's names in the environment that the rules read.
	names names
	// warnings are what Warnings returns.
	warnings []*Error
	// desc is Describe's, made at first use.
	desc struct {
		once sync.Once
		set  *store.RuleSet
	}
}

func newSet(files []string, rules []*Rule) *Set {
	s := &Set{files: files, rules: rules, byName: make(map[string]*Rule, len(rules)), byType: map[string]*index{},
		pos: make(map[*Rule]int, len(rules))}
	var unguarded []*Rule
	for i, r := range rules {
		s.pos[r] = i
		s.byName[r.Name] = r
		for _, t := range r.guard {
			s.byType[t] = nil
		}
		if r.guard == nil {
			unguarded = append(unguarded, r)
		}
	}
	s.unguarded = newIndex(unguarded)
	s.names = namesOf(rules)
	s.priorData = map[[2]string]bool{}
	for _, r := range rules {
		if r.priorData(s.priorData) {
			s.priorData = nil
			break
		}
	}
	for t := range s.byType {
		var list []*Rule
		for _, r := range rules {
			if r.admits(t) {
				list = append(list, r)
			}
		}
		s.byType[t] = newIndex(list)
	}
	return s
}

// Files returns the rule files the set was loaded from, in load order.
func (s *Set) Files() []string { return append([]string(nil), s.files...) }

// Rules returns the set's rules in evaluation order: file by file, and in
// each file in the order written.
func (s *Set) Rules() []*Rule { return append([]*Rule(nil), s.rules...) }

// Warnings returns what loads but is likely a mistake, located as load
// errors are, in file order: a data field that no event has (see
// Options.Data), a program's argument from the event before any "--"
// (see Options.Args). hookd check prints them and serve logs them at each
// load.
func (s *Set) Warnings() []*Error { return append([]*Error(nil), s.warnings...) }

// Rule returns the rule named name, or nil.
func (s *Set) Rule(name string) *Rule { return s.byName[name] }

// Describe returns the set as explanations refer to it (store.RuleSet):
// each rule's name, the types it admits and its conditions, under an ID
// that is a hash of them, so that the same rules loaded again have the
// same ID.
func (s *Set) Describe() *store.RuleSet {
	s.desc.once.Do(func() {
		rs := &store.RuleSet{Rules: make([]store.RuleInfo, len(s.rules))}
		h := sha256.New()
		for i, r := range s.rules {
			rs.Rules[i] = store.RuleInfo{Name: r.Name, Types: r.Types(), Conditions: r.Conditions()}
			fmt.Fprintf(h, "%q %q %q\n", r.Name, rs.Rules[i].Types, rs.Rules[i].Conditions)
		}
		rs.ID = hex.EncodeToString(h.Sum(nil))[:16]
		s.desc.set = rs
	})
	return s.desc.set
}

// Only returns a set of the named rules of s alone, in s's order, or an
// error naming a rule s does not have.
func (s *Set) Only(names ...string) (*Set, error) {
	want := map[string]bool{}
	for _, n := range names {
		if s.byName[n] == nil {
			return nil, fmt.Errorf("no rule named %q", n)
		}
		want[n] = true
	}
	var rules []*Rule
	for _, r := range s.rules {
		if want[r.Name] {
			rules = append(rules, r)
		}
	}
	return newSet(s.files, rules), nil
}

// candidates returns the index of the rules that can match an event of
// type typ.
func (s *Set) candidates(typ string) *index {
	if x, ok := s.byType[typ]; ok {
		return x
	}
	return s.unguarded
}

func (r *Rule) admits(typ string) bool {
	if r.guard == nil {
		return true
	}
	for _, t := range r.guard {
		if t == typ {
			return true
		}
	}
	return false
}

// Error is a problem in a rule file, found when loading it, or a rule that
// failed on one event (then Match.Err). It is located in the file.
type Error struct {
	// File is the rule file as Load resolved it, or a pattern that is not
	// valid.
	File string
	// Line and Column are 1-based, Column counting characters; 0 when
	// unknown.
	Line, Column int
	// Rule is the name of the rule the problem is in; "" outside a rule or
	// when the rule has no valid name.
	Rule string
	// Field is the path of the offending value: inside the rule when Rule
	// is set ("when", "actions[1].http.url", "actions[0].retry"), else from
	// the top of the file ("rules[2].when"); "" for the whole file.
	Field string
	// Err says what is wrong.
	Err error
	// Snippet is expr's caret snippet for an error in an expression, over
	// the expression as written (before ${VAR} expansion, so that it never
	// shows a variable's value): "\n | type == 1\n | .....^". Otherwise "".
	Snippet string
}

// Error formats e as `file:line:col: rule "name": field: problem` followed
// by the snippet, leaving out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	yamlfile.WritePosition(&b, e.File, e.Line, e.Column)
	if e.Rule != "" {
		fmt.Fprintf(&b, "rule %q: ", e.Rule)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	b.WriteString(e.Snippet)
	return b.String()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// ParamError is what an Options.Action hook returns to locate a problem at
// one parameter rather than at the action: Load reports it at that
// parameter's line and column.
type ParamError struct {
	// Param is the parameter's path inside the action's parameters:
	// "to", "headers.Authorization", "args[1]".
	Param string
	// Err says what is wrong.
	Err error
}

// Error formats e as "param: problem".
func (e *ParamError) Error() string { return e.Param + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *ParamError) Unwrap() error { return e.Err }

// fieldValue returns e's value of a field that last and count may compare.
func fieldValue(e *event.Event, field string) (string, bool) {
	switch field {
	case "email":
		return e.Email, true
	case "domain":
		return e.Domain, true
	case "message_id":
		return e.MessageID, true
	case "campaign":
		return e.Campaign, true
	case "source":
		return e.Source, true
	}
	return "", false
}

// stateFields lists the fields last and count accept, for error messages.
const stateFields = "email, domain, message_id, campaign or source"
