package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataFieldWarning: a rule reading data.hardbounce, a field no Mailjet
// event has, is warned of by check and by serve's start, with the field
// meant, when every source is a Mailjet one; beside a generic source,
// whose events may have any field, it is not.
func TestDataFieldWarning(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rules"), 0o700); err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(dir, "rules", "bounces.yaml")
	if err := os.WriteFile(rulesFile, []byte("rules:\n  - name: clean-hard-bounces\n    when: type == \"bounce\" && data.hardbounce\n    actions: [{ log: {} }]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := rulesFile + `:3:31: rule "clean-hard-bounces": when: data.hardbounce: no mailjet event has this field, so it is always nil (did you mean data.hard_bounce?)`
	for _, tt := range []struct {
		name, sources string
		warn          bool
	}{
		{"mailjet only", "  - { name: mailjet, provider: mailjet }\n  - { name: mailjet-eu, provider: mailjet }\n", true},
		{"and a generic source", "  - { name: mailjet, provider: mailjet }\n  - { name: app, provider: generic, map: { type: kind, email: to } }\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			config := filepath.Join(dir, "hookd.yaml")
			if err := os.WriteFile(config, []byte("sources:\n"+tt.sources+"rules:\n  - rules/*.yaml\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := runHookd(t, "check", "--config", config)
			if err != nil || !strings.Contains(stdout, ": ok (") {
				t.Fatalf("check: %v\n%s%s", err, stdout, stderr)
			}
			if got := strings.Contains(stderr, "warning: "+want+"\n | "); got != tt.warn {
				t.Errorf("check warns %q: %v, want %v:\n%s", want, got, tt.warn, stderr)
			}
			if !tt.warn {
				return
			}
			p := startHookd(t, t.TempDir(), "--config", config)
			if !strings.Contains(p.output(), `"level":"WARN","msg":`+jsonString(want)) {
				t.Errorf("serve's start does not warn %q:\n%s", want, p.output())
			}
			p.stop(t)
		})
	}
}

// jsonString is s as a JSON string, as slog's JSON handler writes it.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
