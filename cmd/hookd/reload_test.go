package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReloadChangedKeys(t *testing.T) {
	const base = "listen: \":8080\"\nsources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - rules/*.yaml\n"
	tests := []struct {
		name, after string
		want        []string
	}{
		{"same content, other layout", "listen: ':8080'\nsources: [{name: mailjet, provider: mailjet}]\nrules: [rules/*.yaml]\n", []string{}},
		{"rule glob added", base + "  - more/*.yaml\n", []string{"rules"}},
		{"key added", base + "data: /srv/hookd\n", []string{"data"}},
		{"key removed", "sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - rules/*.yaml\n", []string{"listen"}},
		{"two changed", "listen: \":9090\"\nsources:\n  - name: sg\n    provider: sendgrid\nrules:\n  - rules/*.yaml\n", []string{"listen", "sources"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := changedKeys([]byte(base), []byte(tt.after))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("changedKeys = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := changedKeys([]byte(base), []byte("rules: [\n")); err == nil {
		t.Error("changedKeys of a file that does not parse: no error")
	}
	// Merge keys merging mappings that merge a mapping nine times, nine
	// times over: decoded, billions of mappings.
	bomb := base + "x:\n  m0: &m0 {a: 1}\n"
	for i := 1; i <= 11; i++ {
		bomb += fmt.Sprintf("  m%d: &m%d {<<: [%s]}\n", i, i, strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 8)+fmt.Sprintf("*m%d", i-1))
	}
	done := make(chan error, 1)
	go func() {
		_, err := changedKeys([]byte(base), []byte(bomb))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "aliases expand it to more than 1000000 values") {
			t.Errorf("changedKeys of a file whose aliases expand to billions of values: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("changedKeys of a file whose aliases expand to billions of values has not returned after 10 s")
	}
}

// TestReloadHupConfigChanged edits hookd.yaml under a running hookd and
// sends SIGHUP: the rule files reload, and a warning names the file and
// the keys that changed, which apply only at a restart. A SIGHUP with the
// file as it started warns of nothing.
func TestReloadHupConfigChanged(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("rules:\n  - name: on-open\n    when: type == \"open\"\n    actions:\n      - log: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "hookd.yaml")
	src := "sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - rules.yaml\n"
	if err := os.WriteFile(config, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHookd(t, t.TempDir(), "--config", config)

	type record struct {
		Level, Msg, File string
		Keys             []string
	}
	// hup sends SIGHUP and returns the records logged after it, until the
	// rule files reloaded.
	hup := func() []record {
		t.Helper()
		from := len(p.output())
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			var recs []record
			reloaded := false
			for line := range strings.Lines(p.output()[from:]) {
				var r record
				if json.Unmarshal([]byte(line), &r) == nil {
					recs = append(recs, r)
					reloaded = reloaded || r.Msg == "rules loaded"
				}
			}
			if reloaded {
				return recs
			}
			if time.Now().After(deadline) {
				t.Fatalf("no reload after SIGHUP\n%s", p.output()[from:])
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	changed := func(recs []record) []record {
		var out []record
		for _, r := range recs {
			if strings.HasPrefix(r.Msg, "configuration file changed") {
				out = append(out, r)
			}
		}
		return out
	}
	if w := changed(hup()); len(w) != 0 {
		t.Errorf("SIGHUP with the file unchanged warned: %+v", w)
	}
	if err := os.WriteFile(config, []byte(src+"  - more/*.yaml\nlimits: { max_body: 2MiB }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := changed(hup())
	if len(w) != 1 || w[0].Level != "WARN" || w[0].File != config || !slices.Equal(w[0].Keys, []string{"limits", "rules"}) {
		t.Errorf("SIGHUP after editing %s logged %+v, want one WARN naming the file and keys [limits rules]", config, w)
	}
}
