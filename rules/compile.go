package rules

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	exprast "github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	exprparser "github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/goccy/go-yaml/ast"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/internal/jsontmpl"
	"github.com/hookd/hookd/internal/suggest"
	"github.com/hookd/hookd/internal/yamlfile"
)

// program is a compiled when or once, with its text for locating errors
// and its syntax tree as written, for reading what the expression does
// (guardOf, usesData) and later explaining why it was false.
type program struct {
	*strValue
	prog *vm.Program
	tree *exprparser.Tree
}

// compileOptions are the expr options every expression compiles with: the
// environment's names and types, a deterministic clock (no now(), date()
// in UTC).
var compileOptions = append([]expr.Option{
	expr.Env(schema),
	expr.DisableBuiltin("now"),
	expr.Timezone("UTC"),
}, stateFunctions...)

// expression compiles the when or once (field) at n.
func (l *loader) expression(n ast.Node, field string) (*program, bool) {
	s, ok := l.text(n, field, "an expression (a string)")
	if !ok {
		return nil, false
	}
	if strings.TrimSpace(s.text) == "" {
		l.fail(n, field, errors.New("empty expression"))
		return nil, false
	}
	want := expr.AsBool()
	if field == "once" {
		want = expr.AsKind(reflect.String)
	}
	prog, err := expr.Compile(s.text, append(slices.Clip(compileOptions), want)...)
	if err != nil {
		l.exprError(s, field, err)
		return nil, false
	}
	// The tree before type checking and optimization, as written. The
	// config makes last, count and since plain calls, count being also the
	// name of an expr built-in.
	c := conf.CreateNew()
	for _, op := range compileOptions {
		op(c)
	}
	tree, err := exprparser.ParseWithConfig(s.text, c)
	if err != nil { // expr.Compile parsed it already
		l.exprError(s, field, err)
		return nil, false
	}
	p := &program{strValue: s, prog: prog, tree: tree}
	lc := &literalChecker{}
	exprast.Walk(&tree.Node, lc)
	if lc.err != nil {
		l.exprError(s, field, lc.err)
		return nil, false
	}
	l.checkData(s, field, tree)
	return p, true
}

// checkData warns, when l.opts.Data is set, of each data.X (or data["X"])
// of tree whose X no event's data has, with the nearest field that some
// have: the expression compiles, and X is nil on every event.
func (l *loader) checkData(s *strValue, field string, tree *exprparser.Tree) {
	known := l.opts.Data
	if known == nil {
		return
	}
	var v dataVisitor
	exprast.Walk(&tree.Node, &v)
	for _, m := range v.members {
		name := m.Property.(*exprast.StringNode).Value
		if slices.Contains(known.Fields, name) {
			continue
		}
		msg := fmt.Sprintf("data.%s: no %s event has this field, so it is always nil", name, strings.Join(known.Providers, " or "))
		if near := suggest.Closest(name, known.Fields); near != "" {
			msg += " (did you mean data." + near + "?)"
		}
		at, snippet := s.locate(m.Node.Location().From)
		l.warnAt(at, field, msg, snippet)
	}
}

// dataVisitor collects the reads of a field of data: data.X, data?.X and
// data["X"].
type dataVisitor struct{ members []*exprast.MemberNode }

func (v *dataVisitor) Visit(n *exprast.Node) {
	m, ok := (*n).(*exprast.MemberNode)
	if !ok || !isIdent(m.Node, "data") {
		return
	}
	if _, ok := m.Property.(*exprast.StringNode); ok {
		v.members = append(v.members, m)
	}
}

// exprError records an error of expr in the expression s, at its place in
// the file, with expr's caret snippet.
func (l *loader) exprError(s *strValue, field string, err error) {
	msg, off := exprMessage(err)
	msg = exprHint(msg)
	if templateAt(s.text, off) {
		msg += " (" + field + " is an expression, not a template: write email, not {{ .email }})"
	}
	p, snippet := s.locate(off)
	if s.src.commentAfter() {
		msg += ` (YAML read the rest of the line, from its " #", as a comment: quote the expression, or write it on the lines after >-)`
	}
	e := errors.New(msg)
	if name, ok := s.x.variableAt(off); ok {
		// expr's message may quote the value, e.g. unexpected token
		// Identifier("...").
		e = secretSafe(name)
	}
	l.failAt(p, field, l.rule, e, snippet)
}

// exprNames are the names an expression can use that a typo is likely
// to miss: the event's fields and hookd's state functions.
var exprNames = func() []string {
	names := []string{"last", "count", "since"}
	for name := range schema {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}()

// exprHint adds the fix to those of expr's messages where the mistake
// is plain: a misspelled name, "=" written for "==", a time compared
// with a string.
func exprHint(msg string) string {
	switch {
	case strings.HasPrefix(msg, "unknown name "):
		if name := suggest.Closest(strings.TrimPrefix(msg, "unknown name "), exprNames); name != "" {
			return msg + " (did you mean " + name + "?)"
		}
	case msg == `unexpected token Operator("=")`:
		return msg + " (compare with ==)"
	case strings.Contains(msg, "mismatched types time.Time and string"), strings.Contains(msg, "mismatched types string and time.Time"):
		return msg + ` (read a date with date("2026-01-31T00:00:00Z"))`
	}
	return msg
}

// templateAt reports whether rune offset off of an expression is in a
// "{{", where expr stops at a template written for an expression.
func templateAt(text string, off int) bool {
	r := []rune(text)
	at := func(i int) bool { return i >= 0 && i+1 < len(r) && r[i] == '{' && r[i+1] == '{' }
	return at(off) || at(off-1)
}

// exprMessage returns the message of an expr error and the rune offset in
// the expression where it is. An error with no location (such as "expected
// bool, but got int") is at the start.
func exprMessage(err error) (string, int) {
	var fe *file.Error
	if errors.As(err, &fe) {
		return strings.TrimSpace(fe.Message), fe.From
	}
	return strings.TrimSpace(err.Error()), 0
}

// caret returns expr's snippet for rune offset off of src: the line and a
// caret under the offset.
func caret(src string, off int) string {
	e := &file.Error{Location: file.Location{From: off, To: off + 1}}
	return e.Bind(file.NewSource(src)).Snippet
}

// nilField is expr's message for reading a field of a nil struct pointer,
// which in a rule is what last returned when it found nothing.
const nilField = "reflect: call of reflect.Value.Field on zero Value"

// nilFetch tells whether msg is expr's for reading a field by name from a
// nil *prior, as it reads the fields of what last returns: its type being
// checked, a field it does not have is a load error.
func nilFetch(msg string) bool {
	return strings.HasPrefix(msg, "cannot fetch ") && strings.HasSuffix(msg, " from *rules.prior")
}

// runtimeError is the *Error for a failure of p on an event, in rule r.
func (p *program) runtimeError(r *Rule, field string, err error) *Error {
	msg, off := exprMessage(err)
	if msg == nilField || nilFetch(msg) {
		msg = "cannot read a field of nil: last found no event (test it with != nil, or read the field with ?.)"
	}
	at, snippet := p.locate(off)
	return &Error{File: r.File, Line: at.line, Column: at.col, Rule: r.Name, Field: field, Err: errors.New(msg), Snippet: snippet}
}

// literalChecker finds a bad field or window given literally to last or
// count, so that it is a load error rather than an error on every event.
type literalChecker struct{ err error }

func (c *literalChecker) Visit(n *exprast.Node) {
	call, ok := (*n).(*exprast.CallNode)
	if !ok || c.err != nil {
		return
	}
	fn, ok := call.Callee.(*exprast.IdentifierNode)
	if !ok || fn.Value != "last" && fn.Value != "count" {
		return
	}
	if len(call.Arguments) > 1 {
		if s, ok := call.Arguments[1].(*exprast.StringNode); ok {
			if _, ok := fieldValue(&event.Event{}, s.Value); !ok {
				c.err = locatedError(s, fmt.Sprintf("%s: unknown field %q: want %s", fn.Value, s.Value, stateFields))
				return
			}
		}
	}
	if fn.Value == "count" && len(call.Arguments) > 2 {
		if s, ok := call.Arguments[2].(*exprast.StringNode); ok {
			if _, err := parseWindow(s.Value); err != nil {
				c.err = locatedError(s, "count: "+err.Error())
			}
		}
	}
}

func locatedError(n exprast.Node, msg string) error {
	return &file.Error{Location: n.Location(), Message: msg}
}

// parseWindow parses count's window.
func parseWindow(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid window %w", err)
	}
	return d, nil
}

// parseDuration parses a cooldown or a window: a positive Go duration
// ("15m", "1h") or a number of days ("7d"), as retention takes them. Its
// error quotes s and says what is wanted, for the caller to name the field.
func parseDuration(s string) (time.Duration, error) {
	p, err := config.ParsePeriod(s)
	if errors.Is(err, config.ErrPeriodTooLong) {
		// Not ParsePeriod's error, which starts with "duration" as the
		// callers' own words do.
		days := int(config.MaxPeriod.Duration() / (24 * time.Hour))
		return 0, fmt.Errorf("%q is %w: at most %dd (%s), a hundred years", s, config.ErrPeriodTooLong, days, formatDuration(config.MaxPeriod.Duration()))
	}
	if err != nil || p <= 0 {
		return 0, fmt.Errorf(`%q: want a positive duration such as "15m", "1h" or "7d"`, s)
	}
	return p.Duration(), nil
}

// guardOf returns the event types an expression can be true for, judged
// from its leftmost operands alone, or nil when it cannot tell. For
//
//	type == "open" && ...
//	type in ["open", "click"] && ...
//	(type == "open" || type == "click") && ...
//
// it returns the types named. Evaluating such an expression on an event of
// another type evaluates only that comparison, finds it false and stops
// there, so not running it at all gives the same result; the Set skips it.
func guardOf(n exprast.Node) []string {
	b, ok := n.(*exprast.BinaryNode)
	if !ok {
		return nil
	}
	switch b.Operator {
	case "&&", "and":
		return guardOf(b.Left)
	case "||", "or":
		l, r := guardOf(b.Left), guardOf(b.Right)
		if l == nil || r == nil {
			return nil
		}
		return append(l, r...)
	case "==":
		if isIdent(b.Left, "type") {
			if s, ok := b.Right.(*exprast.StringNode); ok {
				return []string{s.Value}
			}
		}
		if isIdent(b.Right, "type") {
			if s, ok := b.Left.(*exprast.StringNode); ok {
				return []string{s.Value}
			}
		}
	case "in":
		arr, ok := b.Right.(*exprast.ArrayNode)
		if !ok || !isIdent(b.Left, "type") || len(arr.Nodes) == 0 {
			return nil
		}
		types := make([]string, len(arr.Nodes))
		for i, item := range arr.Nodes {
			s, ok := item.(*exprast.StringNode)
			if !ok {
				return nil
			}
			types[i] = s.Value
		}
		return types
	}
	return nil
}

// unguarded compiles when without the comparison guardOf reads its guard
// from, or returns nil when it has no such comparison to drop: on an event
// of a type the guard admits, that comparison is true, so the rest of the
// && chain gives the same result in fewer steps. With 100 rules of one
// type all run on every event of that type, and the comparison is a good
// share of each.
func unguarded(when *program) (*vm.Program, error) {
	return compileNode(when.text, append(slices.Clip(compileOptions), expr.AsBool()), dropGuard)
}

// compileNode parses text and compiles with opts the node of its tree that
// pick returns, as expr.Compile compiles the whole; it returns a nil
// program and no error when pick returns nil. pick gets the tree freshly
// parsed, which it may change.
func compileNode(text string, opts []expr.Option, pick func(exprast.Node) exprast.Node) (*vm.Program, error) {
	c := conf.CreateNew()
	for _, op := range opts {
		op(c)
	}
	for name := range c.Disabled {
		delete(c.Builtins, name)
	}
	c.Check()
	tree, err := exprparser.ParseWithConfig(text, c)
	if err != nil {
		return nil, err
	}
	n := pick(tree.Node)
	if n == nil {
		return nil, nil
	}
	tree.Node = n
	if _, err := new(checker.Checker).PatchAndCheck(tree, c); err != nil {
		return nil, err
	}
	if c.Optimize {
		if err := optimizer.Optimize(&tree.Node, c); err != nil {
			return nil, err
		}
	}
	return compiler.Compile(tree, c)
}

// dropGuard returns n, an expression freshly parsed, without the leftmost
// operand of its && chain when that operand is what guardOf reads the
// guard from; nil when it is not.
func dropGuard(n exprast.Node) exprast.Node {
	b, ok := n.(*exprast.BinaryNode)
	if !ok || b.Operator != "&&" && b.Operator != "and" {
		return nil
	}
	if l, ok := b.Left.(*exprast.BinaryNode); ok && (l.Operator == "&&" || l.Operator == "and") {
		rest := dropGuard(l)
		if rest == nil {
			return nil
		}
		b.Left = rest
		return b
	}
	if guardOf(b.Left) == nil {
		return nil
	}
	return b.Right
}

func isIdent(n exprast.Node, name string) bool {
	id, ok := n.(*exprast.IdentifierNode)
	return ok && id.Value == name
}

// usesData tells whether an expression may read the event's data: it names
// data, or the whole environment.
func usesData(n exprast.Node) bool {
	f := &dataFinder{}
	exprast.Walk(&n, f)
	return f.found
}

type dataFinder struct{ found bool }

func (f *dataFinder) Visit(n *exprast.Node) {
	if id, ok := (*n).(*exprast.IdentifierNode); ok && (id.Value == "data" || id.Value == "$env") {
		f.found = true
	}
}

// param is a node of an action's parameters.
type param interface {
	// render returns the value with every template executed on data.
	render(data *tmplData) (any, error)
	// written returns the value as written, after ${VAR} expansion.
	written() any
	// usesData tells whether a template in it may read the event's data.
	usesData() bool
}

// constParam is a number, boolean or null.
type constParam struct{ v any }

func (p constParam) render(*tmplData) (any, error) { return p.v, nil }
func (p constParam) written() any                  { return p.v }
func (p constParam) usesData() bool                { return false }

// stringParam is a string: a template when it has an action, else text.
type stringParam struct {
	*strValue
	field string // its path from the rule, for errors
	tmpl  executor
	root  *parse.ListNode // tmpl's parse tree, to see whether it reads .data
	// simple is a text/template tmpl as text and string fields of the
	// event, when it is no more than that (see simpleTemplate), nil
	// otherwise.
	simple []segment
	// json tells that tmpl was escaped for JSON (escapeJSON).
	json bool
}

// executor is a text/template or an html/template.
type executor interface {
	Execute(w io.Writer, data any) error
}

func (p *stringParam) written() any { return p.text }

func (p *stringParam) usesData() bool {
	return p.tmpl != nil && templateReads(p.root, func(f string) bool { return f == "data" })
}

// readsEvent tells whether what the template prints may come from the
// event: it reads a field of it, or hands the whole event somewhere.
func (p *stringParam) readsEvent() bool {
	return p.tmpl != nil && templateReads(p.root, func(string) bool { return true })
}

// templateReads tells whether a template may read a field of the event
// for which field is true: it names one, or hands the whole event (".",
// "$", a nested template) somewhere that could reach it.
func templateReads(n parse.Node, field func(string) bool) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return false
		}
		for _, c := range n.Nodes {
			if templateReads(c, field) {
				return true
			}
		}
	case *parse.ActionNode:
		return templateReads(n.Pipe, field)
	case *parse.PipeNode:
		if n == nil {
			return false
		}
		for _, c := range n.Cmds {
			if templateReads(c, field) {
				return true
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if templateReads(a, field) {
				return true
			}
		}
	case *parse.FieldNode:
		return field(n.Ident[0])
	case *parse.ChainNode:
		return templateReads(n.Node, field)
	case *parse.VariableNode:
		return n.Ident[0] == "$"
	case *parse.DotNode, *parse.TemplateNode:
		return true
	case *parse.IfNode:
		return templateReads(n.Pipe, field) || templateReads(n.List, field) || templateReads(n.ElseList, field)
	case *parse.RangeNode:
		return templateReads(n.Pipe, field) || templateReads(n.List, field) || templateReads(n.ElseList, field)
	case *parse.WithNode:
		return templateReads(n.Pipe, field) || templateReads(n.List, field) || templateReads(n.ElseList, field)
	}
	return false
}

func (p *stringParam) render(data *tmplData) (any, error) {
	if p.tmpl == nil {
		return p.text, nil
	}
	var b strings.Builder
	if p.simple != nil {
		renderSimple(&b, p.simple, data.e)
		return b.String(), nil
	}
	if err := p.tmpl.Execute(&b, data.asMap()); err != nil {
		return nil, &renderError{p, err}
	}
	return b.String(), nil
}

// renderError is a template that failed on an event.
type renderError struct {
	p   *stringParam
	err error
}

func (e *renderError) Error() string { return e.err.Error() }

// mapParam is a mapping, its keys in the order written.
type mapParam struct {
	keys []string
	vals []param
}

func (p *mapParam) render(data *tmplData) (any, error) {
	m := make(map[string]any, len(p.keys))
	for i, k := range p.keys {
		v, err := p.vals[i].render(data)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

func (p *mapParam) usesData() bool {
	for _, v := range p.vals {
		if v.usesData() {
			return true
		}
	}
	return false
}

func (p *mapParam) written() any {
	m := make(map[string]any, len(p.keys))
	for i, k := range p.keys {
		m[k] = p.vals[i].written()
	}
	return m
}

// listParam is a list.
type listParam []param

func (p listParam) render(data *tmplData) (any, error) {
	l := make([]any, len(p))
	for i, v := range p {
		r, err := v.render(data)
		if err != nil {
			return nil, err
		}
		l[i] = r
	}
	return l, nil
}

func (p listParam) usesData() bool {
	for _, v := range p {
		if v.usesData() {
			return true
		}
	}
	return false
}

func (p listParam) written() any {
	l := make([]any, len(p))
	for i, v := range p {
		l[i] = v.written()
	}
	return l
}

// paramLoader reads one action's parameters, recording where each is.
type paramLoader struct {
	*loader
	field string         // the action's path from the rule: "actions[0].email"
	typ   string         // the action's type: "email"
	pos   map[string]pos // parameter path → where its errors point
}

// params reads the parameters at n: a mapping, or nothing for none.
func (pl *paramLoader) params(n ast.Node) (*mapParam, bool) {
	switch r := pl.resolve(n, 0).(type) {
	case nil:
		return nil, false
	case *ast.NullNode:
		return &mapParam{}, true
	case *ast.MappingNode, *ast.MappingValueNode:
		nerr := len(pl.errs)
		p := pl.value(r, "", 0)
		if len(pl.errs) > nerr {
			return nil, false
		}
		return p.(*mapParam), true
	default:
		pl.fail(n, pl.field, fmt.Errorf("want a mapping of parameters, got %s", yamlfile.Kind(r)))
		return nil, false
	}
}

// value reads the parameter at n, whose path is path (an alias already
// resolved, so that resolving it again reports nothing).
func (pl *paramLoader) value(n ast.Node, path string, depth int) param {
	field := joinPath(pl.field, path)
	if !pl.count(n) {
		return nil
	}
	if depth > maxAliasDepth {
		pl.fail(n, field, errors.New("parameters nested too deeply"))
		return nil
	}
	r := pl.resolve(n, 0)
	switch v := r.(type) {
	case nil: // resolve reported it
		return nil
	case *ast.MappingNode, *ast.MappingValueNode:
		entries, ok := pl.mapping(v, 0)
		if !ok {
			return nil
		}
		m := &mapParam{}
		for _, e := range entries {
			key := yamlfile.KeyText(e.Key)
			sub := joinPath(path, key)
			val := pl.resolve(e.Value, 0)
			// An error about a scalar points at the value, else at the key.
			pl.pos[sub] = pl.at(e.Key)
			if _, ok := val.(ast.ScalarNode); ok && val.Type() != ast.NullType {
				pl.pos[sub] = pl.at(val)
			}
			m.keys = append(m.keys, key)
			m.vals = append(m.vals, pl.value(val, sub, depth+1))
		}
		return m
	case *ast.SequenceNode:
		l := make(listParam, len(v.Values))
		for i, item := range v.Values {
			sub := fmt.Sprintf("%s[%d]", path, i)
			val := pl.resolve(item, 0)
			pl.pos[sub] = pl.at(val)
			l[i] = pl.value(val, sub, depth+1)
		}
		return l
	case *ast.NullNode:
		return constParam{nil}
	case *ast.IntegerNode:
		return constParam{v.Value}
	case *ast.FloatNode:
		return constParam{v.Value}
	case *ast.InfinityNode:
		return constParam{v.Value}
	case *ast.NanNode:
		return constParam{v.GetValue()}
	case *ast.BoolNode:
		return constParam{v.Value}
	}
	s, ok := pl.text(r, field, "a parameter value")
	if !ok {
		return nil
	}
	if pl.opts.Body != nil && path != "" && !strings.ContainsAny(path, ".[") {
		if body, html := pl.opts.Body(pl.typ, path); body {
			return pl.body(s, field, html)
		}
	}
	sp := &stringParam{strValue: s, field: field}
	if !strings.Contains(s.text, "{{") {
		return sp
	}
	t, err := parseTemplate(s.text)
	if err != nil {
		at, msg := s.templateError(err)
		e := errors.New(msg)
		if name, off, ok := s.culprit(); ok {
			at, _ = s.locate(off)
			e = secretSafe(name)
		}
		pl.failAt(at, field, pl.rule, e, "")
		return nil
	}
	if name, at, ok := unknownField(t.Root, true); ok {
		p, _ := s.locate(utf8.RuneCountInString(s.text[:at]))
		pl.failAt(p, field, pl.rule, fieldError(name), "")
		return nil
	}
	optionalTemplates(t)
	sp.tmpl, sp.root, sp.simple = t, t.Root, simpleTemplate(t.Root)
	return sp
}

// checkArgs warns of each argument of the list params[name], a program's
// arguments, that may start with what the event holds (a template that
// reads the event with no text before it) and comes before any "--"
// argument: a sender who can choose the value (an address such as
// --output=x@y) would hand the program an option, where after "--" it is
// an operand. It is a warning, as a program may take no options.
func (pl *paramLoader) checkArgs(params *mapParam, name string) {
	if params == nil || name == "" {
		return
	}
	i := slices.Index(params.keys, name)
	if i < 0 {
		return
	}
	args, ok := params.vals[i].(listParam)
	if !ok {
		return
	}
	for _, arg := range args {
		sp, ok := arg.(*stringParam)
		if !ok {
			continue
		}
		if sp.tmpl == nil && sp.text == "--" {
			return
		}
		if !sp.readsEvent() || startsWithText(sp.root) {
			continue
		}
		at, snippet := sp.locate(0)
		pl.warnAt(at, sp.field, `rendered from the event before any "--" argument: a value that starts with - would reach the program as an option; write "--" as an argument before it, unless the program takes no options`, snippet)
	}
}

// startsWithText tells whether a template's output starts with text it
// writes itself, not with something it reads.
func startsWithText(root *parse.ListNode) bool {
	if root == nil || len(root.Nodes) == 0 {
		return false
	}
	t, ok := root.Nodes[0].(*parse.TextNode)
	return ok && len(t.Text) > 0
}

// optionalTemplates rewrites the conditions of t and of the templates it
// defines with optionalData, and gives t the functions that the rewrites
// call.
func optionalTemplates(t *template.Template) {
	for _, d := range t.Templates() {
		optionalData(d.Tree, d == t)
	}
	t.Funcs(valueFuncs)
}

// checkParams makes each text/template among params fail on an action
// that prints no value (checkPrints), except those escaped for JSON,
// where jsontmpl writes nil as null outside a string and refuses it
// inside one. HTML bodies are checked as they load (body).
func checkParams(p param) {
	switch p := p.(type) {
	case *mapParam:
		for _, v := range p.vals {
			checkParams(v)
		}
	case listParam:
		for _, v := range p {
			checkParams(v)
		}
	case *stringParam:
		t, ok := p.tmpl.(*template.Template)
		if !ok || p.json {
			return
		}
		for _, d := range t.Templates() {
			checkPrints(d.Tree)
		}
		p.simple = simpleTemplate(p.root)
	}
}

// templateFields are the names a template finds in the event (templateData).
var templateFields = func() []string {
	names := []string{"time", "data"}
	for name := range stringFields {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}()

// unknownField returns the first field of the event that template tree n
// reads and no event has, such as .emial, with its byte offset in the
// template's text. Inside range and with, and in the templates that
// template calls, dot is something else and is not checked; $ is the
// event everywhere. dot tells whether dot is the event at n.
func unknownField(n parse.Node, dot bool) (name string, at parse.Pos, ok bool) {
	check := func(ident []string, p parse.Pos) bool {
		if !slices.Contains(templateFields, ident[0]) {
			name, at, ok = ident[0], p, true
		}
		return ok
	}
	var walk func(n parse.Node, dot bool) bool
	walk = func(n parse.Node, dot bool) bool {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					if walk(c, dot) {
						return true
					}
				}
			}
		case *parse.ActionNode:
			return walk(n.Pipe, dot)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					if walk(c, dot) {
						return true
					}
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				if walk(a, dot) {
					return true
				}
			}
		case *parse.FieldNode:
			return dot && check(n.Ident, n.Pos)
		case *parse.VariableNode:
			return n.Ident[0] == "$" && len(n.Ident) > 1 && check(n.Ident[1:], n.Pos)
		case *parse.ChainNode:
			return walk(n.Node, dot)
		case *parse.TemplateNode:
			return walk(n.Pipe, dot)
		case *parse.IfNode:
			return walk(n.Pipe, dot) || walk(n.List, dot) || walk(n.ElseList, dot)
		case *parse.RangeNode:
			return walk(n.Pipe, dot) || walk(n.List, false) || walk(n.ElseList, dot)
		case *parse.WithNode:
			return walk(n.Pipe, dot) || walk(n.List, false) || walk(n.ElseList, dot)
		}
		return false
	}
	walk(n, dot)
	return name, at, ok
}

// fieldError is the load error of a template that reads a field no event
// has.
func fieldError(name string) error {
	return fmt.Errorf("template reads .%s, which no event has: use one of .%s", name, strings.Join(templateFields, ", ."))
}

// segment is a piece of a simple template: text, or the event field that
// field reads when it is not nil, escaped by esc when that is not nil.
type segment struct {
	text  string
	field func(*event.Event) string
	esc   func(string) string
}

// simpleTemplate returns the text/template root as segments when it is only text and actions
// such as {{ .email }} that print a string field of the event, the usual
// parameter, or the same escaped for JSON (jsontmpl.Escape appends its
// function to the action); nil otherwise. text/template prints such a
// field as it is, so concatenating the pieces renders the same text,
// without text/template's reflection, which cost more than evaluating a
// hundred rules.
func simpleTemplate(root *parse.ListNode) []segment {
	var segs []segment
	for _, n := range root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			segs = append(segs, segment{text: string(n.Text)})
		case *parse.ActionNode:
			cmds := n.Pipe.Cmds
			if len(cmds) == 2 && isCall(cmds[1], printFunc) {
				cmds = cmds[:1] // a string field is never nil
			}
			var esc func(string) string
			if len(cmds) == 2 && len(cmds[1].Args) <= 2 {
				id, ok := cmds[1].Args[0].(*parse.IdentifierNode)
				if !ok {
					return nil
				}
				if esc, ok = jsontmpl.Escaper(id.Ident); !ok {
					return nil
				}
				cmds = cmds[:1]
			}
			if len(n.Pipe.Decl) > 0 || len(cmds) != 1 || len(cmds[0].Args) != 1 {
				return nil
			}
			f, ok := cmds[0].Args[0].(*parse.FieldNode)
			if !ok || len(f.Ident) != 1 {
				return nil
			}
			get, ok := stringFields[f.Ident[0]]
			if !ok {
				return nil
			}
			segs = append(segs, segment{field: get, esc: esc})
		default:
			return nil
		}
	}
	return segs
}

// isCall tells whether cmd calls the function name.
func isCall(cmd *parse.CommandNode, name string) bool {
	id, ok := cmd.Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == name
}

// renderSimple writes segs with e's fields to b: the fields a simple
// template prints are strings in the template data (see templateData), so
// that text/template would print them as they are.
func renderSimple(b *strings.Builder, segs []segment, e *event.Event) {
	for _, s := range segs {
		if s.field == nil {
			b.WriteString(s.text)
			continue
		}
		if s.esc != nil {
			b.WriteString(s.esc(s.field(e)))
			continue
		}
		b.WriteString(s.field(e))
	}
}

// escapeJSON escapes for JSON, with jsontmpl.Escape, the templates of the
// parameters of params that names lists, as Options.JSON gave them. It
// reports a template that cannot be escaped, at its place in the file,
// and returns false then.
func (pl *paramLoader) escapeJSON(params *mapParam, names []string) bool {
	ok := true
	for i, k := range params.keys {
		if !slices.Contains(names, k) {
			continue
		}
		sp, isText := params.vals[i].(*stringParam)
		if !isText {
			continue // a mapping or a list, encoded as JSON leaf by leaf
		}
		t, isText := sp.tmpl.(*template.Template)
		if !isText {
			continue // no template; or an html/template, which is HTML
		}
		if err := jsontmpl.Escape(t); err != nil {
			at, msg := sp.templateError(err)
			pl.failAt(at, sp.field, pl.rule, errors.New(msg), "")
			ok = false
			continue
		}
		sp.json, sp.simple = true, simpleTemplate(sp.root)
	}
	return ok
}

func parseTemplate(text string) (*template.Template, error) {
	return template.New("t").Option("missingkey=error").Parse(text)
}

// culprit returns the first variable of a template that does not parse, and
// its offset, when the template parses without the variables' values: then
// a value is at fault, and text/template's message may quote it.
func (s *strValue) culprit() (name string, off int, ok bool) {
	if len(s.x.subs) == 0 {
		return "", 0, false
	}
	if _, err := parseTemplate(s.x.withoutValues(s.src.raw)); err != nil {
		return "", 0, false
	}
	for _, sub := range s.x.subs {
		if sub.name != "" {
			return sub.name, sub.from, true
		}
	}
	return "", 0, false
}

// undefinedRE matches text/template's error for an unknown function.
var undefinedRE = regexp.MustCompile(`function "(\w+)" not defined`)

// fieldHint adds the fix to text/template's error for {{ email }}, an
// event field written without its dot: text/template reads the name as
// a function, and its message says nothing of fields.
func fieldHint(msg string) string {
	m := undefinedRE.FindStringSubmatch(msg)
	if m == nil || !slices.Contains(templateFields, m[1]) {
		return msg
	}
	return fmt.Sprintf("%s: write {{ .%s }} to read the event's field", msg, m[1])
}

// templateErrorRE matches text/template's errors: "template: t:LINE: msg"
// when parsing, "template: t:LINE:COL: executing "t" at <node>: msg" when
// executing (COL a 0-based byte offset in the line).
var templateErrorRE = regexp.MustCompile(`(?s)^template: t:(\d+)(?::(\d+))?: (?:executing "t" at )?(.*)$`)

// fileErrorRE matches the location of text/template's errors executing a
// template file: "template: FILE:LINE:COL: executing ...".
var fileErrorRE = regexp.MustCompile(`(?s)^template: (.*:\d+:\d+): executing `)

// noValue returns the error of an action that printed no value, or of a
// {{range}} over a number, which err wraps, or nil: text/template's words
// around it ("executing ... at <.data.x | _hookd_print ...>: error calling
// _hookd_print") name functions that the rule does not show.
func noValue(err error) error {
	var nv *NoValueError
	if errors.As(err, &nv) {
		return nv
	}
	var re *rangeError
	if errors.As(err, &re) {
		return re
	}
	var jv *jsontmpl.NoValueError
	if errors.As(err, &jv) {
		return jv
	}
	return nil
}

// templateError returns where in the file a template error of s is and its
// message without the template's name.
func (s *strValue) templateError(err error) (pos, string) {
	m := templateErrorRE.FindStringSubmatch(err.Error())
	own := noValue(err)
	if m == nil {
		p, _ := s.locate(0)
		if f := fileErrorRE.FindStringSubmatch(err.Error()); f != nil && own != nil {
			return p, f[1] + ": " + own.Error()
		}
		return p, fieldHint(err.Error())
	}
	if own != nil {
		m[3] = own.Error()
	}
	m[3] = fieldHint(m[3])
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	// The byte offset in s.text of that line and column.
	off := 0
	for i := 1; i < line; i++ {
		nl := strings.IndexByte(s.text[off:], '\n')
		if nl < 0 {
			break
		}
		off += nl + 1
	}
	off = min(off+col, len(s.text))
	p, _ := s.locate(utf8.RuneCountInString(s.text[:off]))
	return p, m[3]
}
