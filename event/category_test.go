package event_test

import (
	"testing"

	"github.com/hookd/hookd/event"
)

func TestParseCategory(t *testing.T) {
	for _, tt := range []struct {
		typ  string
		want event.Category
	}{
		{"delivered", event.Delivered},
		{"email.bounced", event.Bounce},
		{"Delivery", event.Delivered},
		{"email.delivery_delayed", event.Deferred},
		{"spamreport", event.Complaint},
		{"SpamComplaint", event.Complaint},
		{"group_unsubscribe", event.Unsubscribe},
		{"dropped", event.Blocked},
		{"email.failed", event.Blocked},
		{"failed", event.Blocked},
		{"processed", event.Sent},
		{"opened", event.Open},
		{"invoice.paid", ""},
		{"", ""},
		{"email.", ""},
	} {
		if got := event.ParseCategory(tt.typ); got != tt.want {
			t.Errorf("ParseCategory(%q) = %q, want %q", tt.typ, got, tt.want)
		}
	}
}

func TestValid(t *testing.T) {
	for _, c := range event.Categories {
		if !c.Valid() {
			t.Errorf("%q is not valid", c)
		}
	}
	for _, c := range []event.Category{"", "bounce"} {
		if !c.Valid() {
			t.Errorf("%q is not valid", c)
		}
	}
	for _, c := range []event.Category{"Bounce", "bounced", "spam"} {
		if c.Valid() {
			t.Errorf("%q is valid", c)
		}
	}
	for b, want := range map[event.BounceClass]bool{"": true, "hard": true, "soft": true, "Hard": false, "permanent": false} {
		if b.Valid() != want {
			t.Errorf("BounceClass(%q).Valid() = %v", b, !want)
		}
	}
}
