package jsonerr_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hookd/hookd/listener/internal/jsonerr"
)

func TestExplain(t *testing.T) {
	type record struct {
		Event string  `json:"event"`
		At    float64 `json:"timestamp"`
		Mail  struct {
			To []string `json:"to"`
		} `json:"mail"`
		ID   json.Number `json:"id"`
		Seen bool        `json:"seen"`
	}
	for _, tt := range []struct {
		name, path, body, want string
	}{
		{"field", "event-data", `{"timestamp":"now"}`, `"event-data.timestamp": want a number, got a string`},
		{"field of the body", "", `{"event":5}`, `"event": want a string, got a number`},
		{"nested", "", `{"mail":{"to":[1]}}`, `"mail.to": want a string, got a number`},
		{"whole body", "", `[{"event":"open"}]`, `want an object, got an array`},
		{"whole value under a path", "event-data", `"text"`, `"event-data": want an object, got a string`},
		{"json.Number", "", `{"id":{}}`, `"id": want a number, got an object`},
		{"bool", "", `{"seen":"yes"}`, `"seen": want true or false, got a string`},
		{"syntax, under a path", "event-data", `{"event":`, `"event-data": unexpected end of JSON input`},
		{"syntax", "", `{"event":`, `unexpected end of JSON input`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r record
			err := jsonerr.Explain(tt.path, json.Unmarshal([]byte(tt.body), &r))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Explain = %v, want %s", err, tt.want)
			}
		})
	}
	if jsonerr.Explain("x", nil) != nil {
		t.Fatal("Explain of nil is not nil")
	}
	cause := errors.New("cause")
	if err := jsonerr.Explain("x", cause); !errors.Is(err, cause) {
		t.Fatalf("Explain lost its cause: %v", err)
	}
}

func TestWant(t *testing.T) {
	for _, tt := range []struct {
		name, body, want string
	}{
		{"an object for an array", `{"event":"open"}`, `want a JSON array of events, got an object`},
		{"a string for an array", `"x"`, `want a JSON array of events, got a string`},
		{"inside an element", `[{"event":5}]`, `"event": want a string, got a number`},
		{"not JSON", `[{"event":`, `want a JSON array of events: unexpected end of JSON input`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var v []struct {
				Event string `json:"event"`
			}
			err := jsonerr.Want("a JSON array of events", json.Unmarshal([]byte(tt.body), &v))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Want = %v, want %s", err, tt.want)
			}
		})
	}
	if jsonerr.Want("x", nil) != nil {
		t.Fatal("Want of nil is not nil")
	}
}

func TestKind(t *testing.T) {
	for _, tt := range []struct{ raw, want string }{
		{`{"a":1}`, "an object"},
		{`[1]`, "an array"},
		{`"x"`, "a string"},
		{`-1.5e3`, "a number"},
		{`true`, "true or false"},
		{`false`, "true or false"},
		{`null`, "null"},
		{``, "nothing"},
	} {
		if got := jsonerr.Kind([]byte(tt.raw)); got != tt.want {
			t.Errorf("Kind(%s) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
