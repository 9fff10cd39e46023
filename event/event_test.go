package event_test

import (
	"testing"

	"github.com/hookd/hookd/event"
)

func TestHash(t *testing.T) {
	a := event.Hash("mailjet", "open", "19421777396190490", "1433103519", "api@mailjet.com")
	if a != event.Hash("mailjet", "open", "19421777396190490", "1433103519", "api@mailjet.com") {
		t.Fatal("Hash is not stable")
	}
	if len(a) != len("mailjet:")+32 || a[:8] != "mailjet:" {
		t.Fatalf("Hash = %q, want mailjet: and 32 hex digits", a)
	}
	// Moving a separator between parts must change the id.
	if event.Hash("p", "a|b", "c") == event.Hash("p", "a", "b|c") || event.Hash("p", "ab", "c") == event.Hash("p", "a", "bc") {
		t.Fatal("Hash collides when parts are re-split")
	}
	if event.Hash("mailjet", "x") == event.Hash("sendgrid", "x") {
		t.Fatal("Hash collides across providers")
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct{ in, email, domain string }{
		{" Api@MailJet.com ", "api@mailjet.com", "mailjet.com"},
		{"no-at-sign", "no-at-sign", ""},
		{`"a@b"@c.org`, `"a@b"@c.org`, "c.org"},
		{"", "", ""},
	}
	for _, tt := range tests {
		email, domain := event.NormalizeEmail(tt.in)
		if email != tt.email || domain != tt.domain {
			t.Errorf("NormalizeEmail(%q) = %q, %q; want %q, %q", tt.in, email, domain, tt.email, tt.domain)
		}
	}
}
