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
			cfg := mailConfig(t, `  - name: thanks
    when: type == "open"
    actions:
      - `+action+`: { to: "{{ .email }}", subject: "hi", text: "hello" }
`)
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

// TestOneRecipientFromData runs `hookd test` on rules whose to is
// rendered from a field of the event's data: a value that is several
// addresses, as a list or a group, fails the rule on that event, by email
// and mailjet_send alike, rather than mail each; a value of one address,
// and a list the rule writes itself, are sent as before.
func TestOneRecipientFromData(t *testing.T) {
	events := writeFile(t, "events.json", `[{"event":"open","time":1433103519,"MessageID":1,"email":"ann@x.com","cc":"victim@x.com, extra@evil.example"},
{"event":"open","time":1433103519,"MessageID":2,"email":"bob@x.com","cc":"g: victim@x.com, extra@evil.example;"},
{"event":"open","time":1433103519,"MessageID":3,"email":"cid@x.com","cc":"\"Doe, Jane\" <jane@x.com>"}]`)
	for _, action := range []string{"email", "mailjet_send"} {
		t.Run(action, func(t *testing.T) {
			cfg := mailConfig(t, `  - name: cc
    when: type == "open"
    actions:
      - `+action+`: { to: "ops@shop.example, {{ .data.cc }}", subject: "hi", text: "hello" }
`)
			out, _, err := runHookd(t, "test", "--config", cfg, "--event", events)
			if err == nil {
				t.Errorf("hookd test passed a rule that would mail each address of a data field:\n%s", out)
			}
			for _, want := range []string{
				`actions[0].` + action + `.to: "ops@shop.example, victim@x.com, extra@evil.example" is 3 recipients where the rule writes 2 items: a template renders one address at most, refused rather than sent to each`,
				`actions[0].` + action + `.to: "ops@shop.example, g: victim@x.com, extra@evil.example;" is 3 recipients where the rule writes 2 items: a template renders one address at most, refused rather than sent to each`,
				`"to": "ops@shop.example, \"Doe, Jane\" <jane@x.com>"`,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %s:\n%s", want, out)
				}
			}
			if strings.Count(out, "match  cc") != 1 {
				t.Errorf("want the one event of one address to match, alone:\n%s", out)
			}
		})
	}
}

// mailConfig writes a configuration with a mailjet source, smtp and
// mailjet keys, and a rule file of the rules given, and returns its path.
func mailConfig(t *testing.T, rules string) string {
	t.Helper()
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
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("rules:\n"+rules), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}
