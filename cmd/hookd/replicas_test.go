package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/listener/mailgun"
	"github.com/hookd/hookd/store"
)

// TestReplicasPostgres runs two hookd processes sharing one PostgreSQL
// database for their event log and store; see testReplicas.
func TestReplicasPostgres(t *testing.T) { testReplicas(t, "postgres") }

// TestReplicasNATS runs two hookd processes sharing a NATS JetStream event
// log and a PostgreSQL store; see testReplicas.
func TestReplicasNATS(t *testing.T) { testReplicas(t, "nats") }

// testReplicas starts two hookd replicas (the real binary, each on its own
// ports and data directory) on shared engines, with a rule whose http
// action reaches a local counting target. It delivers distinct Mailjet
// events alternately to the two, sends every third one again to the other
// replica as a provider's retry, and kills the first replica with SIGKILL
// half-way, sending what it no longer answers to the second. The target
// holds its answers until the kill, so that the killed replica dies with a
// job in flight and the others pending. Then every event answered 200 is
// stored exactly once, every retry was answered as a duplicate, and the
// surviving replica runs every job, each with exactly one effect: those of
// the killed replica's target once its claims lapse, under the default
// lease, and it logs whose claims lapsed.
func testReplicas(t *testing.T, backend string) {
	if testing.Short() {
		t.Skip("runs two hookd processes on PostgreSQL/NATS; run without -short")
	}
	dsn := testenv.PostgresSchema(t)
	t.Setenv("HOOKD_REPLICA_DSN", dsn)
	logYAML := `log: { backend: postgres, dsn: "${HOOKD_REPLICA_DSN}" }`
	if backend == "nats" {
		u, prefix := testenv.NATSPrefix(t)
		t.Setenv("HOOKD_REPLICA_NATS", u)
		logYAML = `log: { backend: nats, url: "${HOOKD_REPLICA_NATS}", prefix: ` + prefix + ` }`
	}

	target := newHeldTarget(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "hookd.yaml")
	files := map[string]string{
		config: logYAML + "\n" +
			"store: { driver: postgres, dsn: \"${HOOKD_REPLICA_DSN}\" }\n" +
			"sources: [{ name: mailjet, provider: mailjet }]\n" +
			"rules: [rules.yaml]\n",
		filepath.Join(dir, "rules.yaml"): "rules:\n" +
			"  - name: notify\n" +
			"    when: type == \"open\"\n" +
			"    actions:\n" +
			"      - http: { url: \"" + target.URL + "/notify\", timeout: 2s }\n" +
			"        retry: 20x200ms\n",
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The default lease (30s): the survivor takes the killed replica's
	// claims over once they lapse, well within waitUntil's 2 minutes, and
	// runs the target's pending jobs, which wait for them.
	datas := []string{t.TempDir(), t.TempDir()}
	start := func(i int) *proc { return startHookd(t, datas[i], "--config", config) }
	replicas := []*proc{start(0), start(1)}
	var killed atomic.Int64 // 1 + the index of the replica killed
	var victimOwner string  // its runner's name

	const n = 120
	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		retried  int
		problems []string
	)
	client := &http.Client{Timeout: 30 * time.Second}
	post := func(p *proc, body string) (ack, error) {
		resp, err := client.Post(p.hooks+"/hooks/mailjet", "application/json", strings.NewReader(body))
		if err != nil {
			return ack{}, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return ack{}, fmt.Errorf("status %d", resp.StatusCode)
		}
		var a ack
		return a, json.NewDecoder(resp.Body).Decode(&a)
	}
	// deliver posts body to replica first, or to the other one when first
	// is dead or does not answer, as a load balancer and a provider's
	// retries would, and returns the answer and who gave it.
	deliver := func(first int, body string) (ack, int) {
		for attempt := 0; attempt < 10; attempt++ {
			i := (first + attempt) % 2
			if killed.Load() == int64(i)+1 {
				continue
			}
			if a, err := post(replicas[i], body); err == nil {
				return a, i
			}
		}
		mu.Lock()
		problems = append(problems, "no replica answered 200 to "+body[:40])
		mu.Unlock()
		return ack{}, -1
	}

	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range work {
				body := openEvent(20000 + i)
				ids, err := idsOf(body)
				if err != nil {
					t.Error(err)
					return
				}
				a, by := deliver(i%2, body)
				if by < 0 {
					continue
				}
				mu.Lock()
				if a.Accepted+a.Duplicates == 1 {
					acked[ids[0]] = true
				}
				mu.Unlock()
				if i%3 != 0 {
					continue
				}
				// The provider's retry, through the other replica.
				r, rby := deliver(1-by, body)
				mu.Lock()
				if rby >= 0 {
					retried++
					if r.Duplicates != 1 || r.Accepted != 0 {
						problems = append(problems, fmt.Sprintf("retry of event %d answered %+v, want 1 duplicate", i, r))
					}
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		if i == n/2 {
			// Half-way: the target holds the job in flight, so the
			// replica running it dies with it, and with others pending.
			waitUntil(t, "a job in flight", func() bool { return target.held.Load() > 0 }, replicas...)
			victim, owner := runningOwner(t, dsn, datas)
			victimOwner = owner
			replicas[victim].kill(t)
			killed.Store(int64(victim) + 1)
			t.Logf("killed replica %d; jobs at the kill: %v", victim, jobsOf(t, dsn))
			target.release()
		}
		work <- i
	}
	close(work)
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if len(acked) != n {
		t.Fatalf("%d of %d events acknowledged", len(acked), n)
	}

	survivor := replicas[2-killed.Load()]
	waitUntil(t, "every event stored", func() bool { return len(storedEventIDs(t, dsn)) == n }, survivor)
	waitUntil(t, "every job done", func() bool { return jobsOf(t, dsn)[actions.Done] == n }, survivor)
	survivor.stop(t)
	if !loggedLapse(survivor.output(), victimOwner) {
		t.Errorf("the survivor did not log that the claims of %s lapsed:\n%s", victimOwner, survivor.output())
	}

	stored := storedEventIDs(t, dsn)
	for id := range acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged event %s stored %d times, want once", id, stored[id])
		}
	}
	if len(stored) != n {
		t.Errorf("%d events stored, want %d", len(stored), n)
	}
	if st := jobsOf(t, dsn); st[actions.Done] != n || len(st) != 1 {
		t.Errorf("jobs %v, want %d done", st, n)
	}
	// The command line reads the shared store as the replicas' API does,
	// from anywhere: no data directory needed.
	out, _, err := runHookd(t, "events", "--config", config, "--data", filepath.Join(dir, "none"), "--limit", "1000", "--json")
	if err != nil {
		t.Fatalf("hookd events on the shared store: %v", err)
	}
	if lines := strings.Count(out, "\n"); lines != n {
		t.Errorf("hookd events listed %d events, want %d", lines, n)
	}
	calls, effects, repeats := target.counts()
	if len(effects) != n {
		t.Errorf("%d jobs had an effect, want %d", len(effects), n)
	}
	for k, e := range effects {
		if e != 1 {
			t.Errorf("job %s: %d effects, want 1", k, e)
		}
	}
	// Only the job the killed replica had in flight may reach the target
	// twice (at least once delivery; its Idempotency-Key makes it one effect).
	if len(repeats) > 1 {
		t.Errorf("%d jobs reached the target again after an effect, want at most the one in flight at the kill: %v", len(repeats), repeats)
	}
	t.Logf("%s: %d events, %d retries answered as duplicates, %d requests to the target, repeats %v", backend, n, retried, calls, repeats)
}

// TestReplicasShareMailgunTokens runs two hookd replicas on one PostgreSQL
// database with a Mailgun source, whose signature does not cover the
// event: a signature captured from a delivery to one replica and replayed
// to the other with another event is refused there, while the provider's
// retry of the same delivery is a duplicate at either.
func TestReplicasShareMailgunTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two hookd processes on PostgreSQL; run without -short")
	}
	dsn := testenv.PostgresSchema(t)
	t.Setenv("HOOKD_REPLICA_DSN", dsn)
	const key = "key-mailgun-replicas-0123456789"
	config := filepath.Join(t.TempDir(), "hookd.yaml")
	if err := os.WriteFile(config, []byte(`log: { backend: postgres, dsn: "${HOOKD_REPLICA_DSN}" }
store: { driver: postgres, dsn: "${HOOKD_REPLICA_DSN}" }
sources: [{ name: mailgun, provider: mailgun, verify: { signing_key: "`+key+`" } }]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startHookd(t, t.TempDir(), "--config", config)
	b := startHookd(t, t.TempDir(), "--config", config)

	now := time.Now()
	ts, token := strconv.FormatInt(now.Unix(), 10), "0123456789abcdef0123456789abcdef0123456789abcdef01"
	sig := fmt.Sprintf(`{"timestamp":%q,"token":%q,"signature":%q}`, ts, token, hex.EncodeToString(mailgun.Sign([]byte(key), ts, token)))
	delivery := func(recipient string) string {
		return fmt.Sprintf(`{"signature":%s,"event-data":{"event":"delivered","id":"mg-%s","timestamp":%d,"recipient":%q}}`,
			sig, recipient, now.Unix(), recipient)
	}
	for _, tt := range []struct {
		name   string
		to     *proc
		body   string
		status int
		answer string
	}{
		{"delivery", a, delivery("ann@example.com"), 200, `{"accepted":1,"duplicates":0}`},
		{"replay to the other replica", b, delivery("eve@example.com"), 401, `{"error":"\"signature.token\": already used"}`},
		{"retry to the other replica", b, delivery("ann@example.com"), 200, `{"accepted":0,"duplicates":1}`},
		{"replay to the first replica", a, delivery("eve@example.com"), 401, `{"error":"\"signature.token\": already used"}`},
	} {
		resp, err := http.Post(tt.to.hooks+"/hooks/mailgun", "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || strings.TrimSpace(string(got)) != tt.answer {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.StatusCode, got, tt.status, tt.answer)
		}
	}
	waitUntil(t, "the delivery stored", func() bool { return len(storedEventIDs(t, dsn)) == 1 }, a, b)
	a.stop(t)
	b.stop(t)
	if stored := storedEventIDs(t, dsn); len(stored) != 1 {
		t.Errorf("stored %v, want the one delivery", stored)
	}
}

// heldTarget is the rule's http target: it counts requests and effects per
// Idempotency-Key (a second request with a key already effective is a
// repeat without effect), and holds its answers until release.
type heldTarget struct {
	*httptest.Server
	held     atomic.Int64
	released chan struct{}
	once     sync.Once
	mu       sync.Mutex
	calls    int
	effects  map[string]int
	repeats  map[string]int
}

func newHeldTarget(t *testing.T) *heldTarget {
	h := &heldTarget{released: make(chan struct{}), effects: map[string]int{}, repeats: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		h.held.Add(1)
		select {
		case <-h.released:
		case <-req.Context().Done(): // its replica died
			return
		}
		key := req.Header.Get("Idempotency-Key")
		h.mu.Lock()
		defer h.mu.Unlock()
		h.calls++
		if h.effects[key] > 0 {
			h.repeats[key]++
			return
		}
		h.effects[key]++
	}))
	t.Cleanup(func() {
		h.release()
		h.Close()
	})
	return h
}

func (h *heldTarget) release() { h.once.Do(func() { close(h.released) }) }

func (h *heldTarget) counts() (calls int, effects, repeats map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls, copyCounts(h.effects), copyCounts(h.repeats)
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// runningOwner returns the index of the replica (by data directory) whose
// runner holds the running job, and the runner's name.
func runningOwner(t *testing.T, dsn string, datas []string) (int, string) {
	t.Helper()
	for _, owner := range runningJobs(t, dsn) {
		if i := replicaOf(owner, datas); i >= 0 {
			return i, owner
		}
		t.Fatalf("no replica is runner %s", owner)
	}
	t.Fatal("the running job's owner: no job is running")
	return -1, ""
}

// replicaOf returns the index of the replica (by data directory) whose
// runner is owner, or -1.
func replicaOf(owner string, datas []string) int {
	for i, d := range datas {
		id, err := os.ReadFile(filepath.Join(d, "runner-id"))
		if err == nil && strings.HasSuffix(owner, "/"+strings.TrimSpace(string(id))) {
			return i
		}
	}
	return -1
}

// loggedLapse tells whether a JSON log says that claims of runner lapsed
// and their jobs run again.
func loggedLapse(log, runner string) bool {
	for line := range strings.Lines(log) {
		var rec struct {
			Msg    string
			Runner string
			Jobs   int
		}
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "claims of another runner lapsed") &&
			rec.Runner == runner && rec.Jobs > 0 {
			return true
		}
	}
	return false
}

// openShared opens the shared store read-only, as hookd events would.
func openShared(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Driver: "postgres", DSN: dsn, ReadOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// jobsOf counts the shared store's jobs by status.
func jobsOf(t *testing.T, dsn string) map[string]int {
	t.Helper()
	st := openShared(t, dsn)
	defer st.Close()
	out := map[string]int{}
	q := store.JobQuery{Limit: store.MaxLimit}
	for {
		page, err := st.Jobs(context.Background(), q)
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

// storedEventIDs counts the shared store's events by id.
func storedEventIDs(t *testing.T, dsn string) map[string]int {
	t.Helper()
	st := openShared(t, dsn)
	defer st.Close()
	out := map[string]int{}
	q := store.EventQuery{Limit: store.MaxLimit}
	for {
		page, err := st.Events(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			out[e.ID]++
		}
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

// waitUntil polls cond every 50ms for at most 2 minutes and fails t with
// what, and the processes' logs, when it never holds.
func waitUntil(t *testing.T, what string, cond func() bool, ps ...*proc) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			var logs []string
			for _, p := range ps {
				logs = append(logs, p.output())
			}
			t.Fatalf("%s: not within 2 minutes\n%s", what, strings.Join(logs, "\n----\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
