// Package jsontmpltest helps the tests of escaped JSON templates: it is
// where they read what an escaped body holds, as a receiver would.
package jsontmpltest

import (
	"encoding/json"
	"strings"
	"testing"
)

// Keys returns the keys of the JSON object s in the order written,
// duplicates included: what a key injected into a body would show as.
// It fails t when s is not an object.
func Keys(t testing.TB, s string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s: not a JSON object: %v %v", s, tok, err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return keys
}
