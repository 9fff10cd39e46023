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

func TestAsWritten(t *testing.T) {
	tests := []struct {
		name, written, to string
		wantErr           string
	}{
		{name: "one address from data", written: "{{ .data.cc }}", to: "ann@x.com"},
		{name: "a display name with a comma", written: "{{ .data.cc }}", to: `"Doe, Ann" <ann@x.com>`},
		{name: "a literal list", written: "ops@shop.example, sales@shop.example", to: "ops@shop.example, sales@shop.example"},
		{name: "a literal and a template", written: "ops@shop.example, {{ .data.cc }}", to: "ops@shop.example, ann@x.com"},
		{name: "a template rendering nothing", written: "ops@shop.example, {{ .data.cc }}", to: "ops@shop.example, "},
		{name: "a comma inside the template's action", written: `{{ printf "%s,%s" .data.a .data.b }}`, to: "a@x.com,b@y.com",
			wantErr: `to: "a@x.com,b@y.com" is 2 recipients where the rule writes 1 item: a template renders one address at most, refused rather than sent to each`},
		{name: "a list from data", written: "{{ .data.cc }}", to: "a@x.com, b@y.com",
			wantErr: `to: "a@x.com, b@y.com" is 2 recipients where the rule writes 1 item: a template renders one address at most, refused rather than sent to each`},
		{name: "a group from data", written: "{{ .data.cc }}", to: "g: a@x.com, b@y.com;",
			wantErr: `to: "g: a@x.com, b@y.com;" is 2 recipients where the rule writes 1 item: a template renders one address at most, refused rather than sent to each`},
		{name: "a list beside a literal", written: "ops@shop.example, {{ .data.cc }}", to: "ops@shop.example, a@x.com, b@y.com, c@z.com",
			wantErr: `to: "ops@shop.example, a@x.com, b@y.com, c@z.com" is 4 recipients where the rule writes 2 items: a template renders one address at most, refused rather than sent to each`},
		{name: "an empty template hiding a list", written: "{{ .data.a }}, {{ .data.b }}", to: ", a@x.com, b@y.com",
			wantErr: `to: ", a@x.com, b@y.com" is 3 recipients where the rule writes 2 items: a template renders one address at most, refused rather than sent to each`},
		{name: "a quote opened by a template", written: `"{{ .data.name }}" <{{ .data.to }}>`, to: `"x" <a@x.com>, b@y.com, "" <c@z.com>`,
			wantErr: `to: "\"x\" <a@x.com>, b@y.com, \"\" <c@z.com>" is 3 recipients where the rule writes 1 item: a template renders one address at most, refused rather than sent to each`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := param.AsWritten(tt.written, tt.to)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("AsWritten(%q, %q): %v", tt.written, tt.to, err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("AsWritten(%q, %q) = %v, want %s", tt.written, tt.to, err, tt.wantErr)
			}
		})
	}
}
