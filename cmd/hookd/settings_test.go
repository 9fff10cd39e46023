package main

import (
	"strings"
	"testing"
)

// TestCheckRequiresSettings checks that a rule using an action whose
// connection the configuration lacks does not load.
func TestCheckRequiresSettings(t *testing.T) {
	tests := []struct {
		name, action, config, wantErr string
	}{
		{"email without smtp", `email: { to: "{{ .email }}", subject: "s", text: "t" }`, "",
			`rule "r": actions[0].email: the email action needs smtp (host, from) in the configuration`},
		{"mailjet_send without keys", `mailjet_send: { to: "{{ .email }}", subject: "s", text: "t" }`, "",
			`rule "r": actions[0].mailjet_send: the mailjet_send action needs mailjet (api_key, api_secret) in the configuration`},
		{"mailjet_unsubscribe without keys", `mailjet_unsubscribe: { list_id: 1 }`, "",
			`rule "r": actions[0].mailjet_unsubscribe: the mailjet_unsubscribe action needs mailjet`},
		{"email with smtp", `email: { to: "{{ .email }}", subject: "s", text: "t" }`, "smtp: { host: localhost, from: a@example.com }\n", ""},
		{"suppress needs nothing", `suppress: { reason: "x" }`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := writeFile(t, "rules.yaml", "rules:\n  - name: r\n    when: type == \"open\"\n    actions:\n      - "+tt.action+"\n")
			cfg := writeFile(t, "hookd.yaml", "sources: [{name: mailjet, provider: mailjet}]\n"+tt.config+"rules: ["+rules+"]\n")
			_, _, err := runHookd(t, "check", "--config", cfg)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("check: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestServeWarnsOfCutTimeouts checks that serve warns of an action whose
// timeout the runner's lease cuts, and not of one within it.
func TestServeWarnsOfCutTimeouts(t *testing.T) {
	rules := writeFile(t, "rules.yaml", "rules:\n  - name: slow\n    when: type == \"open\"\n    actions:\n"+
		"      - exec: { command: /bin/true, timeout: 10s }\n      - exec: { command: /bin/true, timeout: 2s }\n")
	cfg := writeFile(t, "hookd.yaml", "sources: [{name: mailjet, provider: mailjet}]\nrules: ["+rules+"]\n")
	p := startHookd(t, t.TempDir(), "--config", cfg, "--runner-lease", "8s")
	p.stop(t)
	out := p.output()
	want := `"rule":"slow","action":"actions[0].exec","timeout":"10s","lease":"8s"`
	if n := strings.Count(out, "an action's timeout is longer than half the runner's lease"); n != 1 || !strings.Contains(out, want) {
		t.Errorf("%d warnings, want one with %s:\n%s", n, want, out)
	}
}
