package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
)

// TestExampleSendgridSigned runs examples/sendgrid-signed as its README
// does, its sign program standing in for SendGrid: the first batch
// unsigned, then signed and tampered with, both 401 and stored nowhere;
// signed, accepted; hookd killed and started again on its data; the
// second batch signed; then the first again, as SendGrid's retry would,
// all duplicates. Ann's hard bounce and Dan's dropped message suppress
// them and add them to SendGrid's global unsubscribes (a stand-in for its
// API), Bob's spam report suppresses him and posts one alert, Cat's
// blocked bounce and the processed and delivered events do nothing.
func TestExampleSendgridSigned(t *testing.T) {
	var (
		mu    sync.Mutex
		calls []string
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer api.Close()
	t.Setenv("SENDGRID_API_KEY", "SG.try")
	dir := exampleDir(t, "sendgrid-signed", map[string]string{"http://127.0.0.1:8025": api.URL})
	data := t.TempDir()
	p := startHookd(t, data, "--config", filepath.Join(dir, "hookd.yaml"))
	batch1, batch2 := filepath.Join(dir, "events", "batch-1.json"), filepath.Join(dir, "events", "batch-2.json")

	signer := filepath.Join(t.TempDir(), "sign")
	if out, err := exec.Command("go", "build", "-o", signer, "../../examples/sendgrid-signed/sign").CombinedOutput(); err != nil {
		t.Fatalf("build the example's signer: %v\n%s", err, out)
	}
	// sign runs the signer as the README does; it returns hookd's answer
	// and whether the signer exited 0 (a 2xx answer).
	sign := func(args ...string) (string, bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args = append([]string{"-key", filepath.Join(dir, "demo-signing-key.pem")}, args...)
		out, err := exec.CommandContext(ctx, signer, args...).CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("sign %v: %v\n%s", args, err, out)
		}
		return string(out), err == nil
	}
	acked := func(out string) ack {
		t.Helper()
		var a ack
		if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &a) != nil {
			t.Fatalf("sign: no acknowledgement in %q", out)
		}
		return a
	}

	resp, err := http.Post(p.hooks+"/hooks/sendgrid", "application/json", strings.NewReader(readFile(t, batch1)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned: %s, want 401", resp.Status)
	}
	if out, ok := sign("-tamper", batch1, p.hooks+"/hooks/sendgrid"); ok || !strings.Contains(out, "401 Unauthorized") {
		t.Errorf("tampered: %s, want 401 and a failed sign", out)
	}
	var quarantine struct{ Quarantine []json.RawMessage }
	getJSON(t, p.admin+"/api/quarantine", &quarantine)
	var evs struct{ Events []json.RawMessage }
	getJSON(t, p.admin+"/api/events", &evs)
	if len(quarantine.Quarantine) != 0 || len(evs.Events) != 0 {
		t.Errorf("after the unsigned and the tampered delivery: %d events, %d quarantined, want none", len(evs.Events), len(quarantine.Quarantine))
	}
	resp, err = http.Get(p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `hookd_requests_rejected_total{reason="auth",source="sendgrid"} 2`; !strings.Contains(string(metrics), want+"\n") {
		t.Errorf("/metrics lacks %s", want)
	}

	out, ok := sign(batch1, p.hooks+"/hooks/sendgrid")
	if a := acked(out); !ok || a.Accepted != 4 {
		t.Fatalf("batch-1.json: %s, want 4 accepted", out)
	}
	settle(t, p, 4)
	p.kill(t)
	p = startHookd(t, data, "--config", filepath.Join(dir, "hookd.yaml"))
	out, ok = sign(batch2, p.hooks+"/hooks/sendgrid")
	if a := acked(out); !ok || a.Accepted != 2 {
		t.Fatalf("batch-2.json: %s, want 2 accepted", out)
	}
	settle(t, p, 6)
	out, ok = sign(batch1, p.hooks+"/hooks/sendgrid")
	if a := acked(out); !ok || a.Accepted != 0 || a.Duplicates != 4 {
		t.Errorf("batch-1.json again: %s, want 4 duplicates", out)
	}
	jobs := settle(t, p, 6)

	kind, err := actions.Lookup("http")
	if err != nil {
		t.Fatal(err)
	}
	unsub := kind.Target(map[string]any{"url": api.URL + "/v3/asm/suppressions/global"})
	alert := kind.Target(map[string]any{"url": api.URL + "/alert"})
	wantJobs := "remove-failed-addresses suppress suppress done \n" +
		"remove-failed-addresses http " + unsub + " done \n" +
		"remove-failed-addresses suppress suppress done \n" +
		"remove-failed-addresses http " + unsub + " done \n" +
		"spam-complaint-alert suppress suppress done \n" +
		"spam-complaint-alert http " + alert + " done \n"
	if got := jobSummary(jobs); got != wantJobs {
		t.Errorf("jobs:\n%s\nwant\n%s", got, wantJobs)
	}
	mu.Lock()
	got := slices.Clone(calls)
	mu.Unlock()
	// The jobs of different targets run side by side: in any order.
	slices.Sort(got)
	want := []string{
		`POST /alert  {"text":":warning: bob@example.com reported our november-news message as spam (2026-11-30T09:31:00Z)"}`,
		`POST /v3/asm/suppressions/global Bearer SG.try {"recipient_emails":["ann@example.com"]}`,
		`POST /v3/asm/suppressions/global Bearer SG.try {"recipient_emails":["dan@example.net"]}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("requests:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var sup struct {
		Suppressions []struct{ Email, Reason, Rule string }
	}
	getJSON(t, p.admin+"/api/suppressions", &sup)
	var lines []string
	for _, s := range sup.Suppressions {
		lines = append(lines, s.Email+" | "+s.Reason+" | "+s.Rule)
	}
	slices.Sort(lines)
	wantSup := "ann@example.com | bounce: 550 5.1.1 The email account that you tried to reach does not exist. | remove-failed-addresses\n" +
		"bob@example.com | spam report | spam-complaint-alert\n" +
		"dan@example.net | dropped: Invalid | remove-failed-addresses"
	if strings.Join(lines, "\n") != wantSup {
		t.Errorf("suppressions:\n%s\nwant\n%s", strings.Join(lines, "\n"), wantSup)
	}

	// The README's listing, beside the running hookd, newest first.
	stdout, stderr, err := runHookd(t, "events", "--data", data)
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 2 {
			types = append(types, f[1]+" "+f[2])
		}
	}
	wantTypes := "spamreport bob@example.com, dropped dan@example.net, bounce cat@example.org, bounce ann@example.com, delivered bob@example.com, processed ann@example.com"
	if err != nil || strings.Join(types, ", ") != wantTypes {
		t.Errorf("hookd events: %v\n%s%s\nwant %s", err, stdout, stderr, wantTypes)
	}
	p.stop(t)
}
