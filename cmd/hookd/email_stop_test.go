package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/hookd/hookd/internal/smtptest"
)

// TestEmailStoppedMidSend stops hookd (SIGTERM) while its mail relay
// holds the answer to a message's data, as one scanning the message
// does: the attempt is cut after the runner's grace, its connection
// closed before the relay answered, so that the relay drops the message,
// and is recorded as interrupted; the hookd started again sends the
// message once. Before, go-mail went on waiting for the answer past the
// grace, and hookd stopped with an error that the action ignored the
// cancellation, the attempt left for the restart to find as lapsed.
func TestEmailStoppedMidSend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and stops hookd; run without -short")
	}
	relay := smtptest.Start(t, smtptest.Options{})
	var stalling atomic.Bool
	stalling.Store(true)
	stalled := make(chan struct{}, 10)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	relay.Stall = func() error {
		if !stalling.Load() {
			return nil
		}
		stalled <- struct{}{}
		<-release
		return &smtp.SMTPError{Code: 451, Message: "released by the test"}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(`rules:
  - name: welcome
    when: type == "open"
    actions:
      - email: { to: "{{ .email }}", subject: "Welcome", text: "Hello", timeout: 2m }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`sources: [{name: mailjet, provider: mailjet}]
smtp: { host: 127.0.0.1, port: %d, tls: none, from: shop@example.com }
rules: [rules.yaml]
`, relay.Port)), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	p := startHookd(t, data, "--config", cfg)
	postHook(t, p.hooks, openEvent(1))
	select {
	case <-stalled:
	case <-time.After(60 * time.Second):
		t.Fatalf("the message's data never reached the relay\n%s", p.output())
	}
	p.stop(t)
	out := p.output()
	if !strings.Contains(out, "action job interrupted; it runs again at the next start") ||
		strings.Contains(out, "ignored cancellation") {
		t.Fatalf("hookd stopped without recording the attempt as interrupted:\n%s", out)
	}
	if n := len(relay.Messages()); n != 0 {
		t.Fatalf("the relay accepted %d messages from the stopped attempt, want 0", n)
	}

	stalling.Store(false)
	p = startHookd(t, data, "--config", cfg)
	jobs := settle(t, p, 1)
	if len(jobs) != 1 || jobs[0].Status != "done" || len(jobs[0].History) != 2 ||
		!strings.Contains(jobs[0].History[0].Error, "interrupted (hookd is stopping)") {
		t.Errorf("jobs %+v, want one done in its second attempt, the first interrupted as hookd stopped", jobs)
	}
	if msgs := relay.Wait(1, 30*time.Second); len(msgs) != 1 {
		t.Errorf("the relay accepted %d messages, want 1", len(msgs))
	}
	p.stop(t)
}
