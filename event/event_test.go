package event_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
)

func TestHash(t *testing.T) {
	at := time.Unix(1433103519, 0)
	a := event.Hash("mailjet", at, "open", "19421777396190490", "api@mailjet.com")
	if a != event.Hash("mailjet", at, "open", "19421777396190490", "api@mailjet.com") {
		t.Fatal("Hash is not stable")
	}
	if want := "mailjet:556b6c9f"; len(a) != len(want)+24 || a[:len(want)] != want {
		t.Fatalf("Hash = %q, want %s and 24 hex digits", a, want)
	}
	if b := event.Hash("mailjet", at.Add(time.Second), "open", "19421777396190490", "api@mailjet.com"); b <= a {
		t.Fatalf("a later event's id %q does not sort after %q", b, a)
	}
	// Moving a separator between parts must change the id.
	if event.Hash("p", at, "a|b", "c") == event.Hash("p", at, "a", "b|c") || event.Hash("p", at, "ab", "c") == event.Hash("p", at, "a", "bc") {
		t.Fatal("Hash collides when parts are re-split")
	}
	if event.Hash("mailjet", at, "x")[8:] == event.Hash("sendgrid", at, "x")[9:] {
		t.Fatal("Hash collides across providers")
	}
	// Times outside 1970..2106 are never wrapped, and two events that
	// differ only by such a time still get two ids.
	for _, tt := range []struct {
		a, b   int64
		prefix string
	}{
		{-5, -6, "p:00000000"},
		{5000000000, 6000000000, "p:12a05f200"},
		{253402300799, 253402300798, "p:3afff4417f"},
	} {
		a, b := event.Hash("p", time.Unix(tt.a, 0), "x"), event.Hash("p", time.Unix(tt.b, 0), "x")
		if a == b {
			t.Errorf("Hash at %d and at %d are both %q", tt.a, tt.b, a)
		}
		if !strings.HasPrefix(a, tt.prefix) || len(a) != len(tt.prefix)+24 {
			t.Errorf("Hash at %d = %q, want %s and 24 hex digits", tt.a, a, tt.prefix)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct{ in, email, domain string }{
		{" Api@MailJet.com ", "api@mailjet.com", "mailjet.com"},
		{"no-at-sign", "no-at-sign", ""},
		{`"a@b"@c.org`, `"a@b"@c.org`, "c.org"},
		{"", "", ""},
		{"Joe <Joe@X.com>", "joe@x.com", "x.com"},
		{`"Doe, Joe" <joe@x.com> `, "joe@x.com", "x.com"},
		{"J. Doe <joe@x.com>", "joe@x.com", "x.com"},
		{"<joe@x.com>", "joe@x.com", "x.com"},
		{"joe@x.com>", "joe@x.com>", "x.com>"},
	}
	for _, tt := range tests {
		email, domain := event.NormalizeEmail(tt.in)
		if email != tt.email || domain != tt.domain {
			t.Errorf("NormalizeEmail(%q) = %q, %q; want %q, %q", tt.in, email, domain, tt.email, tt.domain)
		}
	}
}
