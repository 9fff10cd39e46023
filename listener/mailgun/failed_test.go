package mailgun_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener/mailgun"
)

// failedEvent returns testdata/failed-permanent.json with event-data's
// severity and reason set, and its delivery-status replaced by status
// (removed when status is "").
func failedEvent(t *testing.T, severity, reason, status string) []byte {
	t.Helper()
	body, err := os.ReadFile("testdata/failed-permanent.json")
	if err != nil {
		t.Fatal(err)
	}
	return edit(body, func(m map[string]json.RawMessage, _ map[string]any) {
		var d map[string]json.RawMessage
		if err := json.Unmarshal(m["event-data"], &d); err != nil {
			t.Fatal(err)
		}
		d["severity"], _ = json.Marshal(severity)
		d["reason"], _ = json.Marshal(reason)
		delete(d, "delivery-status")
		if status != "" {
			d["delivery-status"] = json.RawMessage(status)
		}
		m["event-data"], _ = json.Marshal(d)
	})
}

// TestFailedClassification checks what a "failed" event is: deferred while
// Mailgun retries, blocked where it sent nothing, a soft bounce where it
// gave up on temporary refusals, the recipient's provider blocked the
// message or the mailbox is full, a hard one on a 5xx refusal (or reason
// bounce with no code), and a bounce with no class where nothing tells (see
// failure in mailgun.go).
func TestFailedClassification(t *testing.T) {
	for _, tt := range []struct {
		name             string
		severity, reason string
		status           string // delivery-status; "" for none
		category         event.Category
		class            event.BounceClass
	}{
		{"bounce, no such user", "permanent", "bounce", `{"attempt-no":1,"code":550,"message":"5.1.1 No Such User Here","enhanced-code":"5.1.1"}`, event.Bounce, event.Hard},
		{"bounce, 5xx without an enhanced code", "permanent", "bounce", `{"attempt-no":1,"code":554,"message":"Recipient address rejected"}`, event.Bounce, event.Hard},
		{"bounce without a delivery status", "permanent", "bounce", "", event.Bounce, event.Hard},
		{"bounce, mailbox full", "permanent", "bounce", `{"attempt-no":1,"code":552,"message":"5.2.2 The email account that you tried to reach is over quota","enhanced-code":"5.2.2"}`, event.Bounce, event.Soft},
		{"bounce, 4xx", "permanent", "bounce", `{"attempt-no":6,"code":452,"message":"4.2.2 Mailbox full"}`, event.Bounce, event.Soft},
		{"delayed bounce, generic 550 5.1.1", "permanent", "generic", `{"bounce-code":"5.1.1","code":550,"message":"smtp; 550-5.1.1 The email account that you tried to reach does not exist.","enhanced-code":"5.1.1"}`, event.Bounce, event.Hard},
		{"generic, 4xx after retries", "permanent", "generic", `{"attempt-no":7,"code":421,"message":"4.7.0 Try again later"}`, event.Bounce, event.Soft},
		{"generic, code as text", "permanent", "generic", `{"code":"550","message":"User unknown"}`, event.Bounce, event.Hard},
		{"generic without a code", "permanent", "generic", `{"attempt-no":1,"message":"","description":"Unable to deliver"}`, event.Bounce, ""},
		{"generic, Mailgun's own code", "permanent", "generic", `{"attempt-no":1,"code":605,"description":"Not delivering to previously bounced address"}`, event.Bounce, ""},
		{"generic, delivery status not an object", "permanent", "generic", `"550 User unknown"`, event.Bounce, ""},
		{"old: retried for 8 hours", "permanent", "old", `{"attempt-no":7,"code":451,"description":"Too old"}`, event.Bounce, event.Soft},
		{"old without a code", "permanent", "old", `{"description":"Too old"}`, event.Bounce, event.Soft},
		{"espblock, 5xx policy rejection", "permanent", "espblock", `{"attempt-no":1,"code":554,"message":"5.7.1 [CS01] Message rejected due to local policy","enhanced-code":"5.7.1"}`, event.Bounce, event.Soft},
		{"suppress-bounce", "permanent", "suppress-bounce", `{"attempt-no":1,"code":605,"description":"Not delivering to previously bounced address"}`, event.Blocked, ""},
		{"suppress-unsubscribe", "permanent", "suppress-unsubscribe", "", event.Blocked, ""},
		{"suppress-complaint", "permanent", "suppress-complaint", "", event.Blocked, ""},
		{"hardfail", "permanent", "hardfail", "", event.Blocked, ""},
		{"temporary, generic 4xx", "temporary", "generic", `{"attempt-no":1,"code":452,"message":"4.2.2 mailbox full","retry-seconds":600}`, event.Deferred, ""},
		{"temporary espblock", "temporary", "espblock", `{"attempt-no":1,"code":421,"message":"4.7.0 Temporarily deferred"}`, event.Deferred, ""},
		{"temporary, the severity decides over a 5xx", "temporary", "generic", `{"attempt-no":1,"code":550,"message":"5.1.1 No Such User Here"}`, event.Deferred, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			events, err := mailgun.Decode(failedEvent(t, tt.severity, tt.reason, tt.status))
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 {
				t.Fatalf("%d events, want 1", len(events))
			}
			if e := events[0]; e.Type != "failed" || e.Category != tt.category || e.BounceClass != tt.class {
				t.Fatalf("type %q, category %q, bounce class %q; want failed, %q, %q", e.Type, e.Category, e.BounceClass, tt.category, tt.class)
			}
		})
	}
}
