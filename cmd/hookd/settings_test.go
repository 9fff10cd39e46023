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
