package rules

import (
	"slices"

	exprast "github.com/expr-lang/expr/ast"

	"github.com/hookd/hookd/event"
)

// stringFields read the event's string fields as the expression
// environment (see eventNames) and the template data hold them: the fields
// the index selects rules by (all but type, which has its own guard),
// native predicates compare and simple templates print.
var stringFields = map[string]func(*event.Event) string{
	"type":         func(e *event.Event) string { return e.Type },
	"id":           func(e *event.Event) string { return e.ID },
	"source":       func(e *event.Event) string { return e.Source },
	"provider":     func(e *event.Event) string { return e.Provider },
	"email":        func(e *event.Event) string { return e.Email },
	"domain":       func(e *event.Event) string { return e.Domain },
	"message_id":   func(e *event.Event) string { return e.MessageID },
	"campaign":     func(e *event.Event) string { return e.Campaign },
	"category":     func(e *event.Event) string { return string(e.Category) },
	"bounce_class": func(e *event.Event) string { return string(e.BounceClass) },
}

// fieldGuard is a comparison of one event field with string constants that
// a rule's when evaluates before anything else but type comparisons: the
// rule can match only events whose field is one of values.
type fieldGuard struct {
	field  string
	values []string
	// cond is the comparison's position among when's conditions (see
	// Rule.Conditions).
	cond int
}

// fieldGuardOf returns the first comparison of a field other than type
// among the leading operands of n's && chain, as long as all operands
// before it are comparisons too; ok is false when there is none. For
//
//	type == "open" && domain == "gmail.com" && ...
//	campaign in ["spring", "summer"] && ...
//	(domain == "a.example" || domain == "b.example") && ...
//
// it returns the field and the values named. Such a comparison never fails
// and has no effect, and the operands before it are the same kind: on an
// event whose field has another value, the expression stops at a false
// comparison and is false, so not running it at all gives the same result.
func fieldGuardOf(n exprast.Node) (fieldGuard, bool) {
	var ops []exprast.Node
	flattenAnd(n, &ops)
	for i, op := range ops {
		field, values, ok := comparison(op)
		if !ok {
			break
		}
		if field != "type" {
			return fieldGuard{field: field, values: values, cond: i}, true
		}
	}
	return fieldGuard{}, false
}

// comparison reports whether n compares one field of the environment with
// string constants (==, in, or || of those on the same field), and which.
func comparison(n exprast.Node) (field string, values []string, ok bool) {
	b, isBinary := n.(*exprast.BinaryNode)
	if !isBinary {
		return "", nil, false
	}
	ident := func(n exprast.Node) (string, bool) {
		id, ok := n.(*exprast.IdentifierNode)
		if !ok {
			return "", false
		}
		_, known := stringFields[id.Value]
		return id.Value, known
	}
	switch b.Operator {
	case "||", "or":
		lf, lv, lok := comparison(b.Left)
		rf, rv, rok := comparison(b.Right)
		if !lok || !rok || lf != rf {
			return "", nil, false
		}
		return lf, append(slices.Clip(lv), rv...), true
	case "==":
		l, r := b.Left, b.Right
		if _, ok := l.(*exprast.StringNode); ok {
			l, r = r, l
		}
		f, ok := ident(l)
		s, isString := r.(*exprast.StringNode)
		if !ok || !isString {
			return "", nil, false
		}
		return f, []string{s.Value}, true
	case "in":
		f, ok := ident(b.Left)
		arr, isArray := b.Right.(*exprast.ArrayNode)
		if !ok || !isArray || len(arr.Nodes) == 0 {
			return "", nil, false
		}
		values := make([]string, len(arr.Nodes))
		for i, item := range arr.Nodes {
			s, ok := item.(*exprast.StringNode)
			if !ok {
				return "", nil, false
			}
			values[i] = s.Value
		}
		return f, values, true
	}
	return "", nil, false
}

// index selects, from a list of rules, those that can match an event by
// the rules' field guards: a map lookup per indexed field instead of
// running every rule. Rules without a field guard are always selected.
type index struct {
	rules []*Rule
	// always holds the positions in rules of those without a field guard;
	// byField, per field, per value, those guarded on it. Each list is in
	// rule order.
	always  []int
	byField []fieldIndex
}

// fieldIndex holds, for one field, per value, the positions of the rules
// guarded on it.
type fieldIndex struct {
	value   func(*event.Event) string
	byValue map[string][]int
}

func newIndex(rules []*Rule) *index {
	x := &index{rules: rules}
	byField := map[string]map[string][]int{}
	var fields []string
	for i, r := range rules {
		if r.fieldGuard == nil {
			x.always = append(x.always, i)
			continue
		}
		g := r.fieldGuard
		byValue := byField[g.field]
		if byValue == nil {
			byValue = map[string][]int{}
			byField[g.field] = byValue
			fields = append(fields, g.field)
		}
		for _, v := range g.values {
			if l := byValue[v]; len(l) == 0 || l[len(l)-1] != i { // a value named twice
				byValue[v] = append(l, i)
			}
		}
	}
	for _, f := range fields {
		x.byField = append(x.byField, fieldIndex{value: stringFields[f], byValue: byField[f]})
	}
	return x
}

// selectFor returns the rules that can match e, in rule order, using
// scratch for the positions.
func (x *index) selectFor(e *event.Event, scratch []int, out []*Rule) ([]int, []*Rule) {
	pos := append(scratch[:0], x.always...)
	merged := 0 // lists added to the always ones
	for _, f := range x.byField {
		if l := f.byValue[f.value(e)]; len(l) > 0 {
			pos = append(pos, l...)
			merged++
		}
	}
	if merged > 0 {
		// Each list is in order: one added is merged in place, more are
		// sorted.
		if merged == 1 {
			mergeTail(pos, len(x.always))
		} else {
			slices.Sort(pos)
		}
	}
	out = out[:0]
	for _, p := range pos {
		out = append(out, x.rules[p])
	}
	return pos, out
}

// mergeTail sorts pos, made of two sorted runs that meet at mid, by moving
// each element of the second run back to its place; the second run is a
// few rules guarded on one value.
func mergeTail(pos []int, mid int) {
	for i := mid; i < len(pos); i++ {
		v := pos[i]
		j := i
		for j > 0 && pos[j-1] > v {
			pos[j] = pos[j-1]
			j--
		}
		pos[j] = v
	}
}
