package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hookReceiver is an HTTP server standing for the target of a rule's http
// action: it fails its first failures requests with 500, then records each
// request's Idempotency-Key and path.
type hookReceiver struct {
	*httptest.Server
	failures atomic.Int64
	mu       sync.Mutex
	got      map[string]int // "path key" → successful requests
}

func newHookReceiver(t *testing.T, failures int64) *hookReceiver {
	r := &hookReceiver{got: map[string]int{}}
	r.failures.Store(failures)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		if r.failures.Add(-1) >= 0 {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		r.mu.Lock()
		r.got[req.URL.Path+" "+req.Header.Get("Idempotency-Key")]++
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

// received returns a copy of what r recorded.
func (r *hookReceiver) received() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.got))
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

// waitReceived waits, at most 30 s, until r recorded n distinct requests.
func (r *hookReceiver) waitReceived(t *testing.T, n int) map[string]int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := r.received()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeRunsRules runs hookd serve with a rule file: events posted to
// the hooks listener fire the rule, whose http action reaches its target
// once per once key through failures, restarts and redeliveries; SIGHUP
// loads a changed rule file.
func TestServeRunsRules(t *testing.T) {
	target := newHookReceiver(t, 2)
	rule := func(names ...string) string {
		var b strings.Builder
		b.WriteString("rules:\n")
		for _, n := range names {
			b.WriteString("  - name: " + n + "\n")
			b.WriteString("    when: type == \"open\"\n")
			b.WriteString("    once: email\n")
			b.WriteString("    actions:\n")
			b.WriteString("      - http: { url: \"" + target.URL + "/" + n + "\" }\n")
			b.WriteString("        retry: 5x10ms\n")
		}
		return b.String()
	}
	config, rulesFile := rulesConfig(t, "", "pipe.yaml", rule("welcome"))
	if out, _, err := runHookd(t, "check", "--config", config); err != nil || !strings.Contains(out, "1 rule)") {
		t.Fatalf("hookd check: %q, %v", out, err)
	}

	data := t.TempDir()
	p := startHookd(t, data, "--config", config)
	// User1 opens twice: once fires for the first open only.
	first := "[" + openEvent(1) + "," + strings.Replace(openEvent(2), "User2@", "User1@", 1) + "]"
	postHook(t, p.hooks, first)
	postHook(t, p.hooks, strings.Replace(openEvent(3), "User3@", "User2@", 1))
	got := target.waitReceived(t, 2)
	want := map[string]int{
		"/welcome welcome/0/once:user1@example.com": 1,
		"/welcome welcome/0/once:user2@example.com": 1,
	}
	if !equalCounts(got, want) {
		t.Fatalf("target received %v, want %v", got, want)
	}
	p.stop(t)

	// After a restart, neither redelivered events nor the jobs done run
	// again; the changed file loads on SIGHUP.
	p = startHookd(t, data, "--config", config)
	if a := postHook(t, p.hooks, first); a.Duplicates != 2 {
		t.Fatalf("redelivery: %+v, want 2 duplicates", a)
	}
	if err := os.WriteFile(rulesFile, []byte(rule("welcome", "thanks")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for out := p.output(); !strings.Contains(out, "SIGHUP: reloading the rule files") || !strings.Contains(out, `"rules":2`); out = p.output() {
		if time.Now().After(deadline) {
			t.Fatalf("the changed rule file did not load\n%s", p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	postHook(t, p.hooks, strings.Replace(openEvent(4), "User4@", "User1@", 1))
	got = target.waitReceived(t, 3)
	want["/thanks thanks/0/once:user1@example.com"] = 1
	if !equalCounts(got, want) {
		t.Fatalf("target received %v, want %v", got, want)
	}
	p.stop(t)
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
