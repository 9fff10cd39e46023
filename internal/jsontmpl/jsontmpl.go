// Package jsontmpl escapes text/template templates whose text is JSON, the
// way html/template escapes HTML: what an action prints from the event is
// written for where it stands in the JSON around it, so that event data can
// neither break the JSON nor add to it. Rules use it for the parameters
// whose text is JSON, such as the http action's body; it is internal
// because only they do.
package jsontmpl

import (
	"encoding/json"
	"fmt"
	"strconv"
	"text/template"
	"text/template/parse"

	"github.com/hookd/hookd/internal/jsonenc"
)

// The functions Escape appends to pipelines. Their names cannot be written
// in a template parsed before Escape: text/template refuses a function it
// does not know.
const (
	stringFunc = "_jsontmpl_string"
	valueFunc  = "_jsontmpl_value"
)

// funcs are the functions Escape adds to a template.
var funcs = template.FuncMap{stringFunc: stringContents, valueFunc: value}

// Escape rewrites t, parsed and not yet executed, so that each action that
// prints prints JSON for the lexical context of the literal text before it:
//
//   - inside a string literal (after an unescaped "), the value as text
//     (as text/template prints it), escaped as the contents of a JSON
//     string: quotes, backslashes, control characters, U+2028 and U+2029
//     (and <, > and &, as encoding/json does) become escape sequences, and
//     no quotes are added; nil, which text/template would print as
//     "<no value>", fails the execution with a *NoValueError;
//   - outside a string, the value as JSON, as encoding/json writes it: a
//     string becomes a quoted string, a number a number, nil null, a map an
//     object.
//
// It appends a function to the action's pipeline, as html/template does,
// so that the pipeline's value is escaped rather than its output
// post-processed. The context must be the same at the end of every branch
// of {{if}}, {{with}} and {{range}} (and of a {{range}} body as at its
// start), and outside a string at the end of t; an action may not stand
// inside an escape sequence such as \u00; and {{template}} (so {{block}})
// is refused, as what the named template prints would depend on where it
// is called. A template Escape refuses is an *Error and is left as it
// was. Escape rewrites t once: calling it again escapes twice.
func Escape(t *template.Template) error {
	if t.Tree == nil {
		return nil
	}
	e := &escaper{tree: t.Tree}
	c := e.list(context{}, t.Tree.Root)
	if e.err == nil && c.state != stateValue {
		e.err = e.errorf(&parse.TextNode{NodeType: parse.NodeText, Pos: e.open},
			"the JSON string that starts here is still open at the end of the text")
	}
	if e.err != nil {
		return e.err
	}
	for _, ed := range e.edits {
		pos := ed.pipe.Position()
		args := []parse.Node{parse.NewIdentifier(ed.fn).SetTree(t.Tree).SetPos(pos)}
		if ed.fn == stringFunc {
			// The action, for the error of one that prints nil.
			action := ed.pipe.String()
			args = append(args, &parse.StringNode{NodeType: parse.NodeString, Pos: pos, Quoted: strconv.Quote(action), Text: action})
		}
		ed.pipe.Cmds = append(ed.pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: args})
	}
	t.Funcs(funcs)
	return nil
}

// Escaper returns what the function named name, one Escape appends to
// pipelines, makes of a string, and whether name is one: for a renderer
// that prints string fields without text/template and must print what
// the escaped template would. (The function inside a string also takes the
// action's text, before the value, for its errors.)
func Escaper(name string) (func(string) string, bool) {
	switch name {
	case stringFunc:
		return contents, true
	case valueFunc:
		return quote, true
	}
	return nil, false
}

// Error is a template Escape cannot escape.
type Error struct {
	// Location is where in the template's text the fault is,
	// "NAME:LINE:COL" with COL a 0-based byte offset in the line, as
	// text/template's errors write it.
	Location string
	// Description says what is wrong.
	Description string
}

// Error returns the error in the form of text/template's: "template:
// NAME:LINE:COL: description".
func (e *Error) Error() string { return "template: " + e.Location + ": " + e.Description }

// state is where literal JSON text has got to.
type state uint8

const (
	stateValue   state = iota // outside any string
	stateString               // inside a string literal
	stateEscape               // after a backslash in a string literal
	stateUnicode              // in the four hex digits of a \u escape
)

// context is the lexical context of a point of the template's text.
type context struct {
	state state
	// hex counts the hex digits still due in stateUnicode.
	hex uint8
	// dead marks a point no execution reaches: after {{break}} or
	// {{continue}}.
	dead bool
}

func (c context) String() string {
	switch c.state {
	case stateString:
		return "inside a JSON string"
	case stateEscape:
		return `after \ in a JSON string`
	case stateUnicode:
		return `in a \u escape of a JSON string`
	}
	return "outside any JSON string"
}

// scan returns the context after text that starts in context c, and
// records in e.open where the last string it enters starts. Text that is
// not JSON leaves the context where a JSON parser would have failed: the
// JSON checks after rendering refuse it then.
func (e *escaper) scan(c context, text []byte, at parse.Pos) context {
	for i, b := range text {
		switch c.state {
		case stateValue:
			if b == '"' {
				c.state, e.open = stateString, at+parse.Pos(i)
			}
		case stateString:
			switch b {
			case '"':
				c.state = stateValue
			case '\\':
				c.state = stateEscape
			}
		case stateEscape:
			c.state = stateString
			if b == 'u' {
				c.state, c.hex = stateUnicode, 4
			}
		case stateUnicode:
			if !isHex(b) {
				c.state, c.hex = stateString, 0
				continue
			}
			if c.hex--; c.hex == 0 {
				c.state = stateString
			}
		}
	}
	return c
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

// escaper walks a template's tree in execution order.
type escaper struct {
	tree *parse.Tree
	// edits are the pipelines to append a function to, once the whole
	// tree is known to escape.
	edits []edit
	// ranges are the contexts at the start of the {{range}} bodies being
	// walked, innermost last: where {{break}} and {{continue}} go.
	ranges []context
	// open is where the string literal last entered starts.
	open parse.Pos
	err  *Error
}

type edit struct {
	pipe *parse.PipeNode
	fn   string
}

func (e *escaper) errorf(n parse.Node, format string, args ...any) *Error {
	loc, _ := e.tree.ErrorContext(n)
	return &Error{Location: loc, Description: fmt.Sprintf(format, args...)}
}

// list returns the context after n, which starts in context c.
func (e *escaper) list(c context, n *parse.ListNode) context {
	if n == nil {
		return c
	}
	for _, n := range n.Nodes {
		if e.err != nil || c.dead {
			// Nothing after {{break}} or {{continue}} in a list runs.
			return c
		}
		c = e.node(c, n)
	}
	return c
}

func (e *escaper) node(c context, n parse.Node) context {
	switch n := n.(type) {
	case *parse.TextNode:
		return e.scan(c, n.Text, n.Pos)
	case *parse.ActionNode:
		return e.action(c, n)
	case *parse.IfNode:
		return e.branches(c, &n.BranchNode, "if")
	case *parse.WithNode:
		return e.branches(c, &n.BranchNode, "with")
	case *parse.RangeNode:
		return e.rangeNode(c, n)
	case *parse.BreakNode:
		return e.leave(c, n, "break")
	case *parse.ContinueNode:
		return e.leave(c, n, "continue")
	case *parse.TemplateNode:
		e.err = e.errorf(n, "{{template}} and {{block}} cannot be used in JSON text: what they print could not be escaped for where they stand")
	case *parse.CommentNode:
	default:
		e.err = e.errorf(n, "unexpected %T in JSON text", n)
	}
	return c
}

// action escapes n, which prints unless it declares or assigns a
// variable.
func (e *escaper) action(c context, n *parse.ActionNode) context {
	if len(n.Pipe.Decl) > 0 {
		return c
	}
	switch c.state {
	case stateString:
		e.edits = append(e.edits, edit{n.Pipe, stringFunc})
	case stateValue:
		e.edits = append(e.edits, edit{n.Pipe, valueFunc})
	default:
		e.err = e.errorf(n, "an action %s: write the escape sequence whole in the text, or the action outside it", c)
	}
	return c
}

// branches returns the context after an {{if}} or a {{with}}: the same
// at the end of each branch, or an error.
func (e *escaper) branches(c context, n *parse.BranchNode, name string) context {
	then := e.list(c, n.List)
	els := e.list(c, n.ElseList)
	return e.join(n, name, then, els)
}

// join returns the context where two branches of n meet: the one a live
// branch ends in, the same for both.
func (e *escaper) join(n parse.Node, name string, a, b context) context {
	switch {
	case e.err != nil:
		return a
	case a.dead:
		return b
	case b.dead:
		return a
	case a != b:
		e.err = e.errorf(n, "{{%s}} ends %s in one branch and %s in another: write the quotes around the whole {{%s}}, or inside each branch", name, a, b, name)
	}
	return a
}

// rangeNode returns the context after a {{range}}: its body may run any
// number of times, so it must end in the context it starts in.
func (e *escaper) rangeNode(c context, n *parse.RangeNode) context {
	e.ranges = append(e.ranges, c)
	body := e.list(c, n.List)
	e.ranges = e.ranges[:len(e.ranges)-1]
	if e.err != nil {
		return c
	}
	if !body.dead && body != c {
		e.err = e.errorf(n, "{{range}} starts %s and its body ends %s, so that each iteration starts elsewhere: close in the body what it opens", c, body)
		return c
	}
	return e.join(n, "range", c, e.list(c, n.ElseList))
}

// leave checks a {{break}} or {{continue}} at n, in context c: both go
// back to where the innermost {{range}} body started.
func (e *escaper) leave(c context, n parse.Node, name string) context {
	if len(e.ranges) > 0 {
		if start := e.ranges[len(e.ranges)-1]; c != start {
			e.err = e.errorf(n, "{{%s}} stands %s, but its {{range}} starts %s", name, c, start)
		}
	}
	return context{dead: true}
}

// NoValueError is an action inside a JSON string that printed nil (a JSON
// null in the event's data, or what index gives for a missing key), which
// text/template would print as "<no value>": no text stands for it.
type NoValueError struct {
	// Action is the action's pipeline, such as .data.comment.
	Action string
}

func (e *NoValueError) Error() string {
	return fmt.Sprintf("{{ %s }} has no value on this event (null in its data, or a key index did not find) and stands inside a JSON string: "+
		"write it outside the quotes to send null, or {{ with %s }}{{ . }}{{ end }} to print nothing then", e.Action, e.Action)
}

// stringContents returns v, the value of action, as text/template prints
// it, escaped as the contents of a JSON string; a *NoValueError when v is
// nil.
func stringContents(action string, v any) (string, error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case nil:
		return "", &NoValueError{Action: action}
	default:
		s = fmt.Sprint(v)
	}
	return contents(s), nil
}

// contents returns s escaped as the contents of a JSON string.
func contents(s string) string {
	b := jsonenc.AppendString(make([]byte, 0, len(s)+2), s)
	return string(b[1 : len(b)-1])
}

// value returns v written as JSON.
func value(v any) (string, error) {
	if s, ok := v.(string); ok {
		return quote(s), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("not writable as JSON: %w", err)
	}
	return string(b), nil
}

// quote returns s as a JSON string.
func quote(s string) string {
	return string(jsonenc.AppendString(make([]byte, 0, len(s)+2), s))
}
