// Package mapping compiles a source's map: expr expressions that take a
// JSON payload (and the request's headers) to the fields of an event. It is
// shared by the adapters of providers whose payload has no fixed shape
// (generic, standardwebhooks) and internal because it is their detail.
package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
)

// shadowed are expr built-ins named like fields payloads commonly have
// ("type", "date", "count", ...): they are turned off so that the name reads
// the field. payload["name"] reads any field whatever its name.
var shadowed = []string{"type", "date", "duration", "count", "first", "last", "get", "keys", "values", "now"}

var options = func() []expr.Option {
	opts := []expr.Option{expr.AllowUndefinedVariables(), expr.Timezone("UTC"), expr.Patch(headerKeys{}), expr.Patch(nilSafe{})}
	for _, b := range shadowed {
		opts = append(opts, expr.DisableBuiltin(b))
	}
	return opts
}()

// headerKeys puts the constant names that index headers in canonical form,
// the form Env's headers has them in, so that a header is found however its
// name is written, as in HTTP: headers["X-GitHub-Event"], headers.etag and
// "x-github-event" in headers all read X-Github-Event.
type headerKeys struct{}

func (headerKeys) Visit(node *ast.Node) {
	var key ast.Node
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if isHeaders(n.Node) {
			key = n.Property
		}
	case *ast.BinaryNode:
		if n.Operator == "in" && isHeaders(n.Right) {
			key = n.Left
		}
	}
	if s, ok := key.(*ast.StringNode); ok {
		s.Value = http.CanonicalHeaderKey(s.Value)
	}
}

func isHeaders(n ast.Node) bool {
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == "headers"
}

// nilSafe reads every path as if written with ?.: meta.campaign is nil, not
// an error, when meta is absent or null, so that an optional field
// (campaign, email, ...) that one kind of item lacks leaves the event's
// field empty instead of failing its whole delivery, and a required one
// (id, type) fails with Apply's error that names it. A path through a value
// that is there but not an object (a string, a number) is still an error.
type nilSafe struct{}

func (nilSafe) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.MemberNode)
	if !ok || n.Optional || n.Method {
		return // written with ?. (in a chain already), or a method call
	}
	n.Optional = true
	ast.Patch(node, &ast.ChainNode{Node: n})
}

// Mapping is a compiled config.Map. Fields without an expression keep
// what the adapter set. It is safe for concurrent use.
type Mapping struct {
	fields []field
}

type field struct {
	name, src string // the map key and its expression, for errors
	prog      *vm.Program
	set       func(e *event.Event, v any) error
	// required fields (id, type) must give a value: an event without a
	// type matches no rule, and one whose mapped id is missing would need
	// another id, which could make two deliveries one.
	required bool
}

// Compile compiles every expression of m. Its errors are *config.Error
// values with Field "map.KEY", joined. Apply fails on an item for which
// map.id or map.type gives nothing.
func Compile(m config.Map) (*Mapping, error) {
	var (
		mp   Mapping
		errs []error
	)
	for _, f := range []struct {
		key, src string
		set      func(e *event.Event, v any) error
	}{
		{"type", m.Type, func(e *event.Event, v any) (err error) { e.Type, err = str(v); return }},
		{"time", m.Time, func(e *event.Event, v any) (err error) { e.Time, err = timeOf(v); return }},
		{"id", m.ID, func(e *event.Event, v any) (err error) { e.ID, err = str(v); return }},
		{"email", m.Email, func(e *event.Event, v any) error {
			s, err := str(v)
			e.Email, e.Domain = event.NormalizeEmail(s)
			return err
		}},
		{"message_id", m.MessageID, func(e *event.Event, v any) (err error) { e.MessageID, err = str(v); return }},
		{"campaign", m.Campaign, func(e *event.Event, v any) (err error) { e.Campaign, err = str(v); return }},
		{"category", m.Category, func(e *event.Event, v any) error {
			s, err := str(v)
			if err == nil && !event.Category(s).Valid() {
				err = fmt.Errorf("%q is not a category (want one of %v)", s, event.Categories)
			}
			e.Category = event.Category(s)
			return err
		}},
		{"bounce_class", m.BounceClass, func(e *event.Event, v any) error {
			s, err := str(v)
			if err == nil && !event.BounceClass(s).Valid() {
				err = fmt.Errorf("%q is not a bounce class (want hard or soft)", s)
			}
			e.BounceClass = event.BounceClass(s)
			return err
		}},
	} {
		if strings.TrimSpace(f.src) == "" {
			continue
		}
		prog, err := expr.Compile(f.src, options...)
		if err != nil {
			errs = append(errs, &config.Error{Field: "map." + f.key, Err: fmt.Errorf("compile: %s", firstLine(err.Error()))})
			continue
		}
		mp.fields = append(mp.fields, field{name: f.key, src: f.src, prog: prog, set: f.set, required: f.key == "id" || f.key == "type"})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &mp, nil
}

// Empty reports whether m maps nothing.
func (m *Mapping) Empty() bool { return m == nil || len(m.fields) == 0 }

// Apply evaluates the expressions over item (a JSON value from Unmarshal,
// so that numbers are exact) and h, and sets the fields of e. A nil result
// leaves a field as it is, but id and type must give a value other than
// nil or "": an error names the field otherwise.
func (m *Mapping) Apply(e *event.Event, item any, h http.Header) error {
	if m.Empty() {
		return nil
	}
	env := Env(item, h)
	for _, f := range m.fields {
		v, err := expr.Run(f.prog, env)
		if err != nil {
			return fmt.Errorf("map.%s: %s", f.name, firstLine(err.Error()))
		}
		if v == nil || v == "" {
			if f.required {
				return fmt.Errorf("map.%s: `%s` gave nothing (null, \"\" or absent), and an event needs its %s", f.name, f.src, f.name)
			}
			if v == nil {
				continue
			}
		}
		if err := f.set(e, v); err != nil {
			return fmt.Errorf("map.%s: %w", f.name, err)
		}
	}
	return nil
}

// Env is the environment expressions run in: the item's fields when it is
// an object, "payload" for the item, "headers" for the request's headers
// by canonical name (the first value of each; Compile puts the constant
// names an expression indexes headers with in that form).
func Env(item any, h http.Header) map[string]any {
	env := map[string]any{}
	if obj, ok := item.(map[string]any); ok {
		for k, v := range obj {
			env[k] = v
		}
	}
	hdr := make(map[string]any, len(h))
	for k, vs := range h {
		if len(vs) > 0 {
			hdr[k] = vs[0]
		}
	}
	env["payload"] = item
	env["headers"] = hdr
	return env
}

// Unmarshal parses the JSON value in b the way expressions should see it:
// objects are map[string]any and arrays []any, as with json.Unmarshal, but
// numbers stay exact. An integer that fits is an int64; another number is a
// float64 when that float's shortest decimal form is the same number
// (1.5, 1714550400.123, 1e3); any other (12345678901234567890, or more
// digits than a float64 holds) is a json.Number, which an expression can
// pass on or turn into text with string() but not compute with. So no id or
// message id loses a digit on its way to an event.
func Unmarshal(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid data after the top-level value")
	}
	return exact(v), nil
}

// exact replaces the json.Numbers in v as Unmarshal says.
func exact(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = exact(x)
		}
	case []any:
		for i, x := range v {
			v[i] = exact(x)
		}
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return v
		}
		d, ok := parseDecimal(string(v))
		if fd, _ := parseDecimal(strconv.FormatFloat(f, 'g', -1, 64)); ok && d == fd {
			return f
		}
	}
	return v
}

// str returns v as text, numbers with every digit they have.
func str(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", fmt.Errorf("want a string, got %T", v)
}

// timeOf reads a time given as RFC 3339 text, unix seconds (or
// milliseconds, when larger than 1e11) as a number or as text, or a
// time.
func timeOf(v any) (time.Time, error) {
	var num string
	switch v := v.(type) {
	case time.Time:
		return v.UTC(), nil
	case string:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.UTC(), nil
		}
		if _, ok := parseDecimal(v); !ok {
			return time.Time{}, fmt.Errorf("want RFC 3339 or unix seconds")
		}
		num = v
	case json.Number:
		num = string(v)
	case float64:
		num = strconv.FormatFloat(v, 'g', -1, 64)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		num = fmt.Sprint(v)
	default:
		return time.Time{}, fmt.Errorf("want a time, got %T", v)
	}
	d, ok := parseDecimal(num)
	if !ok {
		return time.Time{}, fmt.Errorf("time out of range")
	}
	return unix(d)
}

// maxUnix is 9999-12-31T23:59:59Z.
const maxUnix = 253402300799

// unix returns the time d seconds after the epoch, or d milliseconds when d
// is larger than 1e11, to the nanosecond, without going through a float
// (1714550400123 is 08:00:00.123, not .122999906).
func unix(d decimal) (time.Time, error) {
	point := len(d.digits) + d.exp // digits before the decimal point
	if d.neg || d.digits == "" || point < -9 || point > len("253402300799999") {
		return time.Time{}, fmt.Errorf("time out of range")
	}
	var whole, frac string
	switch {
	case point <= 0:
		frac = strings.Repeat("0", -point) + d.digits
	case point >= len(d.digits):
		whole = d.digits + strings.Repeat("0", point-len(d.digits))
	default:
		whole, frac = d.digits[:point], d.digits[point:]
	}
	n, _ := strconv.ParseInt("0"+whole, 10, 64)
	var sec, nsec int64
	if n > 1e11 || n == 1e11 && frac != "" {
		sec, nsec = n/1000, (n%1000)*1e6+digitsOf(frac, 6)
	} else {
		sec, nsec = n, digitsOf(frac, 9)
	}
	if sec > maxUnix || sec == maxUnix && nsec > 0 {
		return time.Time{}, fmt.Errorf("time out of range")
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// digitsOf returns the first n digits of frac, padded with zeros, as a
// number: the fraction in units of 10^-n, truncated.
func digitsOf(frac string, n int) int64 {
	if len(frac) > n {
		frac = frac[:n]
	}
	v, _ := strconv.ParseInt(frac+strings.Repeat("0", n-len(frac)), 10, 64)
	return v
}

// decimal is a number read exactly from its text: digits × 10^exp, with
// digits free of leading and trailing zeros ("" for zero, which is never
// negative).
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// parseDecimal reads a number written as JSON writes one (an optional
// minus, digits, an optional fraction and exponent), the way
// strconv.FormatFloat writes one (also "+" in the exponent), or with a
// leading "+".
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	if s != "" && (s[0] == '-' || s[0] == '+') {
		d.neg = s[0] == '-'
		s = s[1:]
	}
	mant, e, hasExp := strings.Cut(strings.ToLower(s), "e")
	whole, frac, _ := strings.Cut(mant, ".")
	if whole+frac == "" || !allDigits(whole) || !allDigits(frac) {
		return decimal{}, false
	}
	if hasExp {
		n, err := strconv.Atoi(e)
		if err != nil || n < -1e6 || n > 1e6 {
			return decimal{}, false
		}
		d.exp = n
	}
	d.digits = strings.TrimLeft(whole+frac, "0")
	d.exp -= len(frac)
	trimmed := strings.TrimRight(d.digits, "0")
	d.exp += len(d.digits) - len(trimmed)
	d.digits = trimmed
	if d.digits == "" {
		return decimal{}, true
	}
	return d, true
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
