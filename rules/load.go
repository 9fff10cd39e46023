package rules

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/internal/yamlfile"
)

// Options configure Load.
type Options struct {
	// Dir is the directory that relative patterns resolve against: the
	// directory of the configuration file that lists them. "" means the
	// working directory.
	Dir string
	// Action, when set, checks each action's type and parameters (as
	// written, after ${VAR} expansion) against the actions registry; its
	// error becomes a load error at the action, or at one parameter when it
	// is a *ParamError. Nil accepts any action.
	Action func(typ string, params map[string]any) error
	// Check, when set, returns the check of an action of type typ whose
	// parameters, as written (after ${VAR} expansion), are written,
	// called at load, or nil for none. The check is called with the action's
	// parameters as rendered for an event, and the event's email, when
	// the rule fires: its error fails the rule on that event (no job is
	// made), located at the action, or at one parameter when it is a
	// *ParamError.
	Check func(typ string, written map[string]any) func(params map[string]any, email string) error
	// Body, when set, tells whether the top-level parameter param of an
	// action of type typ holds a message body, and whether it is HTML. A
	// body is a template file or an inline template (see the package
	// documentation); nil means no action has one.
	Body func(typ, param string) (body, html bool)
	// JSON, when set, lists the top-level parameters of an action of type
	// typ, with params as written, whose text is JSON: what a template in
	// one prints is escaped for where it stands in the JSON (see the
	// package documentation). Nil means no action has one.
	JSON func(typ string, params map[string]any) []string
	// Args, when set, names the top-level parameter of an action of type
	// typ with the parameters params (as written) that is a program's
	// argument list, or "" for none: an argument that may start with what
	// the event holds, before any "--" argument, is a warning
	// (Set.Warnings), since a value that starts with - would reach the
	// program as an option. Nil checks nothing.
	Args func(typ string, params map[string]any) string
	// Data, when set, says which fields the data of every event the
	// rules see may have: a data.X in a when or once whose X is none of
	// them is a warning (Set.Warnings), since it is nil on every event.
	// Nil checks nothing, as when a source's events may have any field.
	Data *Data
}

// Data is the top-level fields that the events' data may have.
type Data struct {
	// Providers are the providers of the events, for the warning.
	Providers []string
	// Fields are the fields.
	Fields []string
}

// Load reads the rule files that patterns name, in order (a pattern with
// glob characters matches files in name order, and one that matches none
// adds none; a plain path must exist; a file named twice loads once),
// compiles every rule and returns the set.
//
// Nothing is returned but errors when anything is wrong: every problem of
// every file is an *Error located at its file, line and column, joined with
// errors.Join in file order. A YAML syntax error, an unknown key, a value of
// the wrong kind, an unset ${VAR}, an expression that does not parse or type
// check (its error carries expr's caret snippet), a bad window or field
// given literally to count or last, a bad cooldown or retry policy, a
// template that does not parse, an action the Options.Action hook rejects
// and a rule name used twice across the files (a rule with other problems
// keeps its name) are all load errors. So is a file with no document at
// all, which is what a file caught half-written looks like; a file with
// "rules: []" loads no rules. A required key is not reported missing where
// an unknown key, which may be that key misspelled, stands beside it.
//
// ctx stops Load between two files.
func Load(ctx context.Context, patterns []string, opts Options) (*Set, error) {
	set, _, err := compile(ctx, read(patterns, opts.Dir), opts)
	return set, err
}

// source is a rule file as read: its contents, or why it could not be read.
type source struct {
	name string
	src  []byte
	err  *Error
}

// read reads the files that patterns name; a pattern that is not valid is
// a source with only an error.
func read(patterns []string, dir string) []source {
	files, errs := resolve(patterns, dir)
	var sources []source
	for _, e := range errs {
		sources = append(sources, source{name: e.File, err: e})
	}
	for _, name := range files {
		src, err := os.ReadFile(name)
		s := source{name: name, src: src}
		if err != nil {
			s.err = readError(name, err)
		}
		sources = append(sources, s)
	}
	return sources
}

// templateSource is a template file as read, for a Watcher to tell when
// it changes: its contents, or the error reading it gave.
func templateSource(name string, src []byte, err error) source {
	s := source{name: name, src: src}
	if err != nil {
		s.err = &Error{File: name, Err: err}
	}
	return s
}

// compile compiles the sources read into a Set. It also returns the
// template files the rules name, as read, whether or not the sources
// compile: a Watcher follows them with the rule files.
func compile(ctx context.Context, sources []source, opts Options) (*Set, []source, error) {
	var (
		all       []*Rule
		files     []string
		errs      []*Error
		warns     []*Error
		byName    = map[string]*Rule{}
		templates []source
	)
	for _, s := range sources {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("load rules: %w", err)
		}
		if s.err != nil {
			errs = append(errs, s.err)
			continue
		}
		files = append(files, s.name)
		l := &loader{file: newSrcFile(s.name, s.src), opts: &opts, templates: &templates}
		for _, r := range l.load(s.src) {
			if first, ok := byName[r.Name]; ok {
				l.failAt(r.namePos, "name", r.Name, fmt.Errorf("duplicate rule name %q (first defined at %s:%d)", r.Name, first.File, first.Line), "")
				continue
			}
			byName[r.Name] = r.Rule
			if !r.broken {
				all = append(all, r.Rule)
			}
		}
		errs = append(errs, l.errs...)
		warns = append(warns, l.warns...)
	}
	if len(errs) > 0 {
		return nil, templates, joinErrors(errs)
	}
	set := newSet(files, all)
	set.warnings = warns
	return set, templates, nil
}

// readError turns a failure to read a rule file into an *Error that keeps
// the cause (such as fs.ErrNotExist) without repeating the path.
func readError(name string, err error) *Error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &Error{File: name, Err: fmt.Errorf("read rule file: %w", err)}
}

// resolve returns the files that patterns name, relative ones joined to
// dir.
func resolve(patterns []string, dir string) ([]string, []*Error) {
	var (
		files []string
		errs  []*Error
		seen  = map[string]bool{}
	)
	for _, p := range patterns {
		p = under(dir, p)
		matches := []string{p}
		if config.HasWildcards(p) {
			var err error
			if matches, err = filepath.Glob(p); err != nil {
				errs = append(errs, &Error{File: p, Err: fmt.Errorf("invalid pattern: %w", err)})
				continue
			}
		}
		for _, m := range matches {
			m = filepath.Clean(m)
			if !seen[m] {
				seen[m] = true
				files = append(files, m)
			}
		}
	}
	return files, errs
}

// Unmatched returns the patterns, relative ones joined to dir, that hold
// wildcards and match no file. Load accepts them, since files may be added
// later (serve reloads), but a typo in one disables its rules without a
// word, so check and serve warn about them.
func Unmatched(patterns []string, dir string) []string {
	var out []string
	for _, p := range patterns {
		if p = under(dir, p); !config.HasWildcards(p) {
			continue
		}
		if matches, err := filepath.Glob(p); err == nil && len(matches) == 0 {
			out = append(out, p)
		}
	}
	return out
}

// under returns p joined to dir when p is relative and dir is set.
func under(dir, p string) string {
	if !filepath.IsAbs(p) && dir != "" {
		return filepath.Join(dir, p)
	}
	return p
}

// joinErrors returns errs sorted by file and position as one error.
func joinErrors(errs []*Error) error {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	if len(errs) == 1 {
		return errs[0]
	}
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return errors.Join(joined...)
}

// pos is a 1-based line and column in a rule file.
type pos struct{ line, col int }

// maxAliasDepth bounds how deeply aliases may refer to aliases, so that an
// anchor that contains an alias of itself ends.
const maxAliasDepth = 64

// maxValues bounds how many mappings and parameter values one rule file
// may be read as, aliases expanded: anchors repeated inside anchors that
// are repeated (a "billion laughs") would otherwise be expanded for ever,
// a few hundred bytes making billions of values. A rule file written by
// hand is far from it.
const maxValues = 100_000

// loader reads one rule file.
type loader struct {
	file    *srcFile
	opts    *Options
	anchors map[string]*ast.AnchorNode
	errs    []*Error
	warns   []*Error
	// templates collects the template files read, for compile's caller.
	templates *[]source

	// rule and index identify the rule being read, for error messages:
	// rule is its name once known to be valid.
	rule  string
	index int
	// values counts the mappings and parameter values read (see
	// maxValues).
	values int
}

var ruleKeys = []string{"name", "description", "when", "once", "cooldown", "actions"}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// load parses the file and returns its rules that have a valid name,
// those with problems marked broken; l.errs holds the problems.
func (l *loader) load(src []byte) []*loaded {
	file, err := parser.ParseBytes(src, 0)
	if err != nil {
		l.syntaxError(err)
		return nil
	}
	l.index = -1
	var body ast.Node
	for _, doc := range file.Docs {
		switch {
		case doc.Body == nil:
		case body == nil:
			body = doc.Body
		default:
			l.fail(doc.Body, "", errors.New("want one YAML document, found more"))
		}
	}
	if body == nil {
		l.errs = append(l.errs, &Error{File: l.file.name, Err: errors.New("empty file: want a rules: list")})
		return nil
	}
	l.anchors = yamlfile.Anchors(body)

	entries, ok := l.mapping(body, 0)
	if !ok {
		l.fail(body, "", fmt.Errorf("want a mapping with a rules: list, got %s", yamlfile.Kind(body)))
		return nil
	}
	var list ast.Node
	unknown := false
	for _, e := range entries {
		if key := yamlfile.KeyText(e.Key); key != "rules" {
			l.fail(e.Key, key, fmt.Errorf("unknown field %q (want rules)", key))
			unknown = true
			continue
		}
		list = e.Value
	}
	if list == nil {
		// An unknown key is most likely rules misspelled.
		if !unknown {
			l.fail(body, "rules", errors.New("required"))
		}
		return nil
	}
	items, ok := l.sequence(list)
	if !ok {
		l.fail(list, "rules", fmt.Errorf("want a list of rules, got %s", yamlfile.Kind(l.resolve(list, 0))))
		return nil
	}
	var rules []*loaded
	names := map[string]*loaded{}
	for i, item := range items {
		r := l.readRule(i, item)
		if r == nil {
			continue
		}
		if first, ok := names[r.Name]; ok {
			l.failAt(r.namePos, "name", r.Name, fmt.Errorf("duplicate rule name %q (first defined at line %d)", r.Name, first.Line), "")
			continue
		}
		// A broken rule's name is taken all the same, so that a second
		// rule of that name is reported now, not once the first is
		// mended.
		names[r.Name] = r
		rules = append(rules, r)
	}
	return rules
}

// syntaxError records an error of the YAML parser, without the source
// excerpt goccy adds.
func (l *loader) syntaxError(err error) {
	e := &Error{File: l.file.name, Err: fmt.Errorf("syntax error: %w", err)}
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		tk := ye.GetToken()
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
		e.Err = fmt.Errorf("syntax error: %s", yamlfile.SyntaxHint(ye.GetMessage()))
	}
	l.errs = append(l.errs, e)
}

// loaded is a rule as read, with where its name is for duplicate errors.
type loaded struct {
	*Rule
	namePos pos
	// broken is set when the rule has problems: only its name counts.
	broken bool
}

// readRule reads the rule at index i of the rules list; nil when it has
// no valid name, broken when it has other problems.
func (l *loader) readRule(i int, item ast.Node) *loaded {
	l.rule, l.index = "", i
	nerr := len(l.errs)
	entries, ok := l.mapping(item, 0)
	if !ok {
		l.fail(item, "", fmt.Errorf("want a rule (a mapping), got %s", yamlfile.Kind(l.resolve(item, 0))))
		return nil
	}
	start := l.at(item)
	r := &loaded{Rule: &Rule{File: l.file.name, Line: start.line}}
	// The name comes first, so that the other errors can name the rule.
	for _, e := range entries {
		if yamlfile.KeyText(e.Key) != "name" {
			continue
		}
		if s, ok := l.text(e.Value, "name", "a rule name"); ok {
			r.namePos = l.at(e.Value)
			if namePattern.MatchString(s.text) {
				r.Name = s.text
				l.rule = s.text
			} else {
				l.fail(e.Value, "name", fmt.Errorf("invalid rule name %q: use letters, digits, '.', '_' and '-', starting with a letter or a digit", s.text))
			}
		}
	}
	seen, unknown := map[string]bool{}, false
	for _, e := range entries {
		key := yamlfile.KeyText(e.Key)
		seen[key] = true
		switch key {
		case "name":
		case "description":
			if s, ok := l.text(e.Value, key, "a string"); ok {
				r.Description = s.text
			}
		case "when", "once":
			p, ok := l.expression(e.Value, key)
			if !ok {
				continue
			}
			if key == "when" {
				r.When, r.when = p.src.raw, p
				r.guard = guardOf(p.tree.Node)
				r.native = nativeOf(p.tree.Node)
				if g, ok := fieldGuardOf(p.tree.Node); ok {
					r.fieldGuard = &g
				}
				if r.guard != nil {
					var err error
					if r.admitted, err = unguarded(p); err != nil {
						// when compiled whole, so its part compiles too.
						l.exprError(p.strValue, key, err)
						continue
					}
				}
			} else {
				r.Once, r.once = p.src.raw, p
			}
			r.usesData = r.usesData || usesData(p.tree.Node)
		case "cooldown":
			if s, ok := l.text(e.Value, key, `a duration such as "1h"`); ok {
				d, err := parseDuration(s.text)
				if err != nil {
					l.fail(e.Value, key, fmt.Errorf("invalid duration %w", err))
				}
				r.Cooldown = d
			}
		case "actions":
			r.Actions = l.actions(e.Value)
			for _, a := range r.Actions {
				r.rendersData = r.rendersData || a.params.usesData()
			}
		default:
			l.fail(e.Key, key, fmt.Errorf("unknown field %q (want one of: %s)", key, strings.Join(ruleKeys, ", ")))
			unknown = true
		}
	}
	// An unknown key may be any key the rule leaves out, misspelled.
	for _, key := range []string{"name", "when", "actions"} {
		if !seen[key] && !unknown {
			l.failAt(start, key, l.rule, errors.New("required"), "")
		}
	}
	r.broken = len(l.errs) > nerr
	if r.Name == "" {
		return nil
	}
	return r
}

// actions reads a rule's actions list.
func (l *loader) actions(n ast.Node) []*Action {
	items, ok := l.sequence(n)
	if !ok {
		l.fail(n, "actions", fmt.Errorf("want a list of actions, got %s", yamlfile.Kind(l.resolve(n, 0))))
		return nil
	}
	if len(items) == 0 {
		l.fail(n, "actions", errors.New("want at least one action"))
		return nil
	}
	var actions []*Action
	for i, item := range items {
		if a := l.action(i, item); a != nil {
			actions = append(actions, a)
		}
	}
	return actions
}

// defaultPolicy is the Retry of an action without retry.
var defaultPolicy = func() actions.Policy {
	p, err := actions.ParsePolicy(actions.DefaultRetry)
	if err != nil {
		panic(err)
	}
	return p
}()

// action reads the action at index i of a rule's actions.
func (l *loader) action(i int, item ast.Node) *Action {
	field := fmt.Sprintf("actions[%d]", i)
	entries, ok := l.mapping(item, 0)
	if !ok {
		l.fail(item, field, fmt.Errorf(`want an action such as "- log: {}", got %s`, yamlfile.Kind(l.resolve(item, 0))))
		return nil
	}
	a := &Action{Index: i, Retry: defaultPolicy, Line: l.at(item).line}
	var typeEntry *ast.MappingValueNode
	for _, e := range entries {
		key := yamlfile.KeyText(e.Key)
		if key == "retry" {
			if s, ok := l.text(e.Value, field+".retry", `a retry policy such as "10x30s,10x30m" or "none"`); ok {
				p, err := actions.ParsePolicy(s.text)
				if err != nil {
					l.fail(e.Value, field+".retry", err)
				}
				a.Retry = p
			}
			continue
		}
		if typeEntry != nil {
			l.fail(e.Key, field, fmt.Errorf("want one action per list item, found %s and %s", yamlfile.KeyText(typeEntry.Key), key))
			continue
		}
		typeEntry = e
	}
	if typeEntry == nil {
		l.fail(item, field, errors.New("want an action type, such as log or http, beside retry"))
		return nil
	}
	a.Type = yamlfile.KeyText(typeEntry.Key)
	field += "." + a.Type
	if a.Type == "" {
		l.fail(typeEntry.Key, field, errors.New("empty action type"))
		return nil
	}
	pl := &paramLoader{loader: l, field: field, typ: a.Type, pos: map[string]pos{"": l.at(typeEntry.Key)}}
	params, ok := pl.params(typeEntry.Value)
	if !ok {
		return nil
	}
	a.params = params
	if l.opts.Check != nil {
		a.check = l.opts.Check(a.Type, a.Params())
	}
	if l.opts.Action != nil {
		if err := l.opts.Action(a.Type, a.Params()); err != nil {
			p, f := pl.pos[""], field
			var pe *ParamError
			if errors.As(err, &pe) {
				if at, ok := pl.pos[pe.Param]; ok {
					p = at
					f = joinPath(field, pe.Param)
					err = pe.Err
				}
			}
			l.failAt(p, f, l.rule, err, "")
			return nil
		}
	}
	if l.opts.JSON != nil && !pl.escapeJSON(params, l.opts.JSON(a.Type, a.Params())) {
		return nil
	}
	checkParams(params)
	if l.opts.Args != nil {
		pl.checkArgs(params, l.opts.Args(a.Type, a.Params()))
	}
	return a
}

// text returns the string at n with ${VAR} expanded, or reports that n is
// not a string (a number or boolean counts as its text, like "0123"). want
// names what belongs there, for the error.
func (l *loader) text(n ast.Node, field, want string) (*strValue, bool) {
	n = l.resolve(n, 0)
	if n == nil {
		return nil, false
	}
	s, ok := newScalar(l.file, n)
	if !ok {
		l.fail(n, field, fmt.Errorf("want %s, got %s", want, yamlfile.Kind(n)))
		return nil, false
	}
	x, err := expand(s.raw)
	if err != nil {
		var ee *yamlfile.ExpandError
		errors.As(err, &ee)
		line, col := s.position(utf8.RuneCountInString(s.raw[:ee.Offset]))
		l.failAt(pos{line, col}, field, l.rule, err, "")
		return nil, false
	}
	return &strValue{src: s, x: x, text: x.text}, true
}

// strValue is a string value: where it is and what it expands to.
type strValue struct {
	src  *scalar
	x    *expansion
	text string
}

// locate returns the file position of rune offset off of the expanded
// text, and expr's caret snippet at that place of the text as written.
func (t *strValue) locate(off int) (p pos, snippet string) {
	raw := t.x.rawOffset(off)
	p.line, p.col = t.src.position(raw)
	return p, caret(t.src.raw, raw)
}

// fail records err at node n.
func (l *loader) fail(n ast.Node, field string, err error) {
	l.failAt(l.at(n), field, l.rule, err, "")
}

// failAt records err at p in the rule named rule ("" for none, then field
// is prefixed with the rule's index).
//
// Past maxValues it records nothing more: the rest of the file was not
// read, and its errors would follow from that.
func (l *loader) failAt(p pos, field, rule string, err error, snippet string) {
	if l.values > maxValues+1 {
		return
	}
	if rule == "" && l.index >= 0 {
		field = joinPath(fmt.Sprintf("rules[%d]", l.index), field)
	}
	l.errs = append(l.errs, &Error{File: l.file.name, Line: p.line, Column: p.col, Rule: rule, Field: field, Err: err, Snippet: snippet})
}

// warnAt records the warning msg at p in the rule being read.
func (l *loader) warnAt(p pos, field, msg, snippet string) {
	l.warns = append(l.warns, &Error{File: l.file.name, Line: p.line, Column: p.col, Rule: l.rule, Field: field, Err: errors.New(msg), Snippet: snippet})
}

// at returns where an error about node n points: its first token, which for
// a block mapping is its first key.
func (l *loader) at(n ast.Node) pos {
	if n == nil {
		return pos{}
	}
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	if mv, ok := n.(*ast.MappingValueNode); ok {
		n = mv.Key
	}
	tk := n.GetToken()
	if lit, ok := n.(*ast.LiteralNode); ok {
		tk = lit.Start
	}
	if tk == nil {
		return pos{}
	}
	if _, ok := n.(ast.ScalarNode); ok {
		line, col := l.file.position(l.file.tokenStart(tk))
		return pos{line, col}
	}
	return pos{tk.Position.Line, tk.Position.Column}
}

// resolve returns the node n stands for: the value of an anchor or tag,
// the anchored node of an alias. It reports an unknown alias and returns
// nil.
func (l *loader) resolve(n ast.Node, depth int) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			name := v.Value.GetToken().Value
			target, ok := l.anchors[name]
			if !ok || depth >= maxAliasDepth {
				l.fail(v, "", fmt.Errorf("unknown anchor %q", name))
				return nil
			}
			n = target.Value
			depth++
		default:
			return n
		}
	}
}

// count counts one more mapping or parameter value read at n. Past
// maxValues it fails at n, once, and reports false: the caller reads no
// further.
func (l *loader) count(n ast.Node) bool {
	l.values++
	if l.values == maxValues+1 {
		l.fail(n, "", fmt.Errorf("aliases expand the file to more than %d mappings and values: an anchor repeated inside anchors that are repeated", maxValues))
		l.values++
	}
	return l.values <= maxValues
}

// mapping returns the entries of the mapping at n, with the entries of
// merge keys ("<<: *anchor") added after its own, a key written in the
// mapping winning over a merged one.
func (l *loader) mapping(n ast.Node, depth int) ([]*ast.MappingValueNode, bool) {
	if !l.count(n) {
		return nil, false
	}
	var values []*ast.MappingValueNode
	switch m := l.resolve(n, depth).(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		return nil, false
	}
	entries, err := yamlfile.Merge(values, func(v ast.Node) ([]*ast.MappingValueNode, error) {
		if depth >= maxAliasDepth {
			l.fail(v, "", errors.New("merge keys nested too deeply"))
			return nil, errFailed
		}
		sources := []ast.Node{v}
		if seq, ok := l.resolve(v, depth).(*ast.SequenceNode); ok {
			sources = seq.Values
		}
		var entries []*ast.MappingValueNode
		for _, src := range sources {
			es, ok := l.mapping(src, depth+1)
			if !ok {
				l.fail(v, "", errors.New("merge key: want a mapping or a list of mappings"))
				return nil, errFailed
			}
			entries = append(entries, es...)
		}
		return entries, nil
	})
	return entries, err == nil
}

// errFailed stops yamlfile.Merge after the loader recorded why.
var errFailed = errors.New("failed")

// sequence returns the items of the list at n; null is an empty list.
func (l *loader) sequence(n ast.Node) ([]ast.Node, bool) {
	switch s := l.resolve(n, 0).(type) {
	case *ast.SequenceNode:
		return s.Values, true
	case *ast.NullNode:
		return nil, true
	}
	return nil, false
}

func joinPath(path, key string) string {
	switch {
	case path == "":
		return key
	case key == "":
		return path
	case strings.HasPrefix(key, "["):
		return path + key
	}
	return path + "." + key
}

// isText tells whether a token of type t is a scalar whose text can stand
// for a string.
func isText(t token.Type) bool {
	switch t {
	case token.StringType, token.DoubleQuoteType, token.SingleQuoteType, token.LiteralType, token.FoldedType,
		token.IntegerType, token.BinaryIntegerType, token.OctetIntegerType, token.HexIntegerType,
		token.FloatType, token.BoolType, token.InfinityType, token.NanType:
		return true
	}
	return false
}
