package rules

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"text/template/parse"
)

// The functions the rules add to a template once it is parsed, so that a
// rule cannot call them: text/template refuses at parse a function it
// does not know. printFunc is appended to each action that prints;
// optionalFunc reads .data in the condition of an {{if}} or a {{with}};
// rangeFunc is appended to what a {{range}} ranges over.
const (
	printFunc    = "_hookd_print"
	optionalFunc = "_hookd_optional"
	rangeFunc    = "_hookd_range"
)

// valueFuncs are the functions of printFunc, optionalFunc and rangeFunc,
// for a text/template or an html/template FuncMap.
var valueFuncs = map[string]any{printFunc: printValue, optionalFunc: optional, rangeFunc: rangeable}

// rangeable returns v, what a {{range}} ranges over, and an error when v
// is an integer: text/template ranges n times over an integer n, and the
// event's data, written by whoever sends the event, could hold
// 9223372036854775807 where a rule ranges over a list, looping for ever
// on that event.
func rangeable(v any) (any, error) {
	switch reflect.ValueOf(v).Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return nil, &rangeError{v}
	}
	return v, nil
}

// rangeError is rangeable's error: a {{range}} over the number v.
type rangeError struct{ v any }

func (e *rangeError) Error() string {
	return fmt.Sprintf("{{range}} over the number %v: want a list or a mapping", e.v)
}

// NoValueError is an action of a template that printed no value: a JSON
// null in the event's data, or what index gives for a key the data lacks.
// text/template would print "<no value>", and html/template nothing: either
// would reach a customer as a field left blank. Rendering fails instead,
// as it does for {{ .data.x }} when the data has no x, so that the rule
// fails on the event, naming the parameter.
type NoValueError struct {
	// Action is the action's pipeline, such as .data.comment.
	Action string
}

func (e *NoValueError) Error() string {
	return fmt.Sprintf("{{ %s }} has no value on this event (null in its data, or a key index did not find): "+
		"write {{ with %s }}{{ . }}{{ end }} to print nothing then", e.Action, e.Action)
}

// printValue returns v, the value of action, or a *NoValueError when it
// is nil.
func printValue(action string, v any) (any, error) {
	if v == nil {
		return nil, &NoValueError{Action: action}
	}
	return v, nil
}

// optional returns the value at path in root (the event as a template
// sees it), or nil when a key on the way is missing or null, as data?.x
// does in an expression. A value on the way that is not an object is an
// error, as text/template's own field access makes it.
func optional(root any, path ...string) (any, error) {
	v := root
	for i, k := range path {
		if v == nil {
			return nil, nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("can't read .%s of .%s, a %T", k, strings.Join(path[:i], "."), v)
		}
		v = m[k]
	}
	return v, nil
}

// checkPrints appends printFunc to the pipeline of every action of tree
// that prints, so that one that prints nil fails (NoValueError). A body
// escaped for JSON does without: jsontmpl writes nil as null outside a
// string and refuses it inside one.
func checkPrints(tree *parse.Tree) {
	if tree == nil {
		return
	}
	var walk func(n *parse.ListNode)
	walk = func(n *parse.ListNode) {
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			switch c := c.(type) {
			case *parse.ActionNode:
				if len(c.Pipe.Decl) > 0 {
					continue // {{ $x := ... }} prints nothing
				}
				action := c.Pipe.String()
				pos := c.Pipe.Position()
				c.Pipe.Cmds = append(c.Pipe.Cmds, &parse.CommandNode{
					NodeType: parse.NodeCommand,
					Pos:      pos,
					Args: []parse.Node{
						parse.NewIdentifier(printFunc).SetTree(tree).SetPos(pos),
						&parse.StringNode{NodeType: parse.NodeString, Pos: pos, Quoted: strconv.Quote(action), Text: action},
					},
				})
			case *parse.IfNode:
				walk(c.List)
				walk(c.ElseList)
			case *parse.WithNode:
				walk(c.List)
				walk(c.ElseList)
			case *parse.RangeNode:
				walk(c.List)
				walk(c.ElseList)
			}
		}
	}
	walk(tree.Root)
}

// optionalData rewrites the conditions of the {{if}} and {{with}} actions
// of tree, so that .data.x there (or $.data.x, .data.x.y) is nil, which is
// false, when the event's data has no x, rather than an error: {{ with
// .data.agent }}…{{ end }} and {{ if .data.agent }}…{{ end }} test for an
// optional key. The condition is such a field alone, or fields among the
// operands of and, or and not. Elsewhere, {{ .data.x }} included, a key
// the data lacks is still an error (missingkey=error). root tells whether
// dot is the event at tree's root: it is not in a template that
// {{template}} calls, nor in the body of a {{with}} or a {{range}}, where
// only $.data.x is rewritten. It also appends rangeFunc to what each
// {{range}} ranges over (rangePipe), which the rules read from the event.
func optionalData(tree *parse.Tree, root bool) {
	if tree == nil {
		return
	}
	var walk func(n *parse.ListNode, root bool)
	walk = func(n *parse.ListNode, root bool) {
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			switch c := c.(type) {
			case *parse.IfNode:
				optionalPipe(tree, c.Pipe, root)
				walk(c.List, root)
				walk(c.ElseList, root)
			case *parse.WithNode:
				optionalPipe(tree, c.Pipe, root)
				walk(c.List, false)
				walk(c.ElseList, root)
			case *parse.RangeNode:
				rangePipe(tree, c.Pipe)
				walk(c.List, false)
				walk(c.ElseList, root)
			}
		}
	}
	walk(tree.Root, root)
}

// rangePipe appends rangeFunc to p, what a {{range}} ranges over, unless
// p is a number written in the template ({{ range 3 }}).
func rangePipe(tree *parse.Tree, p *parse.PipeNode) {
	if p == nil || len(p.Cmds) == 0 {
		return
	}
	if cmd := p.Cmds[0]; len(p.Cmds) == 1 && len(cmd.Args) == 1 {
		if _, ok := cmd.Args[0].(*parse.NumberNode); ok {
			return
		}
	}
	pos := p.Position()
	p.Cmds = append(p.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos,
		Args: []parse.Node{parse.NewIdentifier(rangeFunc).SetTree(tree).SetPos(pos)}})
}

// optionalPipe rewrites the fields of data in the condition p (see
// optionalData).
func optionalPipe(tree *parse.Tree, p *parse.PipeNode, root bool) {
	if p == nil || len(p.Cmds) == 0 {
		return
	}
	// The condition's value is its first command's when it is alone.
	if cmd := p.Cmds[0]; len(p.Cmds) == 1 && len(cmd.Args) == 1 {
		if args := optionalCall(tree, cmd.Args[0], root); args != nil {
			cmd.Args = args
			return
		}
	}
	for _, cmd := range p.Cmds {
		id, ok := cmd.Args[0].(*parse.IdentifierNode)
		if !ok || id.Ident != "and" && id.Ident != "or" && id.Ident != "not" {
			continue
		}
		for i, a := range cmd.Args[1:] {
			if sub, ok := a.(*parse.PipeNode); ok {
				optionalPipe(tree, sub, root)
				continue
			}
			if args := optionalCall(tree, a, root); args != nil {
				cmd.Args[i+1] = &parse.PipeNode{NodeType: parse.NodePipe, Pos: a.Position(),
					Cmds: []*parse.CommandNode{{NodeType: parse.NodeCommand, Pos: a.Position(), Args: args}}}
			}
		}
	}
}

// optionalCall returns the arguments of a command that calls optionalFunc
// for n, when n reads a field of the event's data (.data.x where dot is
// the event, $.data.x anywhere); nil otherwise.
func optionalCall(tree *parse.Tree, n parse.Node, root bool) []parse.Node {
	var path []string
	switch n := n.(type) {
	case *parse.FieldNode:
		if root {
			path = n.Ident
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" {
			path = n.Ident[1:]
		}
	}
	if len(path) < 2 || path[0] != "data" {
		return nil
	}
	pos := n.Position()
	args := []parse.Node{
		parse.NewIdentifier(optionalFunc).SetTree(tree).SetPos(pos),
		&parse.VariableNode{NodeType: parse.NodeVariable, Pos: pos, Ident: []string{"$"}},
	}
	for _, k := range path {
		args = append(args, &parse.StringNode{NodeType: parse.NodeString, Pos: pos, Quoted: strconv.Quote(k), Text: k})
	}
	return args
}
