package actions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"testing"

	"github.com/hookd/hookd/actions"
)

// secretKind is a kind whose "token" parameter is a secret.
type secretKind struct{ funcKind }

func (secretKind) Redact(ps map[string]any) map[string]any {
	out := maps.Clone(ps)
	if _, ok := out["token"]; ok {
		out["token"] = actions.Redacted
	}
	return out
}

// registerSecret registers a secretKind under a fresh name and returns it.
func registerSecret() string {
	name := fmt.Sprintf("test%d", kindSeq.Add(1))
	actions.Register(name, secretKind{funcKind(func(context.Context, actions.Call) error { return nil })})
	return name
}

func TestRedact(t *testing.T) {
	plain := register(func(context.Context, actions.Call) error { return nil })
	secret := registerSecret()
	tests := []struct {
		name   string
		kind   string
		params string
		want   string
	}{
		// Byte for byte, spaces and all.
		{"no secrets", plain, `{"token": "t-s3cret",  "n": 1}`, `{"token": "t-s3cret",  "n": 1}`},
		// A number keeps its digits (json.Number).
		{"secret", secret, `{"target":"a","token":"t-s3cret","n":12345678901234567890}`,
			`{"n":12345678901234567890,"target":"a","token":"[redacted]"}`},
		{"no secret given", secret, `{"target":"a"}`, `{"target":"a"}`},
		{"unknown kind", "no-such-kind", `{"target":"a","token":"t-s3cret"}`, `{"target":"[redacted]","token":"[redacted]"}`},
		{"not JSON", secret, `{"token":"t-s3cret"`, `"[redacted]"`},
		{"not an object", secret, `["t-s3cret"]`, `"[redacted]"`},
		{"unknown kind, not JSON", "no-such-kind", `{"token":"t-s3cret"`, `"[redacted]"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := json.RawMessage(tt.params)
			if got := actions.Redact(tt.kind, params); string(got) != tt.want {
				t.Errorf("Redact(%s, %s) = %s, want %s", tt.kind, tt.params, got, tt.want)
			}
			if string(params) != tt.params {
				t.Errorf("Redact changed its argument to %s", params)
			}
		})
	}
}

func TestRedactParams(t *testing.T) {
	plain := register(func(context.Context, actions.Call) error { return nil })
	secret := registerSecret()
	tests := []struct {
		name   string
		kind   string
		params map[string]any
		want   map[string]any
	}{
		{"no secrets", plain, map[string]any{"token": "t-s3cret"}, map[string]any{"token": "t-s3cret"}},
		{"secret", secret, map[string]any{"target": "a", "token": "t-s3cret"}, map[string]any{"target": "a", "token": "[redacted]"}},
		{"unknown kind", "no-such-kind", map[string]any{"target": "a", "nested": map[string]any{"token": "t-s3cret"}},
			map[string]any{"target": "[redacted]", "nested": "[redacted]"}},
		{"unknown kind, none", "no-such-kind", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := actions.RedactParams(tt.kind, tt.params); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RedactParams(%s, %v) = %v, want %v", tt.kind, tt.params, got, tt.want)
			}
		})
	}
}
