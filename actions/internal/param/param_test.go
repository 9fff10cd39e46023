package param_test

import (
	"strings"
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

func TestRecipient(t *testing.T) {
	long := strings.Repeat("a", 243) + "@example.com" // 255 bytes
	tests := []struct {
		name, email, eventEmail string
		want, wantErr           string
	}{
		{name: "the event's address", eventEmail: "ann@x.com", want: "ann@x.com"},
		{name: "the parameter's address", email: "Ann <ann@x.com>", eventEmail: "bob@y.com", want: "ann@x.com"},
		{name: "the longest address", eventEmail: long[1:], want: long[1:]},
		{name: "longer than an address may be", eventEmail: long,
			wantErr: "email: an address of 255 bytes, longer than an address may be (254)"},
		{name: "kilobytes from the event's data", email: "Dear <" + strings.Repeat("x", 3000) + "@example.com>",
			wantErr: "email: an address of 3012 bytes, longer than an address may be (254)"},
		{name: "not an address", email: "nobody", wantErr: `email: "nobody" is not an address: mail: missing '@' or angle-addr`},
		{name: "a long text that is no address", email: strings.Repeat("x", 300), wantErr: "email: 300 bytes long: not an address: mail: missing '@' or angle-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := param.Recipient(tt.email, tt.eventEmail)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Recipient = %v, %v; want error %s", a, err, tt.wantErr)
				}
				return
			}
			if err != nil || a.Address != tt.want {
				t.Fatalf("Recipient = %v, %v; want %s", a, err, tt.want)
			}
		})
	}
}
