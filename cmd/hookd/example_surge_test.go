package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hookd/hookd/actions"
)

// TestExampleBlockedSurge runs examples/blocked-surge: the morning's events
// as single objects in order, with hookd killed and started again on its
// data after the first alert, noon's as one Version 2 array, then that
// array again as Mailjet's retry would. bad.example blocks its fifth
// message of 8 at 10:07 (one alert), its sixth inside the hour's cooldown
// (none, though hookd restarted), and 5 of 7 again at 12:06 (a second
// alert); good.example's 2 blocked of 12 alert nobody.
func TestExampleBlockedSurge(t *testing.T) {
	var (
		mu     sync.Mutex
		alerts []string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		alerts = append(alerts, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	dir := exampleDir(t, "blocked-surge", map[string]string{"http://127.0.0.1:8025": hook.URL})
	data := t.TempDir()
	p := startHookd(t, data, "--config", filepath.Join(dir, "hookd.yaml"))
	url := p.hooks + "/hooks/mailjet"

	// The morning up to the first alert (10:07, its 17th event), and the
	// rest after a crash: the cooldown is kept with the data.
	var morning []json.RawMessage
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "events", "morning.json"))), &morning); err != nil || len(morning) != 21 {
		t.Fatalf("morning.json: %d events, %v; want 21", len(morning), err)
	}
	for i, part := range [][]json.RawMessage{morning[:17], morning[17:]} {
		file := filepath.Join(t.TempDir(), "morning.json")
		b, err := json.Marshal(part)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if out := hookdSend(t, "--concurrency", "1", "--file", file, url); !strings.Contains(out, fmt.Sprintf("%d requests", len(part))) {
			t.Errorf("send morning.json, part %d:\n%s", i+1, out)
		}
		if i == 0 {
			settle(t, p, 17)
			p.kill(t)
			p = startHookd(t, data, "--config", filepath.Join(dir, "hookd.yaml"))
			url = p.hooks + "/hooks/mailjet"
		}
	}
	hookdSend(t, "--group", "--file", filepath.Join(dir, "events", "noon.json"), url)
	settle(t, p, 28)
	if a := postHook(t, p.hooks, readFile(t, filepath.Join(dir, "events", "noon.json"))); a.Accepted != 0 || a.Duplicates != 7 {
		t.Errorf("redelivery: %+v, want 7 duplicates", a)
	}
	jobs := settle(t, p, 28)

	kind, err := actions.Lookup("http")
	if err != nil {
		t.Fatal(err)
	}
	target := kind.Target(map[string]any{"url": hook.URL + "/alert"})
	wantJobs := "blocked-surge http " + target + " done \nblocked-surge http " + target + " done \n"
	if got := jobSummary(jobs); got != wantJobs {
		t.Errorf("jobs:\n%s\nwant\n%s", got, wantJobs)
	}
	body := func(email, at string) string {
		return `POST /alert application/json {"text":":rotating_light: bad.example blocked more than 60% of our mail in the last 15 minutes (latest: ` +
			email + ` at ` + at + `, reason: blacklisted)"}`
	}
	want := body("user14@bad.example", "2026-11-04T10:07:00Z") + "\n" + body("user44@bad.example", "2026-11-04T12:06:00Z")
	mu.Lock()
	got := strings.Join(alerts, "\n")
	mu.Unlock()
	if got != want {
		t.Errorf("alerts:\n%s\nwant\n%s", got, want)
	}
	p.stop(t)
}
