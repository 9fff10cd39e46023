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

// TestMailOverSTARTTLS runs hookd as a user with a private relay would:
// smtp with tls: starttls, credentials from the environment and ca_file
// naming the relay's CA next to the configuration. The open's email
// arrives over TLS, and the relay saw the credentials only once the
// connection was TLS.
func TestMailOverSTARTTLS(t *testing.T) {
	const password = "relay-password-value"
	srv := smtptest.Start(t, smtptest.Options{Username: "shop", Password: password, TLS: smtptest.StartTLS})
	t.Setenv("SMTP_USER", "shop")
	t.Setenv("SMTP_PASSWORD", password)
	dir := t.TempDir()
	ca, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"relay-ca.pem": string(ca),
		"rules.yaml": `rules:
  - name: welcome
    when: type == "open"
    actions:
      - email: { to: "{{ .email }}", subject: "Welcome", text: "Hello" }
`,
		"hookd.yaml": fmt.Sprintf(`sources: [{name: mailjet, provider: mailjet}]
smtp:
  host: 127.0.0.1
  port: %d
  tls: starttls
  username: "${SMTP_USER}"
  password: "${SMTP_PASSWORD}"
  from: shop@example.com
  ca_file: relay-ca.pem
rules: [rules.yaml]
`, srv.Port),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Started from another directory: ca_file resolves against the
	// configuration's.
	p := startHookd(t, t.TempDir(), "--config", filepath.Join(dir, "hookd.yaml"))
	postHook(t, p.hooks, strings.Replace(openEvent(1), "User1@Example.com", "ann@example.com", 1))
	if got, want := jobSummary(settle(t, p, 1)), "welcome email email ann@example.com done \n"; got != want {
		t.Errorf("jobs:\n%s\nwant\n%s", got, want)
	}
	msgs := srv.Wait(1, 30*time.Second)
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != "shop" || msgs[0].Subject != "Welcome" || msgs[0].To[0] != "ann@example.com" {
		t.Fatalf("emails %+v, want one to ann@example.com over TLS from user shop", msgs)
	}
	if auths := srv.Auths(); len(auths) != 1 || auths[0] != (smtptest.Auth{User: "shop", TLS: true, OK: true}) {
		t.Errorf("AUTH attempts = %+v, want one accepted over TLS", auths)
	}
	if strings.Contains(p.output(), password) {
		t.Error("hookd's log shows the SMTP password")
	}
	p.stop(t)
}
