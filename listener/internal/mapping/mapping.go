// Package mapping compiles a source's map: expr expressions that take a
// JSON payload (and the request's headers) to the fields of an event. It is
// shared by the adapters of providers whose payload has no fixed shape
// (generic, standardwebhooks) and internal because it is their detail.
package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
)

// shadowed are expr built-ins named like fields payloads commonly have
// ("type", "date", "count", ...): they are turned off so that the name reads
// the field. payload["name"] reads any field whatever its name.
var shadowed = []string{"type", "date", "duration", "count", "first", "last", "get", "keys", "values", "now"}

var options = func() []expr.Option {
	opts := []expr.Option{expr.AllowUndefinedVariables(), expr.Timezone("UTC")}
	for _, b := range shadowed {
		opts = append(opts, expr.DisableBuiltin(b))
	}
	return opts
}()

// Mapping is a compiled config.Map. Fields without an expression keep
// what the adapter set. It is safe for concurrent use.
type Mapping struct {
	fields []field
}

type field struct {
	name string // the map key, for errors
	prog *vm.Program
	set  func(e *event.Event, v any) error
}

// Compile compiles every expression of m. Its errors are *config.Error
// values with Field "map.KEY", joined.
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
		mp.fields = append(mp.fields, field{name: f.key, prog: prog, set: f.set})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &mp, nil
}

// Empty reports whether m maps nothing.
func (m *Mapping) Empty() bool { return m == nil || len(m.fields) == 0 }

// Apply evaluates the expressions over item (a decoded JSON value) and h,
// and sets the fields of e. A nil result leaves a field as it is.
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
		if v == nil {
			continue
		}
		if err := f.set(e, v); err != nil {
			return fmt.Errorf("map.%s: %w", f.name, err)
		}
	}
	return nil
}

// Env is the environment expressions run in: the item's fields when it is
// an object, "payload" for the item, "headers" for the request's headers
// by canonical name (the first value of each).
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

func str(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	case json.Number:
		return v.String(), nil
	}
	return "", fmt.Errorf("want a string, got %T", v)
}

// timeOf reads a time given as RFC 3339 text, unix seconds (or
// milliseconds, when larger than 1e11), or a time.
func timeOf(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v.UTC(), nil
	case string:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.UTC(), nil
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return unix(f)
		}
		return time.Time{}, fmt.Errorf("want RFC 3339 or unix seconds")
	case float64:
		return unix(v)
	case int:
		return unix(float64(v))
	}
	return time.Time{}, fmt.Errorf("want a time, got %T", v)
}

func unix(f float64) (time.Time, error) {
	if f > 1e11 {
		f /= 1000
	}
	if math.IsNaN(f) || f <= 0 || f > 253402300799 {
		return time.Time{}, fmt.Errorf("time out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
