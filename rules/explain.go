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
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser/lexer"
	"github.com/expr-lang/expr/vm"
)

// condition is one operand of a when's top-level && chain, compiled on its
// own so that an explanation can find the first one that was false.
type condition struct {
	// text is the condition as written (see whenText.show), and label
	// the same as an explanation names its value (see whenText.label).
	text, label string
	prog        *vm.Program
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
// chain, in order, as written: `type == "open"`,
// `since(last("sent", "message_id").time) < duration("24h")`, with the
// parentheses around a whole operand left out, white space and comments
// between tokens as one space, and each ${VAR} as written rather than its
// value. A when with no && is its only condition. When the rule is
// guarded by type, the first condition is the guard.
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
	r.conds.once.Do(func() { r.conds.list = compileConditions(r.when) })
	return r.conds.list
}

// compileConditions splits when into its conditions. Each is shown from
// when's own text and compiled from when's own syntax tree, never from a
// printed form of it: expr's printer leaves out parentheses that a reader
// needs (it prints !(a ?? b) as !a ?? b) and some that the parser needs
// ((a ? b : c).x becomes a ? b : c.x), and prints 1.0 as 1, an int.
func compileConditions(when *program) []condition {
	// Should a part not compile (the whole when did, so its parts do),
	// the explanation is the whole when.
	whole := []condition{{text: when.src.raw, label: when.src.raw}}
	w, err := newWhenText(when)
	if err != nil {
		return whole
	}
	root := w.root(when.tree.Node)
	whole[0].text, whole[0].label = w.show(root), w.label(root)
	var parts []part
	if !w.operands(root, &parts) {
		return whole
	}
	list := make([]condition, 0, len(parts))
	for _, p := range parts {
		c := condition{text: w.show(p), label: w.label(p)}
		if c.prog, err = compilePart(when, p.path, expr.AsBool()); err != nil {
			return whole
		}
		if c.value, err = compilePart(when, p.path); err != nil {
			c.value = nil // the value with AsBool's conversion, then
		}
		for _, s := range w.shownParts(p) {
			if prog, err := compilePart(when, s.path); err == nil {
				c.shown = append(c.shown, shownPart{text: w.label(s), prog: prog})
			}
		}
		list = append(list, c)
	}
	return list
}

// compilePart compiles the node of when at path (see part) on its own,
// from a fresh parse of when: type checking and optimizing change a tree.
func compilePart(when *program, path string, opts ...expr.Option) (*vm.Program, error) {
	prog, err := compileNode(when.text, append(slices.Clip(compileOptions), opts...), func(n exprast.Node) exprast.Node {
		for _, step := range path {
			b, ok := n.(*exprast.BinaryNode)
			if !ok {
				return nil
			}
			if n = b.Left; step == 'r' {
				n = b.Right
			}
		}
		return n
	})
	if err == nil && prog == nil {
		err = fmt.Errorf("no operand at %q", path)
	}
	return prog, err
}

// isAnd tells whether n is an && (or and) as written. expr also joins the
// comparisons of a chain, 1 < x < 10, with an && of its own, which it
// places at the same operator as its right operand: such a chain is one
// condition, as it is one piece of the text.
func isAnd(n exprast.Node) bool {
	b, ok := n.(*exprast.BinaryNode)
	return ok && (b.Operator == "&&" || b.Operator == "and") && b.Location() != b.Right.Location()
}

// flattenAnd appends the operands of n's top-level && chain to out.
func flattenAnd(n exprast.Node, out *[]exprast.Node) {
	if isAnd(n) {
		b := n.(*exprast.BinaryNode)
		flattenAnd(b.Left, out)
		flattenAnd(b.Right, out)
		return
	}
	*out = append(*out, n)
}

// whenText is a when's text, after ${VAR} expansion, as expr's lexer reads
// it: a part of the expression is a run of its tokens.
type whenText struct {
	x    *expansion
	text []rune
	toks []lexer.Token // without the EOF token
	// match is, for each bracket among toks, the index of the one that
	// closes or opens it; -1 for other tokens.
	match []int
	// at is the index in toks of the token that starts at a rune offset.
	at map[int]int
}

// part is a node of a when's syntax tree with its tokens, toks[from:to].
// path leads to the node from the tree's root: 'l' for the left operand
// of a binary node, 'r' for its right.
type part struct {
	node     exprast.Node
	path     string
	from, to int
}

func newWhenText(p *program) (*whenText, error) {
	toks, err := lexer.Lex(file.NewSource(p.text))
	if err != nil {
		return nil, err
	}
	if n := len(toks); n > 0 && toks[n-1].Kind == lexer.EOF {
		toks = toks[:n-1]
	}
	w := &whenText{x: p.x, text: []rune(p.text), toks: toks, match: make([]int, len(toks)), at: make(map[int]int, len(toks))}
	var open []int
	for i, t := range toks {
		w.match[i] = -1
		w.at[t.From] = i
		if t.Kind != lexer.Bracket {
			continue
		}
		switch t.Value {
		case "(", "[", "{":
			open = append(open, i)
		default:
			if n := len(open); n > 0 {
				w.match[i], w.match[open[n-1]] = open[n-1], i
				open = open[:n-1]
			}
		}
	}
	return w, nil
}

// root is the whole of the when, whose tree's root is n.
func (w *whenText) root(n exprast.Node) part {
	return w.trim(part{node: n, from: 0, to: len(w.toks)})
}

// trim leaves out the parentheses around the whole of p.
func (w *whenText) trim(p part) part {
	for p.to-p.from > 2 && w.isBracket(p.from, "(") && w.match[p.from] == p.to-1 {
		p.from, p.to = p.from+1, p.to-1
	}
	return p
}

func (w *whenText) isBracket(i int, b string) bool {
	return w.toks[i].Kind == lexer.Bracket && w.toks[i].Value == b
}

// sides returns the operands of p, a binary node trimmed: the tokens on
// either side of its operator, which the node's location is, with their
// parentheses. It returns false when p is not a binary node with its
// operator there.
func (w *whenText) sides(p part) (left, right part, ok bool) {
	b, isBinary := p.node.(*exprast.BinaryNode)
	if !isBinary {
		return part{}, part{}, false
	}
	k, found := w.at[b.Location().From]
	if !found || k <= p.from || k >= p.to-1 || w.toks[k].Value != b.Operator {
		return part{}, part{}, false
	}
	left = part{node: b.Left, path: p.path + "l", from: p.from, to: k}
	right = part{node: b.Right, path: p.path + "r", from: k + 1, to: p.to}
	return left, right, true
}

// operands appends the operands of p's top-level && chain to out, trimmed,
// as flattenAnd does their nodes; false when one cannot be told apart.
func (w *whenText) operands(p part, out *[]part) bool {
	p = w.trim(p)
	if !isAnd(p.node) {
		*out = append(*out, p)
		return true
	}
	l, r, ok := w.sides(p)
	return ok && w.operands(l, out) && w.operands(r, out)
}

// show returns p as written: its tokens, each as it is in the text, with
// one space where white space or a comment separated two of them. A
// variable's value is shown as the variable, ${VAR}: a secret read from the
// environment (data.token == "${HOOK_TOKEN}") is not shown where the rule
// is explained.
func (w *whenText) show(p part) string {
	var (
		b      strings.Builder
		hidden *substitution // the variable last written
	)
	for i := p.from; i < p.to; i++ {
		t := w.toks[i]
		if i > p.from && t.From > w.toks[i-1].To {
			b.WriteByte(' ')
		}
		for off := t.From; off < t.To && off < len(w.text); off++ {
			if s := w.x.substitutionAt(off); s != nil {
				if s != hidden {
					b.WriteString("${" + s.name + "}")
					hidden = s
				}
				continue
			}
			b.WriteRune(w.text[off])
		}
	}
	return b.String()
}

// label returns p as an explanation names its value: as show does, but a
// call whose argument is itself an expression, as
// since(last("sent", "message_id").time), is since(...): its value is what
// matters, and the condition it is in shows it whole.
func (w *whenText) label(p part) string {
	var (
		name string
		args []exprast.Node
	)
	switch n := p.node.(type) {
	case *exprast.CallNode:
		if id, ok := n.Callee.(*exprast.IdentifierNode); ok {
			name, args = id.Value, n.Arguments
		}
	case *exprast.BuiltinNode:
		name, args = n.Name, n.Arguments
	}
	// Written as a call, not in a pipe: name, its parentheses and
	// nothing after.
	t := w.trim(p)
	written := name != "" && t.to-t.from >= 3 && w.toks[t.from].Kind == lexer.Identifier &&
		w.toks[t.from].Value == name && w.isBracket(t.from+1, "(") && w.match[t.from+1] == t.to-1
	if written && slices.ContainsFunc(args, compound) {
		return name + "(...)"
	}
	return w.show(p)
}

// compound tells whether n is more than a literal or a name.
func compound(n exprast.Node) bool {
	switch n := n.(type) {
	case *exprast.NilNode, *exprast.IntegerNode, *exprast.FloatNode, *exprast.BoolNode,
		*exprast.StringNode, *exprast.BytesNode, *exprast.IdentifierNode:
		return false
	case *exprast.UnaryNode:
		return compound(n.Node)
	}
	return true
}

var comparisons = map[string]bool{
	"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
	"in": true, "matches": true, "contains": true, "startsWith": true, "endsWith": true,
}

var arithmetic = map[string]bool{"+": true, "-": true, "*": true, "/": true, "%": true, "**": true, "^": true}

// shownParts returns the parts of p, a condition, whose values explain it
// being false, with the parentheses they are written in.
func (w *whenText) shownParts(p part) []part {
	b, ok := p.node.(*exprast.BinaryNode)
	if !ok || !comparisons[b.Operator] {
		return nil
	}
	l, r, ok := w.sides(p)
	if !ok {
		return nil
	}
	var parts []part
	for _, side := range []part{l, r} {
		if constant(side.node) {
			continue
		}
		parts = append(parts, side)
		if s, ok := side.node.(*exprast.BinaryNode); ok && arithmetic[s.Operator] {
			if sl, sr, ok := w.sides(w.trim(side)); ok {
				for _, o := range []part{sl, sr} {
					if isStateCall(o.node) {
						parts = append(parts, o)
					}
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
			return i, c.text, c.label + " = " + formatValue(out), nil
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
