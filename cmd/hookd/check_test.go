package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runHookd runs the hookd command line in-process and returns its output
// and the error main would print before exiting 1.
func runHookd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheck(t *testing.T) {
	t.Setenv("HOOKD_CHECK_TOKEN", "a-token-of-24-characters")
	good := writeFile(t, "good.yaml", `
sources:
  - name: mailjet
    provider: mailjet
  - name: transactional
    provider: mailjet
    path: /in/transactional
    auth:
      token:
        value: ${HOOKD_CHECK_TOKEN}
`)
	bad := writeFile(t, "bad.yaml", `
sources:
  - name: mailjet
    provider: nope
    auth:
      basic:
        user: hookd
`)
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	// Rule files resolve against the directory of the configuration.
	ruleDir := t.TempDir()
	for name, content := range map[string]string{
		"rules/good.yaml": `
rules:
  - name: alert
    when: type == "blocked" && count("blocked", "domain", "15m") > 10
    cooldown: 1h
    actions:
      - http: { url: "https://alerts.example.com/hook" }
      - log: { message: "{{ .domain }} blocks" }
  - name: note
    when: type == "open"
    actions:
      - log: {}
`,
		"rules/bad.yaml": `
rules:
  - name: broken
    when: type == 1
    actions:
      - sms: { to: "{{ .email }}" }
      - http: { url: "{{ .data.url }}" }
`,
	} {
		path := filepath.Join(ruleDir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	source := "sources:\n  - name: mailjet\n    provider: mailjet\n"
	withRules := filepath.Join(ruleDir, "rules.yaml")
	if err := os.WriteFile(withRules, []byte(source+"rules:\n  - rules/good.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badRules := filepath.Join(ruleDir, "bad-rules.yaml")
	if err := os.WriteFile(badRules, []byte(source+"rules:\n  - rules/*.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badRuleFile := filepath.Join(ruleDir, "rules", "bad.yaml")
	tests := []struct {
		name string
		args []string
		// want is the whole of stdout when the check passes, or the
		// lines the error must contain when it fails.
		want    string
		wantErr []string
	}{
		{
			name: "built-in default",
			args: []string{"check"},
			want: "built-in hookd.yaml: ok (1 source: mailjet at POST /hooks/mailjet; log sqlite; store sqlite; 0 rules)\n",
		},
		{
			name: "good file",
			args: []string{"check", "--config", good},
			want: good + ": ok (2 sources: mailjet at POST /hooks/mailjet, transactional at POST /in/transactional; log sqlite; store sqlite; 0 rules)\n",
		},
		{
			name: "flags are applied",
			args: []string{"check", "--config", good, "--listen", "nowhere"},
			wantErr: []string{
				`--listen: invalid address "nowhere": want host:port, such as ":8080" or "127.0.0.1:8081"`,
			},
		},
		{
			name: "bad file",
			args: []string{"check", "--config", bad},
			wantErr: []string{
				bad + `:4:15: sources[0].provider: unknown provider "nope" (known: `,
				bad + `:6:7: sources[0].auth.basic.password: required`,
			},
		},
		{
			name: "rules",
			args: []string{"check", "--config", withRules},
			want: withRules + ": ok (1 source: mailjet at POST /hooks/mailjet; log sqlite; store sqlite; 2 rules)\n",
		},
		{
			name: "bad rules",
			args: []string{"check", "--config", badRules},
			wantErr: []string{
				badRuleFile + `:4:16: rule "broken": when: invalid operation: == (mismatched types string and int)`,
				` | type == 1`,
				` | .....^`,
				badRuleFile + `:6:9: rule "broken": actions[0].sms: action "sms": unknown action (registered: [email exec http log mailjet_send mailjet_unsubscribe suppress])`,
				badRuleFile + `:7:22: rule "broken": actions[1].http.url: must not be a template`,
			},
		},
		{
			name:    "missing file",
			args:    []string{"check", "--config", missing},
			wantErr: []string{"load config: open " + missing + ": no such file or directory"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHookd(t, tt.args...)
			if stderr != "" {
				t.Errorf("stderr = %q, want nothing (main prints the error)", stderr)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("hookd %s: %v", strings.Join(tt.args, " "), err)
				}
				if stdout != tt.want {
					t.Errorf("stdout = %q, want %q", stdout, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("hookd %s succeeded with %q, want an error", strings.Join(tt.args, " "), stdout)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing on error", stdout)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.wantErr) {
				t.Fatalf("error has %d lines, want %d:\n%v", len(lines), len(tt.wantErr), err)
			}
			for i, want := range tt.wantErr {
				if !strings.Contains(lines[i], want) {
					t.Errorf("error line %d = %q, want it to contain %q", i+1, lines[i], want)
				}
			}
		})
	}
}
