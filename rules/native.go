package rules

import (
	"strings"

	exprast "github.com/expr-lang/expr/ast"

	"github.com/hookd/hookd/event"
)

// predicate is a when evaluated in Go instead of expr's VM.
type predicate func(*event.Event) bool

// nativeOf returns n as a predicate when it is only comparisons of the
// event's string fields with string constants (==, !=, in, startsWith,
// endsWith, contains), combined with &&, || and !, and true or false; nil
// otherwise. Such an expression can neither fail nor read state, so the
// predicate decides exactly as expr would, at a fraction of the cost of a
// run of the VM: most rules test a type and a field or two.
func nativeOf(n exprast.Node) predicate {
	switch n := n.(type) {
	case *exprast.BoolNode:
		v := n.Value
		return func(*event.Event) bool { return v }
	case *exprast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" {
			return nil
		}
		if p := nativeOf(n.Node); p != nil {
			return func(e *event.Event) bool { return !p(e) }
		}
		return nil
	case *exprast.BinaryNode:
		switch n.Operator {
		case "&&", "and", "||", "or":
			l, r := nativeOf(n.Left), nativeOf(n.Right)
			if l == nil || r == nil {
				return nil
			}
			if n.Operator == "&&" || n.Operator == "and" {
				return func(e *event.Event) bool { return l(e) && r(e) }
			}
			return func(e *event.Event) bool { return l(e) || r(e) }
		case "==", "!=":
			left, right := n.Left, n.Right
			if _, ok := left.(*exprast.StringNode); ok {
				left, right = right, left
			}
			get, c, ok := fieldAndString(left, right)
			if !ok {
				return nil
			}
			if n.Operator == "==" {
				return func(e *event.Event) bool { return get(e) == c }
			}
			return func(e *event.Event) bool { return get(e) != c }
		case "startsWith", "endsWith", "contains":
			get, c, ok := fieldAndString(n.Left, n.Right)
			if !ok {
				return nil
			}
			test := map[string]func(string, string) bool{
				"startsWith": strings.HasPrefix, "endsWith": strings.HasSuffix, "contains": strings.Contains,
			}[n.Operator]
			return func(e *event.Event) bool { return test(get(e), c) }
		case "in":
			id, ok := n.Left.(*exprast.IdentifierNode)
			arr, isArray := n.Right.(*exprast.ArrayNode)
			if !ok || !isArray {
				return nil
			}
			get, ok := stringFields[id.Value]
			if !ok {
				return nil
			}
			set := make(map[string]bool, len(arr.Nodes))
			for _, item := range arr.Nodes {
				s, ok := item.(*exprast.StringNode)
				if !ok {
					return nil
				}
				set[s.Value] = true
			}
			return func(e *event.Event) bool { return set[get(e)] }
		}
	}
	return nil
}

// fieldAndString reports whether field names one of the event's string
// fields and value is a string constant, and returns the field's reader
// and the constant.
func fieldAndString(field, value exprast.Node) (func(*event.Event) string, string, bool) {
	id, ok := field.(*exprast.IdentifierNode)
	s, isString := value.(*exprast.StringNode)
	if !ok || !isString {
		return nil, "", false
	}
	get, ok := stringFields[id.Value]
	return get, s.Value, ok
}
