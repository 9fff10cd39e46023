package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	exprast "github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// condition is one operand of a when's top-level && chain, compiled on its
// own so that an explanation can find the first one that was false.
type condition struct {
	text string
	prog *vm.Program
	// shown are the parts of a comparison whose values an explanation
	// prints: its non-constant sides, and the count calls inside an
	// arithmetic side. Empty for any other condition, whose own value is
	// printed.
	shown []shownPart
	// value is the condition compiled without expr.AsBool, which makes
	// nil false: an explanation prints the value itself, so that
	// data.hard_bounce of a key the data lacks reads nil, not false.
	value *vm.Program
}

type shownPart struct {
	text string
	prog *vm.Program
}

// conditions holds a rule's conditions, compiled at first use: only
// explanations need them, and most of them only for a few rules.
type conditions struct {
	once sync.Once
	list []condition
}

// Conditions returns the operands of the rule's when at the top of its &&
// chain, in order, as expr prints them: `type == "open"`,
// `since(last("sent", "message_id").time) < duration("24h")`. A when with
// no && is its only condition. When the rule is guarded by type, the first
// condition is the guard.
func (r *Rule) Conditions() []string {
	conds := r.conditions()
	texts := make([]string, len(conds))
	for i, c := range conds {
		texts[i] = c.text
	}
	return texts
}

// Types returns the event types the rule can match, judged from the leftmost
// comparisons of its when; nil when it may match any type.
func (r *Rule) Types() []string { return slices.Clone(r.guard) }

func (r *Rule) conditions() []condition {
	r.conds.once.Do(func() {
		var nodes []exprast.Node
		flattenAnd(r.when.tree.Node, &nodes)
		for _, n := range nodes {
			c := condition{text: n.String()}
			prog, err := expr.Compile(c.text, append(slices.Clip(compileOptions), expr.AsBool())...)
			if err != nil {
				// The whole when compiled, so its parts do: should one
				// not, the explanation is the whole when.
				r.conds.list = []condition{{text: r.When}}
				return
			}
			c.prog = prog
			if c.value, err = expr.Compile(c.text, compileOptions...); err != nil {
				c.value = nil // the value with AsBool's conversion, then
			}
			// Compiled, the texts are only shown: without the values
			// of ${VAR}.
			c.text = r.when.x.hide(c.text)
			for _, p := range shownParts(n) {
				if prog, err := expr.Compile(p, compileOptions...); err == nil {
					c.shown = append(c.shown, shownPart{text: r.when.x.hide(abbreviate(p)), prog: prog})
				}
			}
			r.conds.list = append(r.conds.list, c)
		}
	})
	return r.conds.list
}

// flattenAnd appends the operands of n's top-level && chain to out.
func flattenAnd(n exprast.Node, out *[]exprast.Node) {
	if b, ok := n.(*exprast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		flattenAnd(b.Left, out)
		flattenAnd(b.Right, out)
		return
	}
	*out = append(*out, n)
}

var comparisons = map[string]bool{
	"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
	"in": true, "not in": true, "matches": true, "contains": true, "startsWith": true, "endsWith": true,
}

var arithmetic = map[string]bool{"+": true, "-": true, "*": true, "/": true, "%": true, "**": true, "^": true}

// shownParts returns the expressions whose values explain n being false.
func shownParts(n exprast.Node) []string {
	b, ok := n.(*exprast.BinaryNode)
	if !ok || !comparisons[b.Operator] {
		return nil
	}
	var parts []string
	for _, side := range []exprast.Node{b.Left, b.Right} {
		if constant(side) {
			continue
		}
		parts = append(parts, side.String())
		if s, ok := side.(*exprast.BinaryNode); ok && arithmetic[s.Operator] {
			for _, o := range []exprast.Node{s.Left, s.Right} {
				if isStateCall(o) {
					parts = append(parts, o.String())
				}
			}
		}
	}
	return parts
}

// constant tells whether n's value is the same on every event: a literal,
// or a built-in such as duration("24h") over literals.
func constant(n exprast.Node) bool {
	switch n := n.(type) {
	case *exprast.NilNode, *exprast.IntegerNode, *exprast.FloatNode, *exprast.BoolNode,
		*exprast.StringNode, *exprast.BytesNode, *exprast.ConstantNode:
		return true
	case *exprast.UnaryNode:
		return constant(n.Node)
	case *exprast.BinaryNode:
		return constant(n.Left) && constant(n.Right)
	case *exprast.ArrayNode:
		for _, e := range n.Nodes {
			if !constant(e) {
				return false
			}
		}
		return true
	case *exprast.BuiltinNode:
		for _, a := range n.Arguments {
			if !constant(a) {
				return false
			}
		}
		return true
	case *exprast.CallNode:
		if id, ok := n.Callee.(*exprast.IdentifierNode); !ok || id.Value == "last" || id.Value == "count" || id.Value == "since" {
			return false
		}
		for _, a := range n.Arguments {
			if !constant(a) {
				return false
			}
		}
		return true
	}
	return false
}

func isStateCall(n exprast.Node) bool {
	c, ok := n.(*exprast.CallNode)
	if !ok {
		return false
	}
	id, ok := c.Callee.(*exprast.IdentifierNode)
	return ok && (id.Value == "last" || id.Value == "count")
}

// abbreviate shortens a call whose argument is itself an expression, as
// since(last("sent", "message_id").time), to since(...): its value is what
// matters, and the condition it is in shows it whole.
func abbreviate(text string) string {
	open := strings.IndexByte(text, '(')
	if open <= 0 || !strings.HasSuffix(text, ")") || !isName(text[:open]) {
		return text
	}
	args := text[open+1 : len(text)-1]
	if strings.ContainsAny(args, "().") {
		return text[:open] + "(...)"
	}
	return text
}

func isName(s string) bool {
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// whyFalse finds the first condition of r that is false on the event bound
// to ev, whose when was false: its index among r's conditions, its text,
// and the values it saw. Its error is a failure of the state.
func (ev *evaluation) whyFalse(r *Rule) (int, string, string, error) {
	for i, c := range r.conditions() {
		if c.prog == nil {
			return i, c.text, "false", nil
		}
		out, err := ev.vm.Run(c.prog, ev.env)
		if ev.stateErr != nil {
			return 0, "", "", ev.stateErr
		}
		if err != nil {
			msg, _ := exprMessage(err)
			if msg == nilField {
				msg = "cannot read a field of nil"
			}
			return i, c.text, "error: " + msg, nil
		}
		if ok, _ := out.(bool); ok {
			continue
		}
		if len(c.shown) == 0 {
			if c.value != nil {
				if v, err := ev.vm.Run(c.value, ev.env); err == nil {
					out = v
				}
				if ev.stateErr != nil {
					return 0, "", "", ev.stateErr
				}
			}
			return i, c.text, abbreviate(c.text) + " = " + formatValue(out), nil
		}
		var saw strings.Builder
		for j, p := range c.shown {
			if j > 0 {
				saw.WriteString(", ")
			}
			v, err := ev.vm.Run(p.prog, ev.env)
			if ev.stateErr != nil {
				return 0, "", "", ev.stateErr
			}
			saw.WriteString(p.text)
			saw.WriteString(" = ")
			if err != nil {
				msg, _ := exprMessage(err)
				saw.WriteString("error: " + msg)
			} else {
				saw.WriteString(formatValue(v))
			}
		}
		return i, c.text, saw.String(), nil
	}
	// Every condition true yet when false cannot happen with && alone;
	// say so rather than point at the wrong one.
	return -1, r.When, "false", nil
}

// formatValue prints a value an explanation saw, short and stable.
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case string:
		return strconv.Quote(v)
	case time.Duration:
		return formatDuration(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case *prior:
		if v == nil {
			return "nil"
		}
		return fmt.Sprintf("%s event %s at %s", v.Type, v.ID, v.Time.UTC().Format(time.RFC3339Nano))
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case map[string]any, []any:
		s := fmt.Sprint(v)
		if len(s) > 80 {
			s = s[:77] + "..."
		}
		return s
	}
	return fmt.Sprint(v)
}

// formatDuration prints d as time.Duration does, without zero trailing
// units: 26h3m rather than 26h3m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// StateKey is a type and field that last or count look events up by.
type StateKey struct {
	Type, Field string
	// Last tells that a last call names the pair; count only when false,
	// which needs the events' times only.
	Last bool
}

// StateKeys returns the (type, field) pairs that the set's last and count
// calls name, sorted, or all=true when some call names them with an
// expression rather than literals, so any pair may be asked for.
func (s *Set) StateKeys() (keys []StateKey, all bool) {
	f := &stateKeyFinder{seen: map[[2]string]bool{}}
	for _, r := range s.rules {
		for _, p := range []*program{r.when, r.once} {
			if p != nil {
				exprast.Walk(&p.tree.Node, f)
			}
		}
	}
	for k, last := range f.seen {
		keys = append(keys, StateKey{Type: k[0], Field: k[1], Last: last})
	}
	slices.SortFunc(keys, func(a, b StateKey) int {
		return strings.Compare(a.Type+"\x00"+a.Field, b.Type+"\x00"+b.Field)
	})
	return keys, f.all
}

type stateKeyFinder struct {
	// seen tells, per (type, field), whether a last call names it.
	seen map[[2]string]bool
	all  bool
}

func (f *stateKeyFinder) Visit(n *exprast.Node) {
	call, ok := (*n).(*exprast.CallNode)
	if !ok || !isStateCall(call) {
		return
	}
	if len(call.Arguments) < 2 {
		f.all = true
		return
	}
	typ, ok1 := call.Arguments[0].(*exprast.StringNode)
	field, ok2 := call.Arguments[1].(*exprast.StringNode)
	if !ok1 || !ok2 {
		f.all = true
		return
	}
	k := [2]string{typ.Value, field.Value}
	f.seen[k] = f.seen[k] || call.Callee.(*exprast.IdentifierNode).Value == "last"
}

// priorData adds to reads the (type, field) pairs of the last calls in
// r's when and once that may read the data of the event they return, and
// returns true when any may (a pair not given literally): unless a call
// is compared with nil or has a field other than data read from it by
// name, the event may go where its data is read.
func (r *Rule) priorData(reads map[[2]string]bool) (any bool) {
	f := &priorUses{harmless: map[*exprast.CallNode]bool{}}
	for _, p := range []*program{r.when, r.once} {
		if p != nil {
			exprast.Walk(&p.tree.Node, f)
		}
	}
	for _, c := range f.calls {
		if f.harmless[c] {
			continue
		}
		if len(c.Arguments) != 2 {
			return true
		}
		typ, ok1 := c.Arguments[0].(*exprast.StringNode)
		field, ok2 := c.Arguments[1].(*exprast.StringNode)
		if !ok1 || !ok2 {
			return true
		}
		reads[[2]string{typ.Value, field.Value}] = true
	}
	return false
}

// priorUses finds the last calls in an expression, and those whose result
// is used in a way that cannot read its data.
type priorUses struct {
	calls    []*exprast.CallNode
	harmless map[*exprast.CallNode]bool
}

func lastCall(n exprast.Node) (*exprast.CallNode, bool) {
	c, ok := n.(*exprast.CallNode)
	if !ok {
		return nil, false
	}
	id, ok := c.Callee.(*exprast.IdentifierNode)
	return c, ok && id.Value == "last"
}

func (f *priorUses) Visit(n *exprast.Node) {
	switch n := (*n).(type) {
	case *exprast.CallNode:
		if _, ok := lastCall(n); ok {
			f.calls = append(f.calls, n)
		}
	case *exprast.MemberNode:
		if p, ok := n.Property.(*exprast.StringNode); ok && p.Value != "data" {
			if c, ok := lastCall(n.Node); ok {
				f.harmless[c] = true
			}
		}
	case *exprast.BinaryNode:
		if n.Operator != "==" && n.Operator != "!=" {
			return
		}
		if _, ok := n.Left.(*exprast.NilNode); ok {
			if c, ok := lastCall(n.Right); ok {
				f.harmless[c] = true
			}
		}
		if _, ok := n.Right.(*exprast.NilNode); ok {
			if c, ok := lastCall(n.Left); ok {
				f.harmless[c] = true
			}
		}
	}
}
