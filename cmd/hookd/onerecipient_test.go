package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneRecipient runs `hookd test` on a rule that mails the event's
// address, for an event whose email is a list: email and mailjet_send
// refuse it rather than mail each part.
func TestOneRecipient(t *testing.T) {
	const list = "victim@x.com,extra@evil.example"
	events := writeFile(t, "events.json", `[{"event":"open","time":1433103519,"MessageID":1,"email":"`+list+`"},
{"event":"open","time":1433103519,"MessageID":2,"email":"ann@x.com"}]`)
	for _, action := range []string{"email", "mailjet_send"} {
		t.Run(action, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "hookd.yaml")
			if err := os.WriteFile(cfg, []byte(`sources:
  - name: mailjet
    provider: mailjet
smtp: { host: localhost, port: 2525, tls: none, from: "Shop <shop@example.com>" }
mailjet: { api_key: key, api_secret: secret }
rules: [rules.yaml]
`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(`rules:
  - name: thanks
    when: type == "open"
    actions:
      - `+action+`: { to: "{{ .email }}", subject: "hi", text: "hello" }
`), 0o600); err != nil {
				t.Fatal(err)
			}
			out, _, err := runHookd(t, "test", "--config", cfg, "--event", events)
			if err == nil {
				t.Errorf("hookd test passed a rule that would mail each part of %s", list)
			}
			want := `actions[0].` + action + `.to: the event's email "` + list + `" is not one address: refused rather than sent to each of its parts`
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %s:\n%s", want, out)
			}
			if !strings.Contains(out, "match  thanks") || !strings.Contains(out, `"to": "ann@x.com"`) {
				t.Errorf("the event of one address does not match:\n%s", out)
			}
		})
	}
}
