package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommandsBesideServer runs explain, backtest and replay on the data
// of a running hookd serve process, and checks that rebuild refuses to run
// beside it and runs once it stopped.
func TestCommandsBesideServer(t *testing.T) {
	h := &hits{n: map[string]int{}}
	target := httptest.NewServer(h)
	defer target.Close()
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("live.yaml", surgeRules(target.URL, 4))
	write("fixed.yaml", surgeRules(target.URL, 2))
	live := write("hookd.yaml", "sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - live.yaml\n")
	fixed := write("fixed-hookd.yaml", "sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - fixed.yaml\n")
	data := filepath.Join(dir, "data")
	p := startHookd(t, data, "--config", live)

	file := filepath.Join("testdata", "scenarios", "blocked-surge", "events.json")
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(p.hooks+"/hooks/mailjet", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("posting the events: %s", resp.Status)
	}
	events := scenarioEvents(t, file)
	waitHits := func(want map[string]int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for fmt.Sprint(h.counts()) != fmt.Sprint(want) {
			if time.Now().After(deadline) {
				t.Fatalf("requests by event = %v, want %v\n%s", h.counts(), want, p.output())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	want := map[string]int{events[9].ID: 1, events[10].ID: 1}
	waitHits(want)

	out, _, err := runHookd(t, "explain", "--data", data, events[9].ID)
	if err != nil || !strings.Contains(out, "fired  surge") {
		t.Errorf("explain beside the server: %q %v", out, err)
	}
	out, _, err = runHookd(t, "backtest", "--config", live, "--data", data, "--rules", filepath.Join(dir, "fixed.yaml"), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Rules []struct{ Added, Removed int }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Rules) != 1 || rep.Rules[0].Added != 2 || rep.Rules[0].Removed != 0 {
		t.Errorf("backtest beside the server: %s %v", out, err)
	}
	out, _, err = runHookd(t, "replay", "--config", fixed, "--data", data, "--since", "2025-03-01")
	if err != nil || !strings.HasPrefix(out, "replayed 13 events: queued 2 jobs") {
		t.Errorf("replay beside the server: %q %v", out, err)
	}
	// The server's runner finds the jobs the replay queued.
	want[events[7].ID], want[events[8].ID] = 1, 1
	waitHits(want)

	if _, _, err := runHookd(t, "rebuild", "--config", live, "--data", data); err == nil || !strings.Contains(err.Error(), "hookd serve is running") {
		t.Errorf("rebuild beside the server: %v", err)
	}
	p.stop(t)
	out, _, err = runHookd(t, "rebuild", "--config", live, "--data", data)
	if err != nil || !strings.HasPrefix(out, "rebuilt 13 events") {
		t.Errorf("rebuild once the server stopped: %q %v", out, err)
	}
	waitHits(want) // nothing ran twice
}
