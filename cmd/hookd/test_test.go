package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestTestCommand(t *testing.T) {
	dir := filepath.Join("testdata", "test")
	config := filepath.Join(dir, "hookd.yaml")
	tests := []struct {
		name string
		args []string
	}{
		// A hard bounce matches one rule; the others say why not.
		{"bounce", []string{"--event", filepath.Join(dir, "bounce.json")}},
		// last() sees the send only from an open after it in both the
		// file and time; the second send is held by once.
		{"sequence", []string{"--event", filepath.Join(dir, "sequence.json")}},
		{"sequence_json", []string{"--event", filepath.Join(dir, "sequence.json"), "--json"}},
		// At one time, every open after the send in the file sees it, and
		// the second is held by cooldown.
		{"at", []string{"--event", filepath.Join(dir, "sequence.json"), "--at", "2025-03-01T12:00:00+01:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHookd(t, append([]string{"test", "--config", config}, tt.args...)...)
			if err != nil {
				t.Fatalf("err = %v; stderr %s", err, stderr)
			}
			goldenText(t, filepath.Join(dir, tt.name+".golden"), stdout)
		})
	}
}

// TestTestRenderError tests a rule whose action reads a field the event
// lacks: the results are printed, and test exits non-zero.
func TestTestRenderError(t *testing.T) {
	dir := filepath.Join("testdata", "test")
	stdout, _, err := runHookd(t, "test", "--config", filepath.Join(dir, "render.yaml"), "--event", filepath.Join(dir, "bounce.json"))
	if err == nil || !strings.Contains(err.Error(), "test: rule outcomes that are errors: 1 ") {
		t.Errorf("err = %v, want one counting the error", err)
	}
	if !strings.Contains(stdout, "error") || !strings.Contains(stdout, "needs-url") || !strings.Contains(stdout, `"url"`) {
		t.Errorf("stdout = %q, want the rule's error", stdout)
	}
}

func TestTestCommandErrors(t *testing.T) {
	dir := filepath.Join("testdata", "test")
	events := filepath.Join(dir, "bounce.json")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"rule file error", []string{"--config", filepath.Join(dir, "bad.yaml"), "--event", events},
			filepath.Join(dir, "broken.yaml") + `:3:`},
		{"bad --at", []string{"--config", filepath.Join(dir, "hookd.yaml"), "--event", events, "--at", "yesterday"},
			`test: --at "yesterday": want an RFC 3339 time`},
		{"no --event", []string{"--config", filepath.Join(dir, "hookd.yaml")}, "test: --event FILE is required"},
		{"not Mailjet", []string{"--config", filepath.Join(dir, "hookd.yaml"), "--event", filepath.Join(dir, "rules.yaml")},
			"test: " + filepath.Join(dir, "rules.yaml") + ": decode mailjet delivery"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runHookd(t, append([]string{"test"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}
