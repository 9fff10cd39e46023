// Package param reads the parameters of an action, both as a rule writes
// them (in Kind.Validate, templates not yet rendered) and as rendered for a
// job (in Action.Do), and reports a problem as a *rules.ParamError naming
// the parameter, so that a rule load error points at its line.
//
// A parameter that is absent or null is treated as not given. Text accepts a
// number or a boolean as its written form, since YAML reads `X-Count: 5` as
// a number and JSON decoding gives json.Number.
package param

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/rules"
)

// IsTemplate reports whether s holds a Go template action, so that its
// value depends on the event.
func IsTemplate(s string) bool { return strings.Contains(s, "{{") }

// Known reports the first parameter, in name order, that is not one of
// known.
func Known(params map[string]any, known ...string) error {
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if !slices.Contains(known, k) {
			return Errorf(k, "unknown parameter (want %s)", strings.Join(known, ", "))
		}
	}
	return nil
}

// Errorf returns a *rules.ParamError for the parameter at path.
func Errorf(path, format string, args ...any) error {
	return &rules.ParamError{Param: path, Err: fmt.Errorf(format, args...)}
}

// Text returns the parameter name as text; ok is false when it is absent.
func Text(params map[string]any, name string) (s string, ok bool, err error) {
	v := params[name]
	if v == nil {
		return "", false, nil
	}
	s, ok = text(v)
	if !ok {
		return "", false, Errorf(name, "want text, got %s", kindOf(v))
	}
	return s, true, nil
}

// Literal is Text for a parameter that must not depend on the event: a
// template in it is an error, which says why.
func Literal(params map[string]any, name, why string) (s string, ok bool, err error) {
	s, ok, err = Text(params, name)
	if err == nil && IsTemplate(s) {
		return "", false, Errorf(name, "must not be a template: %s", why)
	}
	return s, ok, err
}

// Duration returns the parameter name as a positive Go duration written
// literally ("10s", "2m"), or def when it is absent.
func Duration(params map[string]any, name string, def time.Duration) (time.Duration, error) {
	s, ok, err := Literal(params, name, "a duration is fixed in the rule")
	if err != nil || !ok {
		return def, err
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, Errorf(name, `want a positive duration such as "10s" or "2m", got %q`, s)
	}
	return d, nil
}

// Texts returns the parameter name, a list, as text; nil when it is absent.
// An error names the item at fault ("args[2]").
func Texts(params map[string]any, name string) ([]string, error) {
	var items []any
	switch v := params[name].(type) {
	case nil:
		return nil, nil
	case []any:
		items = v
	case []string:
		return slices.Clone(v), nil
	default:
		return nil, Errorf(name, "want a list, got %s", kindOf(v))
	}
	out := make([]string, len(items))
	for i, item := range items {
		s, ok := text(item)
		if !ok {
			return nil, Errorf(fmt.Sprintf("%s[%d]", name, i), "want text, got %s", kindOf(item))
		}
		out[i] = s
	}
	return out, nil
}

// TextMap returns the parameter name, a mapping, with its values as text;
// nil when it is absent. An error names the entry at fault
// ("headers.Authorization") but never its value, which may be a secret.
func TextMap(params map[string]any, name string) (map[string]string, error) {
	var entries map[string]any
	switch v := params[name].(type) {
	case nil:
		return nil, nil
	case map[string]any:
		entries = v
	case map[string]string:
		return maps.Clone(v), nil
	default:
		return nil, Errorf(name, "want a mapping, got %s", kindOf(v))
	}
	out := make(map[string]string, len(entries))
	for _, k := range slices.Sorted(maps.Keys(entries)) {
		s, ok := text(entries[k])
		if !ok {
			return nil, Errorf(name+"."+k, "want text, got %s", kindOf(entries[k]))
		}
		out[k] = s
	}
	return out, nil
}

// Blank replaces the values of the mapping name in params, a copy of an
// action's parameters about to be shown, with actions.Redacted, for a
// mapping whose values are secrets (header values, environment
// variables): its names are left to show. A value of name that is not a
// mapping, which Validate refuses, is replaced whole.
func Blank(params map[string]any, name string) {
	switch v := params[name].(type) {
	case nil:
	case map[string]any:
		params[name] = blankValues(v)
	case map[string]string:
		params[name] = blankValues(v)
	default:
		params[name] = actions.Redacted
	}
}

// blankValues returns a mapping with the names of m, each with the value
// actions.Redacted.
func blankValues[V any](m map[string]V) map[string]any {
	out := make(map[string]any, len(m))
	for k := range m {
		out[k] = actions.Redacted
	}
	return out
}

// Map returns the parameter name, a mapping of any values; nil when it is
// absent.
func Map(params map[string]any, name string) (map[string]any, error) {
	switch v := params[name].(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return v, nil
	default:
		return nil, Errorf(name, "want a mapping, got %s", kindOf(v))
	}
}

// text returns a scalar as text: a string as is, a number or a boolean as
// written.
func text(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// kindOf names the kind of v for an error message, never its value.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any, map[string]string:
		return "a mapping"
	case []any, []string:
		return "a list"
	case string:
		return "text"
	case bool:
		return "a boolean"
	case json.Number, int, int64, uint64, float64:
		return "a number"
	}
	return fmt.Sprintf("a %T", v)
}

// Addresses checks that each of to, and from unless empty, is an email
// address, or a template whose address is known only once rendered.
func Addresses(to []string, from string) error {
	for _, s := range to {
		if !IsTemplate(s) {
			if _, err := mail.ParseAddress(s); err != nil {
				return Errorf("to", "%q is not an address: %v", s, err)
			}
		}
	}
	if from != "" && !IsTemplate(from) {
		if _, err := mail.ParseAddress(from); err != nil {
			return Errorf("from", "%q is not an address: %v", from, err)
		}
	}
	return nil
}

// SplitAddresses splits a comma-separated list of addresses, each
// trimmed of spaces, keeping the commas inside quotes, as in a display
// name ("Doe, Jane" <jane@example.com>). An empty item (a trailing comma)
// is kept, empty.
func SplitAddresses(s string) []string {
	var (
		out   []string
		quote bool
		start int
	)
	for i, r := range s {
		switch {
		case r == '"':
			quote = !quote
		case r == ',' && !quote:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// Escaped returns s as it is, or percent-escaped as a URL's path segment
// is (url.PathEscape) when it holds a control character (other than a
// tab), which a header value cannot carry, nor, for NUL, a program's
// environment. It is for a job's key and an event's id, which a sender
// chooses (a generic source's map.id): the same on every attempt.
func Escaped(s string) string {
	if strings.ContainsFunc(s, IsCTL) {
		return url.PathEscape(s)
	}
	return s
}

// IsCTL reports whether r is a control character other than a tab: one
// that a header value may not hold.
func IsCTL(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }

// MaxAddress is the length of the longest address, in bytes: RFC 5321's
// 256 octets of a path, less its angle brackets. No server delivers to a
// longer one.
const MaxAddress = 254

// Recipient returns the address an action acts on: email, its rendered
// email parameter, or the event's address eventEmail when that is empty.
// An address longer than MaxAddress is refused: a sender's data can make
// one kilobytes long, which the store's index of the suppression list
// cannot hold on PostgreSQL, so that every attempt of its job would fail.
// An error names the email parameter.
func Recipient(email, eventEmail string) (*mail.Address, error) {
	if email == "" {
		email = eventEmail
	}
	a, err := mail.ParseAddress(email)
	if err != nil {
		if len(email) > MaxAddress {
			return nil, Errorf("email", "%d bytes long: not an address: %v", len(email), err)
		}
		return nil, Errorf("email", "%q is not an address: %v", email, err)
	}
	if len(a.Address) > MaxAddress {
		return nil, Errorf("email", "an address of %d bytes, longer than an address may be (%d)", len(a.Address), MaxAddress)
	}
	return a, nil
}

// OneRecipient checks the rendered list of addresses to against the
// event's address eventEmail: when eventEmail is in to but is not one
// address ("a@x.com,b@y.com", as a sender may post), a list split on its
// commas would send to each part, recipients the event never named. It is
// refused, naming the parameter.
func OneRecipient(to, eventEmail string) error {
	if eventEmail == "" || !strings.Contains(strings.ToLower(to), strings.ToLower(eventEmail)) {
		return nil
	}
	if strings.ContainsAny(eventEmail, ",;") {
		return Errorf("to", "the event's email %q is not one address: refused rather than sent to each of its parts", eventEmail)
	}
	return nil
}

// Recipients checks the to of the parameters ps, as rendered for an event
// whose address is eventEmail, with OneRecipient, then against the to of
// the parameters as written with AsWritten: before the addresses are
// parsed, so that a group ("g: a@x.com, b@y.com;") is refused as the
// recipients it names, not as an address that does not parse.
func Recipients(written, ps map[string]any, eventEmail string) error {
	w, _, _ := Text(written, "to")
	to, _, _ := Text(ps, "to")
	if err := OneRecipient(to, eventEmail); err != nil {
		return err
	}
	return AsWritten(w, to)
}

// AsWritten checks the rendered list of addresses to against the list a
// rule wrote, written: it may not name more recipients than written has
// items, each a literal address or a template. A template whose value is
// several addresses ("a@x.com, b@y.com", or a group "g: a@x.com,
// b@y.com;"), from the event's data say, would otherwise have one event
// mail as many recipients as its sender chose. It is refused, naming the
// parameter; a written list without a template is not checked.
func AsWritten(written, to string) error {
	if !IsTemplate(written) {
		return nil
	}
	n, want := len(SplitAddresses(to)), writtenItems(written)
	if n <= want {
		return nil
	}
	return Errorf("to", "%q is %d recipients where the rule writes %s: a template renders one address at most, refused rather than sent to each",
		to, n, plural(want, "item"))
}

// writtenItems counts the items of a list of addresses as a rule writes
// it, as SplitAddresses splits the rendered list, except that a comma
// or a quote inside a template's action ({{ printf "%s,%s" .a .b }}) is
// the template's, not the list's.
func writtenItems(s string) int {
	n, quote := 1, false
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			end := strings.Index(s[i+2:], "}}")
			if end < 0 {
				return n
			}
			i += 2 + end + 1
		case s[i] == '"':
			quote = !quote
		case s[i] == ',' && !quote:
			n++
		}
	}
	return n
}

// plural returns "1 item", "2 items".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
