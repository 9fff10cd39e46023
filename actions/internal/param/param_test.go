package param_test

import (
	"testing"

	"github.com/hookd/hookd/actions/internal/param"
)

func TestOneRecipient(t *testing.T) {
	tests := []struct {
		name, to, email string
		wantErr         string
	}{
		{name: "the event's address", to: "ann@x.com", email: "ann@x.com"},
		{name: "the event's address and a fixed one", to: "ann@x.com, ops@shop.example", email: "ann@x.com"},
		{name: "no event address", to: "ops@shop.example", email: ""},
		{name: "a list not from the event", to: "a@x.com,b@y.com", email: "ann@x.com"},
		{name: "the event's email is a list", to: "victim@x.com,extra@evil.example", email: "victim@x.com,extra@evil.example",
			wantErr: `to: the event's email "victim@x.com,extra@evil.example" is not one address: refused rather than sent to each of its parts`},
		{name: "with a semicolon", to: "Dear <victim@x.com;extra@evil.example>", email: "victim@x.com;extra@evil.example",
			wantErr: `to: the event's email "victim@x.com;extra@evil.example" is not one address: refused rather than sent to each of its parts`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := param.OneRecipient(tt.to, tt.email)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("OneRecipient(%q, %q): %v", tt.to, tt.email, err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("OneRecipient(%q, %q) = %v, want %s", tt.to, tt.email, err, tt.wantErr)
			}
		})
	}
}
