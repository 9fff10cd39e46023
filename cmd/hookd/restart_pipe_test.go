package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/store"
)

// onceTarget is an HTTP server standing for an idempotent target of a
// rule's http action. Per Idempotency-Key it answers 500 to the first
// failFirst requests, then 200 once with effect, then 200 "already done"
// without effect to any repeat, as a target honouring the key would.
type onceTarget struct {
	*httptest.Server
	failFirst int
	mu        sync.Mutex
	calls     map[string]int // key → requests
	effects   map[string]int // key → 2xx answers with effect
	repeats   map[string]int // key → 2xx answers without effect
}

func newOnceTarget(t *testing.T, failFirst int) *onceTarget {
	o := &onceTarget{failFirst: failFirst, calls: map[string]int{}, effects: map[string]int{}, repeats: map[string]int{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		key := req.Header.Get("Idempotency-Key")
		o.mu.Lock()
		defer o.mu.Unlock()
		o.calls[key]++
		switch {
		case o.calls[key] <= o.failFirst:
			http.Error(w, "not yet", http.StatusInternalServerError)
		case o.effects[key] == 0:
			o.effects[key]++
		default:
			o.repeats[key]++
			_, _ = io.WriteString(w, "already done")
		}
	}))
	t.Cleanup(o.Close)
	return o
}

// seenAtLeast reports whether n keys had at least calls requests each.
func (o *onceTarget) seenAtLeast(n, calls int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := 0
	for _, c := range o.calls {
		if c >= calls {
			k++
		}
	}
	return k >= n
}

// snapshot returns copies of what o counted.
func (o *onceTarget) snapshot() (calls, effects, repeats map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return cp(o.calls), cp(o.effects), cp(o.repeats)
}

// jobsByStatus opens the store under data read-only, as hookd events does
// beside a running server, and counts its jobs by status.
func jobsByStatus(t *testing.T, data string) map[string]int {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: data, ReadOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := map[string]int{}
	q := store.JobQuery{Limit: store.DefaultLimit}
	for {
		page, err := st.Jobs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Jobs {
			out[j.Status]++
		}
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

// waitFor polls cond every 20 ms for at most 60 s and fails t with what
// when it never holds.
func waitFor(t *testing.T, p *proc, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60s\n%s", what, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRestartRunsEveryJobOnce kills hookd with SIGKILL while the jobs of a
// rule's http action are mid-retry, once per failed round, and restarts it
// on the same data each time: every job then completes, and none twice.
//
// The target answers 500 to the first requests of each Idempotency-Key,
// then 2xx once with effect and 2xx "already done" without effect to any
// repeat. The test asserts that every job has exactly one effect and,
// since no kill falls between a 2xx and its recording, that no key is
// answered 2xx twice: hookd sent nothing again after a success it had
// recorded. The kills fall while no attempt is in flight (checked in the
// store before and after each kill); TestRestartRetriesJobKilledMidRequest
// covers a kill during an attempt.
func TestRestartRunsEveryJobOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills hookd; run without -short")
	}
	const (
		events    = 10
		failFirst = 2
	)
	target := newOnceTarget(t, failFirst)
	dir := t.TempDir()
	// A retry delay of 1s leaves room to kill hookd between attempts.
	rule := "rules:\n" +
		"  - name: restart\n" +
		"    when: type == \"open\"\n" +
		"    actions:\n" +
		"      - http: { url: \"" + target.URL + "/restart\" }\n" +
		"        retry: 20x1s\n"
	if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules", "restart.yaml"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(config, []byte("sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - rules/*.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	data := t.TempDir()
	p := startHookd(t, data, "--config", config)
	batch := make([]string, events)
	for i := range batch {
		batch[i] = openEvent(100 + i)
	}
	if a := postHook(t, p.hooks, "["+strings.Join(batch, ",")+"]"); a.Accepted != events {
		t.Fatalf("post: %+v, want %d accepted", a, events)
	}

	for round := 1; round <= failFirst; round++ {
		waitFor(t, p, "every job attempted", func() bool { return target.seenAtLeast(events, round) })
		waitFor(t, p, "no attempt in flight", func() bool { return jobsByStatus(t, data)[actions.Running] == 0 })
		p.kill(t)
		st := jobsByStatus(t, data)
		if st[actions.Running] != 0 {
			t.Fatalf("round %d: the kill fell mid-attempt (%v); that job waits for its lease", round, st)
		}
		if st[actions.Pending] != events {
			t.Fatalf("round %d: jobs %v at the kill, want %d pending", round, st, events)
		}
		p = startHookd(t, data, "--config", config)
	}

	waitFor(t, p, "every job done", func() bool { return jobsByStatus(t, data)[actions.Done] == events })
	p.stop(t)
	calls, effects, repeats := target.snapshot()
	if len(effects) != events {
		t.Fatalf("%d keys had an effect, want %d: %v", len(effects), events, effects)
	}
	for k, n := range effects {
		if n != 1 || repeats[k] != 0 {
			t.Errorf("key %s: %d effects, %d repeats after a 2xx; want 1 and 0", k, n, repeats[k])
		}
	}
	if st := jobsByStatus(t, data); st[actions.Done] != events || len(st) != 1 {
		t.Errorf("jobs %v, want %d done", st, events)
	}
	t.Logf("requests per key: %v", calls)
}

// TestRestartRetriesJobKilledMidRequest kills hookd while its http action's
// request is in flight. The restarted process takes the job back at once
// (it is the same runner owner, kept in the data directory) instead of
// waiting for the claim's lease to lapse, and the job completes.
func TestRestartRetriesJobKilledMidRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills hookd; run without -short")
	}
	var (
		mu      sync.Mutex
		calls   int
		effects int
		held    = make(chan struct{}, 1)
	)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			// Hold the first attempt until its client, hookd, dies.
			held <- struct{}{}
			<-req.Context().Done()
			return
		}
		mu.Lock()
		effects++
		mu.Unlock()
	}))
	defer target.Close()

	dir := t.TempDir()
	rule := "rules:\n" +
		"  - name: held\n" +
		"    when: type == \"open\"\n" +
		"    actions:\n" +
		"      - http: { url: \"" + target.URL + "/held\", timeout: 60s }\n"
	config := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(filepath.Join(dir, "held.yaml"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, []byte("sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - held.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	// A lease longer than waitFor waits: the job is back only if the
	// restarted process releases its claim.
	p := startHookd(t, data, "--config", config, "--runner-lease", "10m")
	if a := postHook(t, p.hooks, openEvent(7)); a.Accepted != 1 {
		t.Fatalf("post: %+v", a)
	}
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		t.Fatalf("the action's request never arrived\n%s", p.output())
	}
	p.kill(t)
	if st := jobsByStatus(t, data); st[actions.Running] != 1 {
		t.Fatalf("jobs %v at the kill, want 1 running", st)
	}

	p = startHookd(t, data, "--config", config)
	waitFor(t, p, "the interrupted job done", func() bool { return jobsByStatus(t, data)[actions.Done] == 1 })
	p.stop(t)
	mu.Lock()
	defer mu.Unlock()
	if effects != 1 || calls != 2 {
		t.Fatalf("target saw %d requests and %d effects, want 2 and 1", calls, effects)
	}
}
