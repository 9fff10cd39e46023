package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/hookd/hookd/internal/yamlfile"
)

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	periodType   = reflect.TypeFor[Period]()
)

// position is where an error about a field points: the value of a scalar
// field, otherwise the key (an empty value or a block mapping has no useful
// position of its own).
type position struct{ line, col int }

// index locates fields in the parsed file.
type index struct {
	pos map[string]position     // field path → where its errors point
	tok map[*token.Token]string // token of a key or value → field path
}

// at records where the field at path, whose value is n and whose key is
// key (nil for a list item), points.
func (x *index) at(path string, n ast.Node, key *token.Token) {
	if key != nil {
		x.tok[key] = path
	}
	tk := key
	if key == nil || isScalar(n) {
		tk = firstToken(n)
	}
	if tk != nil {
		x.pos[path] = position{tk.Position.Line, tk.Position.Column}
	}
}

// locate returns the position of field, or of its nearest ancestor present
// in the file; 0, 0 when there is none.
func (x *index) locate(field string) (line, col int) {
	for {
		if p, ok := x.pos[field]; ok {
			return p.line, p.col
		}
		if field == "" {
			return 0, 0
		}
		field = parent(field)
	}
}

// parent returns the path of the field that holds field: "sources[1]" for
// "sources[1].name", "sources" for "sources[1]", "" for "sources".
func parent(field string) string {
	if strings.HasSuffix(field, "]") {
		return field[:strings.LastIndexByte(field, '[')]
	}
	i := strings.LastIndexByte(field, '.')
	if i < 0 {
		return ""
	}
	return field[:i]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walker walks the parsed file alongside the Config type before it is
// decoded: it reports every unknown key, value of the wrong shape and bad
// duration or size with its position (goccy's decoder stops at the first,
// and loses the position of some), expands ${VAR} in the values, and
// builds the index. It takes each bad value and unknown key out of the
// file, so that the rest still decodes, and records in tainted the parts
// whose validation would no longer be sound.
type walker struct {
	name    string
	expand  func(field string) bool // false: a ${VAR} value in field decodes as zero
	idx     *index
	anchors map[string]*ast.AnchorNode // for merge keys
	errs    []*Error
	tainted taint
	// badAnchors are the anchors whose value had an error: an alias of
	// one decodes as nothing, and taints where it stands.
	badAnchors map[string]bool
	// slots hold the node of each field, for the decoder's errors to
	// take out; anchorAt names the anchor at a field, and aliases the
	// fields where each anchor's aliases stand.
	slots    map[string]*ast.Node
	anchorAt map[string]string
	aliases  map[string][]string
	// merged counts the mappings read for merge keys (see maxMerged).
	merged int
}

// newWalker returns a walker of the file called name, expanding ${VAR}
// in the fields that expand reports true for.
func newWalker(name string, expand func(field string) bool) *walker {
	return &walker{
		name: name, expand: expand,
		idx:     &index{pos: map[string]position{}, tok: map[*token.Token]string{}},
		tainted: taint{}, badAnchors: map[string]bool{},
		slots: map[string]*ast.Node{}, anchorAt: map[string]string{}, aliases: map[string][]string{},
	}
}

// dropField takes the value of field out, after the decoder failed on it,
// and taints field and where the aliases of an anchor at field or around
// it stand, which decoded the same value; false when the walk did not
// reach field, or took it out already.
func (w *walker) dropField(field string) bool {
	np, ok := w.slots[field]
	if !ok {
		return false
	}
	drop(np)
	delete(w.slots, field)
	w.tainted.add(field)
	for f := field; ; f = parent(f) {
		if name, ok := w.anchorAt[f]; ok {
			for _, at := range w.aliases[name] {
				w.tainted.add(at)
			}
		}
		if f == "" {
			return true
		}
	}
}

// fail records err at field and taints the part field is in.
func (w *walker) fail(field string, err error) {
	line, col := w.idx.locate(field)
	w.errs = append(w.errs, &Error{File: w.name, Line: line, Column: col, Field: field, Err: err})
	w.tainted.add(field)
}

// drop replaces the bad value at *np with null, so that it decodes as the
// zero value instead of failing the decoding of the rest.
func drop(np *ast.Node) { *np = ast.Null((*np).GetToken()) }

// walk checks the node at *np against t. It may replace the node: a
// number or boolean written where a string, duration or size belongs
// becomes a string of the text as written, so that a password like 0123 or
// 1e3 is not turned into "83" or "1000".
func (w *walker) walk(np *ast.Node, t reflect.Type, path string) {
	n := *np
	if tk := n.GetToken(); tk != nil {
		w.idx.tok[tk] = path
	}
	w.slots[path] = np
	switch v := n.(type) {
	case *ast.AnchorNode:
		w.anchorAt[path] = v.Name.GetToken().Value
		errs := len(w.errs)
		w.walk(&v.Value, t, path)
		if len(w.errs) > errs {
			w.badAnchors[v.Name.GetToken().Value] = true
		}
		return
	case *ast.TagNode:
		errs := len(w.errs)
		w.walk(&v.Value, t, path)
		// A value taken out is taken out with its tag, now or when the
		// decoder refuses it: goccy's decoder crashes on a tag around
		// nothing where a list belongs.
		w.slots[path] = np
		if len(w.errs) > errs {
			drop(np)
		}
		return
	case *ast.AliasNode:
		// An alias was checked where its anchor is.
		name := v.Value.GetToken().Value
		if w.badAnchors[name] {
			w.tainted.add(path)
		}
		w.aliases[name] = append(w.aliases[name], path)
		return
	case *ast.NullNode:
		// Null leaves the zero value, which SetDefaults and Validate
		// handle.
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if !w.expand(path) && t.Kind() != reflect.Struct && t.Kind() != reflect.Slice && unexpanded(n) {
		// A value this load does not need, left as ${VAR}: decoded as
		// the zero value rather than checked as a size or a number.
		*np = ast.Null(n.GetToken())
		return
	}
	switch {
	case t == durationType, t == byteSizeType, t == periodType, t.Kind() == reflect.String:
		s, ok := w.scalar(np, path, t)
		if !ok {
			return
		}
		if _, isString := n.(*ast.StringNode); !isString {
			if _, isLiteral := n.(*ast.LiteralNode); !isLiteral {
				*np = ast.String(n.GetToken())
			}
		}
		var err error
		switch t {
		case durationType:
			if _, err = time.ParseDuration(s); err != nil {
				err = fmt.Errorf("invalid duration %q: want a number with a unit, such as \"10s\" or \"500ms\"", s)
			}
		case byteSizeType:
			_, err = parseSize(s)
		case periodType:
			_, err = ParsePeriod(s)
		}
		if err != nil {
			w.fail(path, err)
			drop(np)
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		if _, ok := n.(*ast.FloatNode); ok {
			// goccy would truncate it.
			w.fail(path, fmt.Errorf("want %s, got %s", describe(t), yamlfile.Kind(n)))
			drop(np)
			return
		}
		w.scalar(np, path, t)
	case t.Kind() == reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			w.fail(path, fmt.Errorf("want %s, got %s", describe(t), yamlfile.Kind(n)))
			drop(np)
			return
		}
		for i := range seq.Values {
			item := fmt.Sprintf("%s[%d]", path, i)
			w.idx.at(item, seq.Values[i], nil)
			w.walk(&seq.Values[i], t.Elem(), item)
		}
	case t.Kind() == reflect.Struct:
		entries, ok := mapping(n)
		if !ok {
			w.fail(path, fmt.Errorf("want %s, got %s", describe(t), yamlfile.Kind(n)))
			drop(np)
			return
		}
		fields, names := fieldsOf(t)
		merges, errs := false, len(w.errs)
		written, unknown := map[string]bool{}, map[*ast.MappingValueNode]bool{}
		for _, e := range entries {
			if e.Key.IsMergeKey() {
				merges = true
				// "<<: *anchor" merges a mapping (or a list of them)
				// into this one, so it is checked as this struct too.
				w.idx.tok[e.Value.GetToken()] = path
				if seq, ok := e.Value.(*ast.SequenceNode); ok {
					for i := range seq.Values {
						w.walk(&seq.Values[i], t, path)
					}
				} else {
					w.walk(&e.Value, t, path)
				}
				continue
			}
			key := yamlfile.KeyText(e.Key)
			field := join(path, key)
			written[key] = true
			w.idx.at(field, e.Value, e.Key.GetToken())
			ft, ok := fields[key]
			if !ok {
				k := e.Key.GetToken().Position
				w.idx.pos[field] = position{k.Line, k.Column}
				w.fail(field, fmt.Errorf("unknown field %q (want one of: %s)", key, strings.Join(names, ", ")))
				unknown[e] = true
				continue
			}
			w.walk(&e.Value, ft, field)
		}
		if len(unknown) > 0 {
			if path == "" {
				// An unknown top-level key may be any key the file
				// leaves out, misspelled: below the top, fail has
				// tainted the part the key is in.
				for _, name := range names {
					if !written[name] {
						w.tainted.add(name)
					}
				}
			}
			if m, ok := n.(*ast.MappingNode); ok {
				m.Values = slices.DeleteFunc(m.Values, func(e *ast.MappingValueNode) bool { return unknown[e] })
			} else {
				drop(np)
			}
		}
		if merges {
			w.merge(np, path, len(w.errs) == errs)
		}
	}
}

// maxMergeDepth bounds how deeply merge keys may merge mappings that hold
// merge keys, so that a mapping that merges itself ends.
const maxMergeDepth = 64

// maxMerged bounds how many mappings the merge keys of one file may read,
// aliases expanded: mappings that merge a mapping several times, merged
// several times in turn (a "billion laughs"), would otherwise make a few
// hundred bytes billions of mappings to read. A file written by hand is
// far from it.
const maxMerged = 100_000

// merge replaces the mapping at *np, whose merge keys the walk has
// checked, with its entries and, after them, those of the mappings its
// merge keys name that it does not have: a key written in the mapping
// wins over a merged one, and among merged mappings the first wins, as
// YAML's merge key says and as rule files read it. goccy's decoder would
// call a merged key written again a duplicate. When the merge keys cannot
// be merged, report tells whether to say why; false when the walk of the
// mapping has failed already, which most likely says it. The mapping is
// then taken out, and path tainted.
func (w *walker) merge(np *ast.Node, path string, report bool) {
	entries, err := w.entries(*np, 0)
	if err != nil {
		if report {
			w.fail(path, fmt.Errorf("merge key: %w", err))
		} else {
			w.tainted.add(path)
		}
		drop(np)
		return
	}
	flow := false
	if m, ok := (*np).(*ast.MappingNode); ok {
		flow = m.IsFlowStyle
	}
	*np = ast.Mapping((*np).GetToken(), flow, entries...)
}

// entries returns the entries of the mapping at n, an alias resolved,
// with those of its merge keys merged in as merge describes; none for
// null.
func (w *walker) entries(n ast.Node, depth int) ([]*ast.MappingValueNode, error) {
	if depth > maxMergeDepth {
		return nil, errors.New("mappings merge each other without end")
	}
	if w.merged++; w.merged > maxMerged {
		return nil, fmt.Errorf("expands the file to more than %d mappings: a mapping merged several times into mappings merged several times in turn", maxMerged)
	}
	n, err := w.resolve(n)
	if err != nil {
		return nil, err
	}
	if _, ok := n.(*ast.NullNode); ok {
		return nil, nil
	}
	values, ok := mapping(n)
	if !ok {
		return nil, errors.New("want a mapping or a list of mappings")
	}
	return yamlfile.Merge(values, func(v ast.Node) ([]*ast.MappingValueNode, error) {
		sources := []ast.Node{v}
		if r, err := w.resolve(v); err == nil {
			if seq, ok := r.(*ast.SequenceNode); ok {
				sources = seq.Values
			}
		}
		var entries []*ast.MappingValueNode
		for _, src := range sources {
			es, err := w.entries(src, depth+1)
			if err != nil {
				return nil, err
			}
			entries = append(entries, es...)
		}
		return entries, nil
	})
}

// resolve returns the node n stands for: the value of an anchor or a tag,
// the anchored node of an alias, which must come after its anchor.
func (w *walker) resolve(n ast.Node) (ast.Node, error) {
	for range maxMergeDepth {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			name := v.Value.GetToken().Value
			a, ok := w.anchors[name]
			if !ok || a.GetToken().Position.Offset > v.GetToken().Position.Offset {
				return nil, fmt.Errorf("unknown anchor %q", name)
			}
			n = a.Value
		default:
			return n, nil
		}
	}
	return nil, errors.New("aliases refer to each other without end")
}

// unexpanded reports whether n is a string holding a ${VAR} reference.
func unexpanded(n ast.Node) bool {
	switch v := n.(type) {
	case *ast.StringNode:
		return strings.Contains(v.Value, "${")
	case *ast.LiteralNode:
		return strings.Contains(v.Value.Value, "${")
	}
	return false
}

// ruleEntry matches the field of an entry of rules.
var ruleEntry = regexp.MustCompile(`^rules\[\d+\]$`)

// scalar returns the text of a scalar node, with ${VAR} expanded in a
// string, or reports that the node is not a scalar.
func (w *walker) scalar(np *ast.Node, path string, t reflect.Type) (string, bool) {
	var s *ast.StringNode
	switch v := (*np).(type) {
	case *ast.StringNode:
		s = v
	case *ast.LiteralNode:
		s = v.Value
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, true
	default:
		err := fmt.Errorf("want %s, got %s", describe(t), yamlfile.Kind(v))
		if ruleEntry.MatchString(path) {
			// Most likely a rule file given as --config, or rules
			// written into the configuration.
			err = fmt.Errorf("%w: rules lists rule files (paths or globs relative to this file), and the rules go in those files", err)
		}
		w.fail(path, err)
		drop(np)
		return "", false
	}
	v, err := yamlfile.ExpandString(s.Value)
	if err != nil {
		w.fail(path, err)
		drop(np)
		return "", false
	}
	if v == "" && s.Value != "" && optionalSecrets[path] {
		w.fail(path, fmt.Errorf("%s expands to nothing: set the variable, or leave %s out to go without it", s.Value, path))
		drop(np)
		return "", false
	}
	s.Value = v
	return v, true
}

// optionalSecrets are the fields whose empty value turns a protection off
// rather than failing validation: admin.token left empty serves the admin
// API without a token. Written with ${VAR} references that all expand to
// nothing (a variable set but empty, as a deploy script that failed to
// read a secret leaves it), such a field is an error, not a silent "off".
var optionalSecrets = map[string]bool{"admin.token": true}

// fieldsOf returns the YAML keys of struct type t with their types, and
// the keys in field order.
func fieldsOf(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := map[string]reflect.Type{}
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	return fields, names
}

func mapping(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}, true
	}
	return nil, false
}

func isScalar(n ast.Node) bool {
	switch v := n.(type) {
	case *ast.AnchorNode:
		return isScalar(v.Value)
	case *ast.TagNode:
		return isScalar(v.Value)
	case ast.ScalarNode:
		return n.Type() != ast.NullType // block literals ("|") included
	}
	return false
}

// firstToken returns the token where n starts: for a block mapping, its
// first key rather than the colon goccy gives it.
func firstToken(n ast.Node) *token.Token {
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		return m.Values[0].Key.GetToken()
	}
	return n.GetToken()
}

// describe names what a value of Go type t is written as in YAML.
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case durationType:
		return `a duration such as "10s"`
	case byteSizeType:
		return `a size such as "1MiB"`
	case periodType:
		return `a period such as "90d"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	}
	return t.String()
}

// describeValue names the YAML kind of a decoded value of Go type t (nil
// for null).
func describeValue(t reflect.Type) string {
	if t == nil {
		return "nothing"
	}
	return describe(t)
}
