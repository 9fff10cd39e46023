package rules_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener/mailgun"
	"github.com/hookd/hookd/listener/mailjet"
	"github.com/hookd/hookd/listener/postmark"
	"github.com/hookd/hookd/listener/sendgrid"
	"github.com/hookd/hookd/listener/ses"
	"github.com/hookd/hookd/listener/standardwebhooks"
	"github.com/hookd/hookd/rules"
)

// TestSharedVocabulary evaluates one rule, written once in the shared
// vocabulary, over each provider's documented hard and soft bounces.
func TestSharedVocabulary(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bounces.yaml"), []byte(`
rules:
  - name: hard-bounce
    when: category == "bounce" && bounce_class == "hard"
    actions:
      - log: { message: "{{ .provider }} {{ .email }} {{ .category }} {{ .bounce_class }}" }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{"bounces.yaml"}, rules.Options{Dir: dir, Action: checkAction})
	if err != nil {
		t.Fatal(err)
	}
	decode := func(t *testing.T, dec func([]byte) ([]event.Event, error), file string) []event.Event {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "listener", file))
		if err != nil {
			t.Fatal(err)
		}
		events, err := dec(b)
		if err != nil {
			t.Fatal(err)
		}
		return events
	}
	swh := func(b []byte) ([]event.Event, error) {
		return standardwebhooks.Decode("app", nil, http.Header{"Webhook-Id": {"msg_1"}}, b)
	}
	for _, tt := range []struct {
		name string
		dec  func([]byte) ([]event.Event, error)
		file string
		want []bool // per event: does the rule fire
	}{
		{"mailjet", mailjet.Decode, "mailjet/testdata/bounce.json", []bool{true}},
		{"sendgrid", sendgrid.Decode, "sendgrid/testdata/delivery-events.json", []bool{false, false, false, false, true, false}},
		{"mailgun permanent", mailgun.Decode, "mailgun/testdata/failed-permanent.json", []bool{true}},
		{"mailgun temporary", mailgun.Decode, "mailgun/testdata/failed-temporary.json", []bool{false}},
		{"postmark hard", postmark.Decode, "postmark/testdata/bounce-hard.json", []bool{true}},
		{"postmark soft", postmark.Decode, "postmark/testdata/bounce-soft.json", []bool{false}},
		{"ses permanent", ses.Decode, "ses/testdata/bounce-notification.json", []bool{true}},
		{"ses transient", ses.Decode, "ses/testdata/soft-bounce-event.json", []bool{false}},
		{"standard webhooks", swh, "standardwebhooks/testdata/resend-email-bounced-general.json", []bool{true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			events := decode(t, tt.dec, tt.file)
			if len(events) != len(tt.want) {
				t.Fatalf("%d events, want %d", len(events), len(tt.want))
			}
			for i, e := range events {
				matches, err := set.Eval(context.Background(), e, memLog{e})
				if err != nil {
					t.Fatal(err)
				}
				got := fired(t, matches)
				if (len(got) == 1) != tt.want[i] {
					t.Errorf("event %d (%s %s/%s): fired %v, want %v", i, e.Type, e.Category, e.BounceClass, got, tt.want[i])
				}
				if len(got) == 1 && matches[0].Actions[0].Params["message"] != e.Provider+" "+e.Email+" bounce hard" {
					t.Errorf("rendered %v", matches[0].Actions[0].Params)
				}
			}
		})
	}
}
