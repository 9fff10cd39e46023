// Package yamlfile holds what hookd's two YAML loaders, config and rules,
// must do alike so that both files read the same way: ${VAR} expansion,
// anchors and merge keys, the names of YAML kinds in error messages, and the
// "file:line:col: " prefix of a located error. It is internal because it is a detail of those loaders.
package yamlfile

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// ExpandError is an error of Expand at byte offset Offset of the text. Its
// message never quotes the text, which may hold a secret.
type ExpandError struct {
	Offset int
	Err    error
}

func (e *ExpandError) Error() string { return e.Err.Error() }
func (e *ExpandError) Unwrap() error { return e.Err }

// Expand replaces each ${NAME} in s with the environment variable NAME; "$${"
// stands for a literal "${". It calls emit for each piece of s in order:
// raw is the piece as written and text what it becomes; name is the
// variable for a ${NAME}, "" otherwise (for literal text raw == text). An
// unset variable, a malformed name or a "${" without "}" is an
// *ExpandError.
func Expand(s string, emit func(raw, text, name string)) error {
	off := 0
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			if s != "" {
				emit(s, s, "")
			}
			return nil
		}
		if i > 0 && s[i-1] == '$' {
			if i > 1 {
				emit(s[:i-1], s[:i-1], "")
			}
			emit("$${", "${", "")
			s, off = s[i+2:], off+i+2
			continue
		}
		if i > 0 {
			emit(s[:i], s[:i], "")
		}
		at := off + i
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return &ExpandError{at, errors.New(`"${" without "}" (write $${ for a literal "${")`)}
		}
		name := s[i+2 : i+2+end]
		if !isVarName(name) {
			return &ExpandError{at, errors.New(`invalid variable name in "${...}": use letters, digits and '_' (write $${ for a literal "${")`)}
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return &ExpandError{at, fmt.Errorf("environment variable %s is not set", name)}
		}
		emit(s[i:i+2+end+1], v, name)
		s, off = s[i+2+end+1:], off+i+2+end+1
	}
}

// ExpandString is Expand returning the expanded text.
func ExpandString(s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	err := Expand(s, func(_, text, _ string) { b.WriteString(text) })
	if err != nil {
		return "", err
	}
	return b.String(), nil
}

func isVarName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Kind names the YAML kind of n for an error message ("a mapping", "a
// list", ...); "nothing" for nil.
func Kind(n ast.Node) string {
	if n == nil {
		return "nothing"
	}
	return KindName(n.Type())
}

// KindName names a YAML node type for an error message.
func KindName(t ast.NodeType) string {
	switch t {
	case ast.MappingType, ast.MappingValueType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	case ast.StringType, ast.LiteralType:
		return "a string"
	case ast.IntegerType:
		return "an integer"
	case ast.FloatType, ast.InfinityType, ast.NanType:
		return "a number"
	case ast.BoolType:
		return "a boolean"
	case ast.NullType:
		return "nothing"
	}
	return t.YAMLName()
}

// WritePosition writes "file:line:col: " to b, leaving out the parts that
// are unknown (empty file, zero line or column), and nothing without a
// file.
func WritePosition(b *strings.Builder, file string, line, col int) {
	if file == "" {
		return
	}
	b.WriteString(file)
	if line > 0 {
		fmt.Fprintf(b, ":%d", line)
		if col > 0 {
			fmt.Fprintf(b, ":%d", col)
		}
	}
	b.WriteString(": ")
}

// Anchors returns every anchor of the document at body by name; of two
// anchors with one name, the later.
func Anchors(body ast.Node) map[string]*ast.AnchorNode {
	a := anchors{}
	ast.Walk(a, body)
	return a
}

type anchors map[string]*ast.AnchorNode

func (a anchors) Visit(n ast.Node) ast.Visitor {
	if v, ok := n.(*ast.AnchorNode); ok {
		a[v.Name.GetToken().Value] = v
	}
	return a
}

// KeyText returns the text of a mapping key: a string key's value, the key
// of "? key", or the token as written.
func KeyText(k ast.MapKeyNode) string {
	switch v := k.(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.MappingKeyNode: // "? key"
		if s, ok := v.Value.(*ast.StringNode); ok {
			return s.Value
		}
		return v.Value.GetToken().Value
	}
	return k.GetToken().Value
}

// Merge returns the entries of a mapping, values, with those of its merge
// keys ("<<: *anchor", or a list of anchors) after its own, as YAML's merge
// key says: a key written in the mapping wins over a merged one, and of
// the merged mappings the first that has a key wins. merged returns the
// entries that the value of one merge key names, in order, their own
// merge keys merged already; Merge returns its first error.
func Merge(values []*ast.MappingValueNode, merged func(value ast.Node) ([]*ast.MappingValueNode, error)) ([]*ast.MappingValueNode, error) {
	var own, more []*ast.MappingValueNode
	keys := map[string]bool{}
	for _, e := range values {
		if !e.Key.IsMergeKey() {
			own = append(own, e)
			keys[KeyText(e.Key)] = true
		}
	}
	for _, e := range values {
		if !e.Key.IsMergeKey() {
			continue
		}
		entries, err := merged(e.Value)
		if err != nil {
			return nil, err
		}
		for _, me := range entries {
			if k := KeyText(me.Key); !keys[k] {
				keys[k] = true
				more = append(more, me)
			}
		}
	}
	return append(own, more...), nil
}

// SyntaxHint returns goccy's message for a syntax error with the fix
// added where its words do not say it: a tab in the indentation, and a
// line indented to a level where no key or item can go, as a key slid
// left of its siblings is.
func SyntaxHint(msg string) string {
	switch {
	case strings.HasPrefix(msg, "found character '\t'"):
		return msg + " (indent with spaces: YAML does not allow tabs)"
	case msg == "value is not allowed in this context":
		return msg + " (check this line's indentation against the lines above it)"
	}
	return msg
}

// Within reports whether the document at body, its aliases expanded, has
// at most limit nodes: what a decoder that expands each alias (goccy's,
// merge keys included) builds. Anchors repeated inside anchors that are
// repeated (a "billion laughs") make a few hundred bytes billions of
// nodes, which such a decoder would take for ever to build. An alias of
// the anchor it stands in counts as too many. It takes a time linear in
// the size of the document as written.
func Within(body ast.Node, limit int) bool {
	s := &sizer{anchors: Anchors(body), sizes: map[*ast.AnchorNode]int{}, limit: limit}
	return s.size(body) <= limit
}

// sizer counts the nodes of a document, aliases expanded, up to limit+1.
type sizer struct {
	anchors map[string]*ast.AnchorNode
	// sizes are the sizes of the anchors' values; -1 while one is counted.
	sizes map[*ast.AnchorNode]int
	limit int
}

func (s *sizer) size(n ast.Node) int {
	sum := func(nodes ...ast.Node) int {
		total := 1
		for _, c := range nodes {
			if total += s.size(c); total > s.limit {
				return s.limit + 1
			}
		}
		return total
	}
	switch v := n.(type) {
	case nil:
		return 0
	case *ast.DocumentNode:
		return sum(v.Body)
	case *ast.MappingNode:
		nodes := make([]ast.Node, len(v.Values))
		for i, e := range v.Values {
			nodes[i] = e
		}
		return sum(nodes...)
	case *ast.MappingValueNode:
		return sum(v.Key, v.Value)
	case *ast.MappingKeyNode:
		return sum(v.Value)
	case *ast.SequenceNode:
		return sum(v.Values...)
	case *ast.TagNode:
		return sum(v.Value)
	case *ast.AnchorNode:
		return s.anchor(v)
	case *ast.AliasNode:
		a, ok := s.anchors[v.Value.GetToken().Value]
		if !ok {
			return 1
		}
		return s.anchor(a)
	}
	return 1
}

func (s *sizer) anchor(a *ast.AnchorNode) int {
	switch n, ok := s.sizes[a]; {
	case ok && n < 0:
		return s.limit + 1
	case ok:
		return n
	}
	s.sizes[a] = -1
	n := min(1+s.size(a.Value), s.limit+1)
	s.sizes[a] = n
	return n
}
