package actions_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hookd/hookd/actions"
)

// TestLookupUnknown: an action type no package registered is
// ErrUnknownKind, and the message names the type, suggests the nearest
// registered one when a typo is plain, and lists the known types.
func TestLookupUnknown(t *testing.T) {
	actions.Register("lookup_unsubscribe", funcKind(func(context.Context, actions.Call) error { return nil }))
	tests := []struct {
		name, kind string
		want       []string
		not        string
	}{
		{name: "a letter missing", kind: "lookup_unsubcribe",
			want: []string{`action "lookup_unsubcribe": unknown action: did you mean lookup_unsubscribe? (known: `, "lookup_unsubscribe"}},
		{name: "nothing near", kind: "sms",
			want: []string{`action "sms": unknown action (known: `, "lookup_unsubscribe"}, not: "did you mean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := actions.Lookup(tt.kind)
			if !errors.Is(err, actions.ErrUnknownKind) {
				t.Fatalf("Lookup(%q) = %v, want ErrUnknownKind", tt.kind, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Lookup(%q) = %q, want it to say %q", tt.kind, err, w)
				}
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Errorf("Lookup(%q) = %q, want no %q", tt.kind, err, tt.not)
			}
		})
	}
}
