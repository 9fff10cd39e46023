// Package jsonerr rewords encoding/json's decoding errors into what the
// sender got wrong, in the names of its JSON, for the 400 answers hookd
// gives a malformed body: encoding/json names Go types ("cannot unmarshal
// string into Go struct field eventData.timestamp of type float64"), which
// tell a provider nothing.
package jsonerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Explain returns err as the sender would read it. A type mismatch becomes
// `"PATH": want a number, got a string`, PATH being path (the JSON name
// of what was decoded, e.g. "event-data"; "" for the whole body) followed
// by the field's JSON path; any other error is returned under path, or as
// it is when path is "".
func Explain(path string, err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		if path == "" || err == nil {
			return err
		}
		return fmt.Errorf("%q: %w", path, err)
	}
	switch {
	case path == "":
		path = te.Field
	case te.Field != "":
		path += "." + te.Field
	}
	msg := fmt.Sprintf("want %s, got %s", want(te.Type), got(te.Value))
	if path == "" {
		return errors.New(msg)
	}
	return fmt.Errorf("%q: %s", path, msg)
}

// Want returns err, from decoding a whole body that should have been
// what ("a JSON array of events"), as "want WHAT, got an object" when the
// body is JSON of another kind, and as "want WHAT: " and err otherwise.
// Errors inside the value are Explain's.
func Want(what string, err error) error {
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te) && te.Field == "":
		return fmt.Errorf("want %s, got %s", what, got(te.Value))
	case te != nil:
		return Explain("", err)
	}
	return fmt.Errorf("want %s: %w", what, err)
}

var number = reflect.TypeFor[json.Number]()

// want names the JSON that decodes into t.
func want(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	if t == number {
		return "a number"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return want(t.Elem())
	}
	return "another value"
}

// got names the JSON value encoding/json describes as v ("number 1.5",
// "object", ...).
func got(v string) string {
	switch kind, _, _ := strings.Cut(v, " "); kind {
	case "string", "number":
		return "a " + kind
	case "object", "array":
		return "an " + kind
	case "bool":
		return "true or false"
	}
	return v
}

// Kind names the JSON value raw, valid JSON, as Explain names what a
// sender sent: "an object", "an array", "a string", "a number", "true or
// false", "null", or "nothing" for no value at all.
func Kind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	}
	return "a number"
}
