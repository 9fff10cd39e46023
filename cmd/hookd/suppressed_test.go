package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/smtptest"
)

// TestSuppressedRecipientSkipped runs hookd with a rule that suppresses
// hard-bounced addresses and one that emails openers: the open of a
// suppressed address ends its job done with a "skipped" note in /api/jobs
// and sends nothing; after `DELETE /api/suppressions/{email}` hookd sends
// to it again.
func TestSuppressedRecipientSkipped(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(`rules:
  - name: suppress-hard-bounces
    when: type == "bounce" && data.hard_bounce == true
    actions:
      - suppress: { reason: "{{ .data.error }}" }
  - name: welcome
    when: type == "open"
    actions:
      - email: { to: "{{ .email }}", subject: "Welcome", text: "Hello" }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`sources: [{name: mailjet, provider: mailjet}]
smtp: { host: 127.0.0.1, port: %d, tls: none, from: shop@example.com }
rules: [rules.yaml]
`, srv.Port)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHookd(t, t.TempDir(), "--config", cfg)
	bounce := `{"event":"bounce","time":1793610000,"MessageID":19421777835146801,"email":"ann@example.com","mj_campaign_id":1,"mj_contact_id":0,"customcampaign":"","CustomID":"","Payload":"","blocked":false,"hard_bounce":true,"error_related_to":"recipient","error":"user unknown"}`
	open := func(n int, email string) string {
		return strings.Replace(openEvent(n), fmt.Sprintf("User%d@Example.com", n), email, 1)
	}
	postHook(t, p.hooks, bounce)
	settle(t, p, 1)
	postHook(t, p.hooks, "["+open(1, "ann@example.com")+","+open(2, "bob@example.com")+"]")
	jobs := settle(t, p, 3)
	want := "suppress-hard-bounces suppress suppress done \n" +
		"welcome email email ann@example.com done skipped: recipient ann@example.com is suppressed\n" +
		"welcome email email bob@example.com done \n"
	if got := jobSummary(jobs); got != want {
		t.Errorf("jobs:\n%s\nwant\n%s", got, want)
	}
	if msgs := srv.Wait(1, 30*time.Second); len(msgs) != 1 || msgs[0].To[0] != "bob@example.com" {
		t.Fatalf("emails %+v, want one to bob@example.com", msgs)
	}

	req, _ := newRequest("DELETE", p.admin+"/api/suppressions/ann@example.com")
	resp, err := req()
	if err != nil || resp != 200 {
		t.Fatalf("DELETE suppression: %d, %v", resp, err)
	}
	postHook(t, p.hooks, open(3, "ann@example.com"))
	settle(t, p, 4)
	msgs := srv.Wait(2, 30*time.Second)
	if len(msgs) != 2 || msgs[1].To[0] != "ann@example.com" {
		t.Fatalf("emails %+v, want a second one to ann@example.com", msgs)
	}
	p.stop(t)
}
