package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/spf13/pflag"

	"github.com/hookd/hookd/configs"
	"github.com/hookd/hookd/internal/yamlfile"
)

const (
	// builtin is the file of the default configuration in configs.FS.
	builtin = "hookd.yaml"
	// builtinName is what errors and Config.Name call it.
	builtinName = "built-in hookd.yaml"
)

// Error is one problem in a configuration. Load locates it in the file; an
// Error from Validate on a Config built in code has only Field and Err.
// Its message never contains a secret value.
type Error struct {
	// File is the configuration file as given to Load, or "built-in
	// hookd.yaml"; "" when the problem is not in a file.
	File string
	// Line and Column are 1-based; 0 when unknown.
	Line, Column int
	// Field is the path of the offending key, e.g.
	// "sources[1].auth.basic.password" (indexes count from 0), or a
	// command-line flag such as "--listen"; "" for a problem of the whole
	// document, such as a syntax error.
	Field string
	// Err says what is wrong.
	Err error
}

// Error formats e as "file:line:col: field: problem", leaving out the parts
// that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	yamlfile.WritePosition(&b, e.File, e.Line, e.Column)
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// Known lists the names that registries hold at run time, so that
// validation can reject a provider or an event log backend that no package
// registered, without this package importing them. An empty list means
// that kind of name is not checked.
type Known struct {
	// Providers are the registered provider names (listener.Providers()).
	Providers []string
	// Backends are the registered event log backends (eventlog.Backends()).
	Backends []string
	// Source, when set, checks the provider-specific keys of a source
	// (verify, map) as the provider's adapter would read them. Its errors
	// are *Error values whose Field is relative to the source, e.g.
	// "verify.public_key"; Validate places them under the source.
	Source func(s Source) error
}

// Load reads the YAML configuration file at path, or the built-in default
// configs/hookd.yaml when path is "", then expands ${VAR} references,
// applies the defaults (SetDefaults) and validates the result (Validate)
// against the known names, if given. It sets Config.File to path.
//
// A value's ${VAR} is replaced with the environment variable VAR after the
// YAML is parsed, so the variable's text becomes the value whatever
// characters it holds; $${ stands for a literal "${". Keys are never
// expanded. Anchors, aliases and merge keys ("<<: *anchor") read as YAML
// says: a key written beside a merge key wins over a merged one. An unset
// variable, an unknown key and a value of the wrong type are errors. Every
// error is an *Error, or several joined with errors.Join in file order,
// located at the file, line and column of the offending field.
//
// Load reports every problem it can in one go: after an unknown key or a
// bad value it still validates the parts of the file that decoded, that
// is the other top-level keys and the other sources, but not the part the
// problem is in (nor, after an unknown top-level key, the keys the file
// leaves out), whose errors could follow from the problem: a misspelled
// provider is not also reported as a missing one. A syntax error is
// reported alone.
func Load(path string, known ...Known) (*Config, error) {
	return (&Flags{File: path}).Load(known...)
}

// Flags are the command-line flags shared by every command that loads the
// configuration: the file to load, and overrides that win over the file
// when given.
type Flags struct {
	// File is --config; "" loads the built-in default.
	File string
	// Listen is --listen, overriding listen.
	Listen string
	// AdminListen is --admin-listen, overriding admin.listen.
	AdminListen string
	// Data is --data, overriding data; a relative one resolves against
	// the working directory.
	Data string
	// Only, when set, names the top-level keys that the command needs
	// (a listing of the store needs data and store). ${VAR} and secret
	// files are then resolved, and values validated, in those keys alone,
	// so that a command run from a shell without the server's secrets
	// still loads the file: elsewhere a value holding ${VAR} loads as its
	// zero value. Every key is checked for shape all the same.
	Only []string
	// given are the names of the flags registered with Var that the
	// command line gave, empty or not.
	given map[string]bool
}

// needs reports whether field (a path such as "sources[0].auth.token") is
// under one of the keys of f.Only, or f.Only is empty.
func (f *Flags) needs(field string) bool {
	if len(f.Only) == 0 {
		return true
	}
	top := field
	if i := strings.IndexAny(field, ".["); i >= 0 {
		top = field[:i]
	}
	return slices.Contains(f.Only, top)
}

// Register adds --config, --listen, --admin-listen and --data to fs.
func (f *Flags) Register(fs *pflag.FlagSet) {
	f.Var(fs, "config", "configuration `file` (default: the built-in hookd.yaml)")
	f.Var(fs, "listen", "hooks listener `address`, overriding listen")
	f.Var(fs, "admin-listen", "admin listener `address`, overriding admin.listen")
	f.Var(fs, "data", "data `directory`, overriding data")
}

// flagUses are the flags Var registers, with the field each sets and what
// an empty one is told to give instead.
var flagUses = map[string]struct {
	field func(*Flags) *string
	want  string
}{
	"config":       {func(f *Flags) *string { return &f.File }, "give a configuration file, or leave --config out for the built-in hookd.yaml"},
	"listen":       {func(f *Flags) *string { return &f.Listen }, "give an address such as :8080, or leave --listen out for the configuration's listen"},
	"admin-listen": {func(f *Flags) *string { return &f.AdminListen }, "give an address such as 127.0.0.1:8081, or leave --admin-listen out for the configuration's admin.listen"},
	"data":         {func(f *Flags) *string { return &f.Data }, "give a directory, or leave --data out for the configuration's data"},
}

// Var adds the string flag name to fs: config, listen, admin-listen or
// data, which set File, Listen, AdminListen and Data. Given empty
// (--data ""), it is an error of Load, not the flag left out.
func (f *Flags) Var(fs *pflag.FlagSet, name, usage string) {
	use, ok := flagUses[name]
	if !ok {
		panic("config: no flag " + name)
	}
	fs.Var(&flagValue{p: use.field(f), name: name, flags: f}, name, usage)
}

// flagValue is a string flag that records in flags.given that it was
// given.
type flagValue struct {
	p     *string
	name  string
	flags *Flags
}

func (v *flagValue) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return *v.p
}

func (v *flagValue) Set(s string) error {
	*v.p = s
	if v.flags.given == nil {
		v.flags.given = map[string]bool{}
	}
	v.flags.given[v.name] = true
	return nil
}

func (v *flagValue) Type() string { return "string" }

// Load loads f.File as Load does, with the flags that were given replacing
// the file's values before the defaults and validation. A problem with an
// overridden value names the flag instead of the file.
func (f *Flags) Load(known ...Known) (*Config, error) {
	cfg, _, err := f.LoadPartial(known...)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadPartial is f.Load for a caller that goes on after the configuration's
// problems, as hookd check goes on to compile the rule files: with the
// error, it returns the Config as far as it decoded, with its defaults,
// and sound, which reports whether the top-level key key decoded as
// written and has no problem. cfg is nil when nothing decoded, as after a
// syntax error. Without an error, sound reports true for every key.
func (f *Flags) LoadPartial(known ...Known) (cfg *Config, sound func(key string) bool, err error) {
	for _, flag := range []string{"config", "listen", "admin-listen", "data"} {
		if use := flagUses[flag]; f.given[flag] && *use.field(f) == "" {
			return nil, nil, &Error{Field: "--" + flag, Err: fmt.Errorf("given empty: %s", use.want)}
		}
	}
	name := f.File
	var src []byte
	if f.File == "" {
		name = builtinName
		src, err = configs.FS.ReadFile(builtin)
	} else {
		src, err = os.ReadFile(f.File)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load config: %w", err)
	}
	cfg, idx, tainted, decodeErrs, err := decode(name, src, f.needs)
	if err != nil {
		return nil, nil, err
	}
	cfg.File = f.File
	for _, e := range resolveSecrets(cfg, name, idx, f.needs) {
		// The value is still "file:...", which Validate would take
		// for the secret itself.
		tainted.add(e.Field)
		decodeErrs = append(decodeErrs, e)
	}
	if f.File != "" {
		// Left out, data is its default as if written: a file gives the
		// same directory from wherever it is run.
		leftOut := cfg.Data == ""
		setDefault(&cfg.Data, defaultData)
		if !filepath.IsAbs(cfg.Data) {
			cfg.Data = filepath.Join(filepath.Dir(f.File), cfg.Data)
		}
		// Left out of a file that misspells a top-level key, data may
		// be written after all.
		if leftOut && f.Data == "" && !tainted.covers("data") {
			if e := movedData(name, cfg.Data); e != nil {
				tainted.add(e.Field)
				decodeErrs = append(decodeErrs, e)
			}
		}
	}
	if f.File != "" {
		for _, p := range []*string{&cfg.SMTP.CAFile, &cfg.TLS.Cert, &cfg.TLS.Key, &cfg.Admin.TLS.Cert, &cfg.Admin.TLS.Key} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(filepath.Dir(f.File), *p)
			}
		}
	}
	flagged := map[string]string{}
	for _, o := range []struct {
		field, flag, value string
		dst                *string
	}{
		{"listen", "--listen", f.Listen, &cfg.Listen},
		{"admin.listen", "--admin-listen", f.AdminListen, &cfg.Admin.Listen},
		{"data", "--data", f.Data, &cfg.Data},
	} {
		if o.value != "" {
			*o.dst = o.value
			flagged[o.field] = o.flag
		}
	}
	cfg.SetDefaults()
	var problems []error
	if err := cfg.Validate(known...); err != nil {
		problems = unjoin(err)
	}
	if f.File != "" {
		problems = append(problems, missingRuleFiles(cfg.Rules, filepath.Dir(f.File))...)
	}
	// "auth: {}" decodes as no auth at all; written, it is a mistake, not
	// a choice of no authentication, which is to leave auth out.
	for i, s := range cfg.Sources {
		field := fmt.Sprintf("sources[%d].auth", i)
		if _, written := idx.pos[field]; written && s.Auth.Basic == nil && s.Auth.Token == nil {
			problems = append(problems, &Error{Field: field, Err: errors.New("names no method: give basic or token, or leave auth out to accept any request")})
		}
	}
	// "tls: {}" is a mistake too: to serve plain HTTP is to leave tls
	// out.
	for field, t := range map[string]TLS{"tls": cfg.TLS, "admin.tls": cfg.Admin.TLS} {
		if _, written := idx.pos[field]; written && !t.Enabled() {
			problems = append(problems, &Error{Field: field, Err: errors.New("names no files: give cert and key, or leave tls out to serve plain HTTP")})
		}
	}
	// The problems of the parts that decoded are reported with those
	// of decoding, in file order; a part that did not decode, or whose
	// validation reads one that did not, is not validated, as its
	// problems could be mere consequences of the decoding's.
	problems = slices.DeleteFunc(problems, func(e error) bool {
		var ce *Error
		return errors.As(e, &ce) && tainted.covers(ce.Field)
	})
	errs := decodeErrs
	if err := errors.Join(problems...); err != nil {
		for _, e := range unjoin(err) {
			var ce *Error
			if !errors.As(e, &ce) {
				return nil, nil, err
			}
			if !f.needs(ce.Field) {
				continue
			}
			tainted.add(ce.Field)
			if flag, ok := flagged[ce.Field]; ok {
				ce.Field = flag
			} else {
				ce.File = name
				ce.Line, ce.Column = idx.locate(ce.Field)
			}
			errs = append(errs, ce)
		}
	}
	if len(errs) > 0 {
		return cfg, tainted.sound, sorted(errs)
	}
	return cfg, func(string) bool { return true }, nil
}

// HasWildcards reports whether p, an entry of rules, is a pattern (it
// holds one of filepath.Match's special characters) rather than a file.
func HasWildcards(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// missingRuleFiles returns a problem at each rules entry without wildcards
// that names no file (relative to dir, the configuration file's): the rules
// would not load, and the configuration's error says where the file was
// named. A pattern with wildcards may match files added later (serve
// reloads the rules); check and serve warn when it matches none.
func missingRuleFiles(patterns []string, dir string) []error {
	var errs []error
	for i, p := range patterns {
		if p == "" || HasWildcards(p) {
			continue
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, &Error{Field: fmt.Sprintf("rules[%d]", i), Err: fmt.Errorf("no file %s", p)})
		}
	}
	return errs
}

// Name returns the name of the file c was loaded from: c.File, or "built-in
// hookd.yaml" for the default.
func (c *Config) Name() string {
	if c.File == "" {
		return builtinName
	}
	return c.File
}

// decode parses src, checks it against Config's fields while expanding
// ${VAR}, and decodes it; in a field that expand reports false for, a
// value holding ${VAR} decodes as the zero value instead. It returns the
// index of field positions for locating validation errors.
//
// A bad value or an unknown key is one of problems, and the rest of the
// file still decodes: the bad value, and whatever an unknown key was
// meant to set, are zero in the Config, and tainted holds the parts of
// it that are therefore not to be validated. An error that leaves nothing
// sound to decode, such as a syntax error, is err.
func decode(name string, src []byte, expand func(field string) bool) (cfg *Config, idx *index, tainted taint, problems []*Error, err error) {
	file, err := parser.ParseBytes(src, 0)
	if err != nil {
		e := yamlError(name, nil, err)
		if hint := yamlfile.SyntaxHint(e.Err.Error()); hint != e.Err.Error() {
			e.Err = errors.New(hint)
		}
		e.Err = fmt.Errorf("syntax error: %w", e.Err)
		return nil, nil, nil, nil, e
	}
	w := newWalker(name, expand)
	var body ast.Node
	for _, doc := range file.Docs {
		switch {
		case doc.Body == nil:
		case body == nil:
			body = doc.Body
		default:
			tk := firstToken(doc.Body)
			w.errs = append(w.errs, &Error{File: name, Line: tk.Position.Line, Column: tk.Position.Column,
				Err: errors.New("want one YAML document, found more")})
			// The documents may be one configuration cut in two: the
			// first alone is not to be validated.
			w.tainted.add("")
		}
	}
	cfg = &Config{}
	if body == nil {
		return cfg, w.idx, w.tainted, w.errs, nil
	}
	w.anchors = yamlfile.Anchors(body)
	w.walk(&body, reflect.TypeFor[Config](), "")
	// The walk has checked the shape and taken out what it found wrong;
	// the decoder finds what is left, such as a word where an integer
	// belongs or a number that overflows one. It stops at the first, so
	// each is taken out in turn and the file decoded again: a field is
	// taken out once, so this ends.
	for {
		err := yaml.NodeToValue(body, cfg, yaml.DisallowUnknownField())
		if err == nil {
			return cfg, w.idx, w.tainted, w.errs, nil
		}
		e := yamlError(name, w.idx, err)
		if e.Field == "" || !w.dropField(e.Field) {
			if len(w.errs) > 0 {
				// Most likely a consequence of what the walk
				// found: its errors are the ones to show.
				return nil, nil, nil, nil, sorted(w.errs)
			}
			return nil, nil, nil, nil, e
		}
		w.errs = append(w.errs, e)
		cfg = &Config{}
	}
}

// taint holds the parts of a Config that did not decode as written: the
// top-level keys, and each item of sources apart ("sources[1]"); "" for
// the whole document.
type taint map[string]bool

// add taints the part that field is in.
func (t taint) add(field string) { t[part(field)] = true }

// reads returns the top-level keys outside its own part whose values
// the validation of field reads: admin.listen must not take the port of
// listen, admin.query_timeout must be shorter than limits.write_timeout
// (and defaults from it), and a source's max_body must fit in
// limits.max_inflight. A check of Validate that reads across parts must
// be listed here.
func reads(field string) []string {
	switch {
	case field == "admin.listen":
		return []string{"listen"}
	case field == "admin.query_timeout",
		strings.HasPrefix(field, "sources[") && strings.HasSuffix(field, "].max_body"):
		return []string{"limits"}
	}
	return nil
}

// covers reports whether a validation error of field may follow from a
// part that did not decode: field is in a tainted part, or its check
// reads one.
func (t taint) covers(field string) bool {
	if t[""] || t[part(field)] || t[topKey(field)] {
		return true
	}
	for _, r := range reads(field) {
		if t[r] {
			return true
		}
	}
	return false
}

// sound reports whether no part of the top-level key key is tainted, nor
// the whole document.
func (t taint) sound(key string) bool {
	for p := range t {
		if p == "" || topKey(p) == key {
			return false
		}
	}
	return true
}

// part returns the part of the configuration that field is in: its
// top-level key, or the item of sources ("sources[1]" for
// "sources[1].auth.token").
func part(field string) string {
	top := topKey(field)
	if top == "sources" && strings.HasPrefix(field, "sources[") {
		return field[:strings.IndexByte(field, ']')+1]
	}
	return top
}

// topKey returns the top-level key of field: "sources" for
// "sources[1].name".
func topKey(field string) string {
	if i := strings.IndexAny(field, ".["); i >= 0 {
		return field[:i]
	}
	return field
}

// yamlError turns an error of the YAML parser or decoder into an *Error,
// without the source excerpt goccy adds.
func yamlError(name string, idx *index, err error) *Error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return &Error{File: name, Err: err}
	}
	e := &Error{File: name, Err: errors.New(ye.GetMessage())}
	tk := ye.GetToken()
	e.Line, e.Column = tk.Position.Line, tk.Position.Column
	if idx != nil {
		if field, ok := idx.tok[tk]; ok {
			e.Field = field
			e.Line, e.Column = idx.locate(field)
		}
	}
	var (
		te *yaml.TypeError
		ue *yaml.UnexpectedNodeTypeError
		oe *yaml.OverflowError
	)
	switch {
	case errors.As(err, &te):
		e.Err = fmt.Errorf("want %s, got %s", describe(te.DstType), describeValue(te.SrcType))
	case errors.As(err, &ue):
		e.Err = fmt.Errorf("want %s, got %s", yamlfile.KindName(ue.Expected), yamlfile.KindName(ue.Actual))
	case errors.As(err, &oe):
		e.Err = fmt.Errorf("number out of range for %s", describe(oe.DstType))
	}
	return e
}

// movedData refuses the data directory a file that leaves data out now
// gets, beside the file, when it does not exist while ./data in the
// working directory holds hookd's files: that is where hookd looked before
// a file's default followed the file, and starting on an empty log and
// store beside the file would take the provider's retries of events
// already stored for new ones.
func movedData(file, dir string) *Error {
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	old, err := filepath.Abs(defaultData)
	if err != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(old, "hookd.db")); err != nil {
		return nil
	}
	return &Error{File: file, Field: "data", Err: fmt.Errorf(
		"left out, data is %s, beside this file, which does not exist, while %s in the working directory holds hookd's files (where hookd looked before): write data: %s in the file, or pass --data, to go on with them",
		dir, old, old)}
}

// unjoin returns the errors joined in err, and in any join among them: a
// provider's checker joins the errors of its parts (verify.hmac, map), each
// already a join, and every one of them is a problem to show.
func unjoin(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var errs []error
	for _, e := range j.Unwrap() {
		errs = append(errs, unjoin(e)...)
	}
	return errs
}

// sorted returns errs in file order as one error.
func sorted(errs []*Error) error {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		// Errors without a line (flags, missing top-level keys) go last.
		if (a.Line == 0) != (b.Line == 0) {
			return cmp.Compare(b.Line, a.Line)
		}
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
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
