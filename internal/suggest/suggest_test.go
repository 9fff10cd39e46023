package suggest_test

import (
	"testing"

	"github.com/hookd/hookd/internal/suggest"
)

func TestClosest(t *testing.T) {
	fields := []string{"id", "source", "provider", "type", "time", "email", "domain", "message_id", "campaign", "data"}
	kinds := []string{"email", "exec", "http", "log", "mailjet_send", "mailjet_unsubscribe", "suppress"}
	tests := []struct {
		name, in string
		known    []string
		want     string
	}{
		{name: "swapped letters", in: "emial", known: fields, want: "email"},
		{name: "missing letter", in: "mailjet_unsubcribe", known: kinds, want: "mailjet_unsubscribe"},
		{name: "case slip", in: "Email", known: fields, want: "email"},
		{name: "camel case of a snake case name", in: "messageid", known: fields, want: "message_id"},
		{name: "short name one edit away", in: "typ", known: fields, want: "type"},
		{name: "short name two edits away is not a guess", in: "sms", known: kinds, want: ""},
		{name: "nothing near", in: "recipient", known: fields, want: ""},
		{name: "a known name needs no suggestion", in: "email", known: fields, want: ""},
		{name: "a tie is not a guess", in: "tim", known: []string{"time", "tip"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := suggest.Closest(tt.in, tt.known); got != tt.want {
				t.Errorf("Closest(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
