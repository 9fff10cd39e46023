package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExecArgWarning: an exec argument rendered from the event before any
// "--" is warned of at its place, saying to write "--", by check and by
// serve's start; the same rule with "--" first is not, and loads alike.
func TestExecArgWarning(t *testing.T) {
	const msg = `rendered from the event before any "--" argument: a value that starts with - would reach the program as an option; write "--" as an argument before it, unless the program takes no options`
	for _, tt := range []struct {
		name, command, args string
		want                []string
	}{
		{"before --", "/bin/true", `["{{ .email }}", "{{ .data.x }}"]`, []string{
			`:5:45: rule "notify": actions[0].exec.args[0]: ` + msg,
			`:5:61: rule "notify": actions[0].exec.args[1]: ` + msg,
		}},
		{"after --", "/bin/true", `["--", "{{ .email }}", "{{ .data.x }}"]`, nil},
		{"an option's value", "/bin/true", `["--to={{ .email }}", "--", "{{ .data.x }}"]`, nil},
		// sh -c SCRIPT NAME ARGS: the shell reads no option after the script.
		{"a shell's operands", "sh", `["-c", 'echo "$1"', "notify", "{{ .email }}"]`, nil},
		{"a shell's options", "/bin/sh", `["-x", "{{ .email }}"]`, []string{
			`:5:49: rule "notify": actions[0].exec.args[1]: ` + msg,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "rules"), 0o700); err != nil {
				t.Fatal(err)
			}
			rulesFile := filepath.Join(dir, "rules", "notify.yaml")
			if err := os.WriteFile(rulesFile, []byte("rules:\n  - name: notify\n    when: type == \"open\"\n    actions:\n      - exec: { command: "+tt.command+", args: "+tt.args+" }\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			config := filepath.Join(dir, "hookd.yaml")
			if err := os.WriteFile(config, []byte("sources:\n  - { name: mailjet, provider: mailjet }\nrules:\n  - rules/*.yaml\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := runHookd(t, "check", "--config", config)
			if err != nil || !strings.Contains(stdout, ": ok (") {
				t.Fatalf("check: %v\n%s%s", err, stdout, stderr)
			}
			if got, want := strings.Count(stderr, "warning: "+rulesFile+":"), len(tt.want); got != want {
				t.Errorf("check warns %d times of %s, want %d:\n%s", got, rulesFile, want, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, "warning: "+rulesFile+w+"\n | ") {
					t.Errorf("check does not warn %q:\n%s", w, stderr)
				}
			}
			if tt.want == nil {
				return
			}
			p := startHookd(t, t.TempDir(), "--config", config)
			for _, w := range tt.want {
				if !strings.Contains(p.output(), `"level":"WARN","msg":`+jsonString(rulesFile+w)) {
					t.Errorf("serve's start does not warn %q:\n%s", w, p.output())
				}
			}
			p.stop(t)
		})
	}
}
