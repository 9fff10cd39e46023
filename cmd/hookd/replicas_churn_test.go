package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/internal/testenv"
)

// TestReplicasChurnPostgres runs churn on two replicas sharing one
// PostgreSQL database for their event log and store; see
// testReplicasChurn.
func TestReplicasChurnPostgres(t *testing.T) { testReplicasChurn(t, "postgres") }

// TestReplicasChurnNATS runs churn on two replicas sharing a NATS
// JetStream event log and a PostgreSQL store; see testReplicasChurn.
func TestReplicasChurnNATS(t *testing.T) { testReplicasChurn(t, "nats") }

// testReplicasChurn runs two replicas (the real binary) under a trickle of
// webhooks, one at a time, alternately to each, while an operator's and a
// machine's mishaps happen to them in turn: the PostgreSQL connections of
// one replica are terminated (pg_terminate_backend), the other is stopped
// with SIGTERM and started again, as a rolling upgrade does, and then the
// replica running an action job is killed with SIGKILL and started again.
// The rules send every open to a slow http target that records each
// delivery's Idempotency-Key, once per address (once: email) to another,
// clicks with a cooldown to a third, and every click to a fourth that fails
// at first: its first job dies and suspends it. Both replicas' APIs show
// the same events, jobs, dead letters and suspended targets; the dead
// letter, retried through one replica once the target is fixed, runs. In
// the end every event answered 200 is stored once, every job is done with
// one effect, and the once and cooldown rules fired as one process would
// have made them fire.
func testReplicasChurn(t *testing.T, backend string) {
	if testing.Short() {
		t.Skip("runs hookd processes on PostgreSQL/NATS; run without -short")
	}
	t.Parallel()
	dsn := testenv.PostgresSchema(t)
	logYAML := func(dsn string) string { return `log: { backend: postgres, dsn: "` + dsn + `" }` }
	if backend == "nats" {
		u, prefix := testenv.NATSPrefix(t)
		logYAML = func(string) string { return `log: { backend: nats, url: "` + u + `", prefix: ` + prefix + ` }` }
	}
	target := newRecordingTarget(t, 80*time.Millisecond)
	target.failing.Store(true) // the report rule's target, until it is fixed
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte("rules:\n"+
		"  - name: notify\n"+
		"    when: type == \"open\"\n"+
		"    actions:\n"+
		"      - http: { url: \""+target.URL+"/notify\", timeout: 5s }\n"+
		"        retry: 50x200ms\n"+
		"  - name: welcome\n"+
		"    when: type == \"open\"\n"+
		"    once: email\n"+
		"    actions:\n"+
		"      - http: { url: \""+target.URL+"/once\", timeout: 5s }\n"+
		"        retry: 50x200ms\n"+
		"  - name: clicks\n"+
		"    when: type == \"click\"\n"+
		"    cooldown: 1h\n"+
		"    actions:\n"+
		"      - http: { url: \""+target.URL+"/cooldown\", timeout: 5s }\n"+
		"        retry: 50x200ms\n"+
		"  - name: report\n"+
		"    when: type == \"click\"\n"+
		"    actions:\n"+
		"      - http: { url: \""+target.URL+"/report\", timeout: 5s }\n"+
		"        retry: 1x100ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Each replica's connections carry an application_name of its own, so
	// that the test terminates only that replica's backends.
	names := []string{"hookd-churn-a-" + testenv.Random(), "hookd-churn-b-" + testenv.Random()}
	configs := make([]string, 2)
	for i, name := range names {
		appDSN := withApplicationName(t, dsn, name)
		configs[i] = filepath.Join(dir, fmt.Sprintf("hookd-%d.yaml", i))
		if err := os.WriteFile(configs[i], []byte(logYAML(appDSN)+"\n"+
			"store: { driver: postgres, dsn: \""+appDSN+"\" }\n"+
			"sources: [{ name: mailjet, provider: mailjet }]\n"+
			"rules: [rules.yaml]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const lease = 6 * time.Second
	datas := []string{t.TempDir(), t.TempDir()}
	var mu sync.Mutex // guards replicas
	replicas := make([]*proc, 2)
	start := func(i int) {
		p := startHookd(t, datas[i], "--config", configs[i], "--runner-lease", lease.String())
		mu.Lock()
		replicas[i] = p
		mu.Unlock()
	}
	down := func(i int) *proc {
		mu.Lock()
		defer mu.Unlock()
		p := replicas[i]
		replicas[i] = nil
		return p
	}
	start(0)
	start(1)

	// The trickle: one event at a time, to each live replica in turn, to
	// the other when one does not answer 200.
	const (
		emails   = 5
		clickGap = 25 * time.Minute // in the events' time: the cooldown of 1h fires on every third click
	)
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var (
		acked    = map[string]bool{}
		clicks   int
		sent     int
		failures []string
	)
	client := &http.Client{Timeout: 10 * time.Second}
	deliver := func(body string) bool {
		for attempt := range 40 {
			mu.Lock()
			p := replicas[(sent+attempt)%2]
			mu.Unlock()
			if p == nil {
				continue
			}
			resp, err := client.Post(p.hooks+"/hooks/mailjet", "application/json", strings.NewReader(body))
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
			time.Sleep(100 * time.Millisecond)
		}
		return false
	}
	trickle := func(n int) {
		for range n {
			var body string
			if sent%4 == 3 {
				at := base.Add(time.Duration(clicks) * clickGap)
				body = churnEvent("click", sent, "clicker@example.com", at)
				clicks++
			} else {
				body = churnEvent("open", sent, fmt.Sprintf("user%d@example.com", sent%emails), base.Add(time.Duration(sent)*time.Second))
			}
			ids, err := idsOf(body)
			if err != nil {
				t.Fatal(err)
			}
			if deliver(body) {
				acked[ids[0]] = true
			} else {
				failures = append(failures, fmt.Sprintf("event %d: no replica answered 200", sent))
			}
			sent++
			time.Sleep(20 * time.Millisecond)
		}
	}

	trickle(30)
	// One replica's connections cut while the other goes on.
	waitUntil(t, "replica 0 connected", func() bool { return terminateBackends(t, dsn, names[0]) > 0 }, replicas...)
	trickle(10)
	terminateBackends(t, dsn, names[0])
	trickle(30)

	// A rolling restart: replica 1 stopped with SIGTERM under the
	// trickle, then started again; then replica 0.
	for _, i := range []int{1, 0} {
		p := down(i)
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			p.stop(t)
		}()
		trickle(20)
		<-stopped
		start(i)
		trickle(10)
	}

	// The replica running a job killed with SIGKILL, then started again.
	// The jobs it held then, their outcomes unrecorded, are the only ones
	// that may reach their target again.
	victim := -1
	waitUntil(t, "a job running", func() bool {
		for _, owner := range runningJobs(t, dsn) {
			if victim = replicaOf(owner, datas); victim >= 0 {
				return true
			}
		}
		return false
	}, replicas...)
	down(victim).kill(t)
	heldAtKill := map[string]bool{}
	for key, owner := range runningJobs(t, dsn) {
		if replicaOf(owner, datas) == victim {
			heldAtKill[key] = true
		}
	}
	trickle(20)
	start(victim)
	trickle(10)

	for _, f := range failures {
		t.Error(f)
	}
	n := len(acked)
	waitUntil(t, "every event stored", func() bool { return len(storedEventIDs(t, dsn)) == n }, replicas...)
	// notify: one job per open; welcome: one per address; clicks: every
	// third click.
	opens := sent - clicks
	wantCooldown := (clicks + 2) / 3
	wantJobs := opens + emails + wantCooldown
	// report: its first job dead, its target suspended, its other jobs
	// waiting for it.
	waitUntil(t, "every job done or waiting for the report target", func() bool {
		st := jobsOf(t, dsn)
		return st[actions.Done] == wantJobs && st[actions.Dead] == 1 && st[actions.Pending] == clicks-1
	}, replicas...)
	compareAPIs(t, replicas, map[string]int{
		"/api/events?limit=1000":              n,
		"/api/jobs?limit=1000":                wantJobs + clicks,
		"/api/deadletters":                    1,
		"/api/targets?suspended=true":         1,
		"/api/jobs?status=pending&limit=1000": clicks - 1,
	})
	// The target fixed, its dead letter is retried through one replica.
	target.failing.Store(false)
	resp, err := http.Post(replicas[1].admin+"/api/deadletters/retry?all=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := strings.TrimSpace(string(answer)); got != `{"retried":1,"targets_resumed":1}` {
		t.Errorf("retry of the dead letters answered %d %s", resp.StatusCode, got)
	}
	wantJobs += clicks
	waitUntil(t, "every job done", func() bool { return jobsOf(t, dsn)[actions.Done] == wantJobs }, replicas...)
	time.Sleep(time.Second) // a repeat, had there been one, reaches the target

	if st := jobsOf(t, dsn); st[actions.Done] != wantJobs || len(st) != 1 {
		t.Errorf("jobs %v, want %d done", st, wantJobs)
	}
	for id, c := range storedEventIDs(t, dsn) {
		if c != 1 || !acked[id] {
			t.Errorf("event %s stored %d times (acknowledged: %v)", id, c, acked[id])
		}
	}
	for path, want := range map[string]int{"/notify": opens, "/once": emails, "/cooldown": wantCooldown, "/report": clicks} {
		effects, repeats := target.counts(path)
		if len(effects) != want {
			t.Errorf("%s: %d keys reached the target, want %d", path, len(effects), want)
		}
		t.Logf("%s: %d effects, repeats %v", path, len(effects), repeats)
	}
	// Only the jobs the killed replica held, in flight or their outcomes
	// not yet recorded, may reach their target again.
	for _, path := range []string{"/notify", "/once", "/cooldown", "/report"} {
		_, repeats := target.counts(path)
		for key := range repeats {
			if !heldAtKill[key] {
				t.Errorf("%s: job %s reached its target again, and the killed replica did not hold it (it held %v)", path, key, heldAtKill)
			}
		}
	}

	compareAPIs(t, replicas, map[string]int{
		"/api/events?limit=1000":      n,
		"/api/jobs?limit=1000":        wantJobs,
		"/api/deadletters":            0,
		"/api/targets?suspended=true": 0,
	})
	for _, p := range replicas {
		p.stop(t)
	}
	t.Logf("%s: %d events (%d clicks), %d jobs", backend, sent, clicks, wantJobs)
}

// churnEvent is a Mailjet event of type typ for email at at, distinct
// for each n.
func churnEvent(typ string, n int, email string, at time.Time) string {
	return fmt.Sprintf(`{"event":%q,"time":%d,"MessageID":%d,"email":%q,"mj_campaign_id":7173,"mj_contact_id":%d,"url":"https://example.com/%d"}`,
		typ, at.Unix(), 29421777396190490+n, email, n, n)
}

// compareAPIs checks that each replica's /api lists, by path, hold the
// count of items wanted, the same on each.
func compareAPIs(t *testing.T, replicas []*proc, want map[string]int) {
	t.Helper()
	for path, n := range want {
		n0, ids0 := apiList(t, replicas[0].admin+path)
		n1, ids1 := apiList(t, replicas[1].admin+path)
		if n0 != n || ids0 != ids1 {
			t.Errorf("%s: replica 0 lists %d, replica 1 %d, want %d each, the same", path, n0, n1, n)
		}
	}
}

// apiList returns how many items the answer of an /api list at u holds,
// and their ids and statuses in the API's order.
func apiList(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	var ids []string
	for k, v := range page {
		var items []struct {
			ID     any
			Status string
		}
		if k != "next" && json.Unmarshal(v, &items) == nil {
			for _, it := range items {
				ids = append(ids, fmt.Sprint(it.ID, it.Status))
			}
		}
	}
	return len(ids), strings.Join(ids, " ")
}

// terminateBackends terminates the PostgreSQL backends of application
// name app, and only those, and returns how many there were.
func terminateBackends(t *testing.T, dsn, app string) int {
	t.Helper()
	return queryInt(t, dsn, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app)
}

// withConn calls fn with a connection of its own to dsn, closed after.
func withConn(t *testing.T, dsn string, fn func(ctx context.Context, conn *pgx.Conn) error) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := fn(ctx, conn); err != nil {
		t.Fatal(err)
	}
}

// queryInt runs query, which gives one integer, on a connection of its
// own to dsn.
func queryInt(t *testing.T, dsn, query string, args ...any) int {
	t.Helper()
	var n int
	withConn(t, dsn, func(ctx context.Context, conn *pgx.Conn) error {
		if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
			return fmt.Errorf("%s: %w", query, err)
		}
		return nil
	})
	return n
}

// runningJobs returns the owner of each running job, by the job's key.
func runningJobs(t *testing.T, dsn string) map[string]string {
	t.Helper()
	owners := map[string]string{}
	withConn(t, dsn, func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT key, lease_owner FROM jobs WHERE status = 'running'`)
		if err != nil {
			return err
		}
		var key, owner string
		_, err = pgx.ForEachRow(rows, []any{&key, &owner}, func() error {
			owners[key] = owner
			return nil
		})
		return err
	})
	return owners
}

// recordingTarget is a slow http target that records, per path, each
// delivery's Idempotency-Key: the first one with a key is its effect, the
// others repeats. A delivery whose client goes away before the answer has
// no effect. While failing, it answers 500 on /report.
type recordingTarget struct {
	*httptest.Server
	failing atomic.Bool // answer 500 on /report
	mu      sync.Mutex
	effects map[string]map[string]int
	repeats map[string]map[string]int
}

func newRecordingTarget(t *testing.T, delay time.Duration) *recordingTarget {
	h := &recordingTarget{effects: map[string]map[string]int{}, repeats: map[string]map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		if req.URL.Path == "/report" && h.failing.Load() {
			http.Error(w, "failing", http.StatusInternalServerError)
			return
		}
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
		key := req.Header.Get("Idempotency-Key")
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.effects[req.URL.Path] == nil {
			h.effects[req.URL.Path], h.repeats[req.URL.Path] = map[string]int{}, map[string]int{}
		}
		if h.effects[req.URL.Path][key] > 0 {
			h.repeats[req.URL.Path][key]++
			return
		}
		h.effects[req.URL.Path][key]++
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *recordingTarget) counts(path string) (effects, repeats map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return copyCounts(h.effects[path]), copyCounts(h.repeats[path])
}

// TestReplicasFrozenPostgres freezes one of two replicas sharing one
// PostgreSQL database for their event log and store (SIGSTOP, as a paused
// virtual machine or a network partition leaves its connections open and
// silent) inside a transaction, under a trickle of webhooks to the other:
// the other stores every event and runs every job on its own, once the
// server ended the frozen transaction (idle_in_transaction_session_timeout),
// and the frozen replica, once it goes on (SIGCONT), works again. (With
// the log on NATS the frozen replica's subscriptions keep their share of
// the messages; see the README.) The frozen replica's DSN sets that
// timeout to 5 s, as a user may, so that the test does not wait the minute
// of hookd's default (pgconf.IdleInTransactionTimeout, which TestDefaults
// checks is set where a DSN does not set it).
func TestReplicasFrozenPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs hookd processes on PostgreSQL; run without -short")
	}
	t.Parallel()
	dsn := testenv.PostgresSchema(t)
	target := newRecordingTarget(t, 20*time.Millisecond)
	dir := t.TempDir()
	appA := "hookd-frozen-a-" + testenv.Random()
	configA, configB := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	configYAML := func(dsn string) string {
		return `log: { backend: postgres, dsn: "` + dsn + `" }` + "\n" +
			`store: { driver: postgres, dsn: "` + dsn + `" }` + "\n" +
			"sources: [{ name: mailjet, provider: mailjet }]\n" +
			"rules: [rules.yaml]\n"
	}
	files := map[string]string{
		configA: configYAML(withParams(t, dsn, "application_name", appA, "idle_in_transaction_session_timeout", "5000")),
		configB: configYAML(dsn),
		filepath.Join(dir, "rules.yaml"): "rules:\n" +
			"  - name: notify\n" +
			"    when: type == \"open\"\n" +
			"    actions:\n" +
			"      - http: { url: \"" + target.URL + "/notify\", timeout: 5s }\n" +
			"        retry: 50x200ms\n",
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a := startHookd(t, t.TempDir(), "--config", configA, "--runner-lease", "6s")
	b := startHookd(t, t.TempDir(), "--config", configB, "--runner-lease", "6s")
	acked := map[string]bool{}
	n := 0
	send := func(p *proc, count int) {
		t.Helper()
		for range count {
			body := openEvent(30000 + n)
			n++
			resp, err := http.Post(p.hooks+"/hooks/mailjet", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("event %d: status %d", n, resp.StatusCode)
			}
			ids, _ := idsOf(body)
			acked[ids[0]] = true
			time.Sleep(10 * time.Millisecond)
		}
	}
	for range 10 {
		send(a, 1)
		send(b, 1)
	}
	// Freeze a when it holds a transaction open, as it does while it
	// delivers a message to its store or its rules (the consumer group's
	// position is locked, and b's store and rules receive nothing appended
	// after it began) or writes to the store (under the store's write
	// lock), with events sent to b meanwhile for a to take its turns at.
	t.Cleanup(func() { _ = a.cmd.Process.Signal(syscall.SIGCONT) })
	waitUntil(t, "replica a frozen in a transaction", func() bool {
		send(b, 1)
		if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the last statement sent reaches the server
		if inTransaction(t, dsn, appA) {
			return true
		}
		if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(10)) * time.Millisecond)
		return false
	}, a, b)
	frozen := time.Now()
	send(b, 20)
	waitUntil(t, "every event stored by b alone", func() bool { return len(storedEventIDs(t, dsn)) == n }, b)
	waitUntil(t, "every job done by b alone", func() bool { return jobsOf(t, dsn)[actions.Done] == n }, b)
	t.Logf("b went on alone after %v", time.Since(frozen).Round(time.Millisecond))

	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		send(a, 1)
		send(b, 1)
	}
	waitUntil(t, "every event stored", func() bool { return len(storedEventIDs(t, dsn)) == n }, a, b)
	waitUntil(t, "every job done", func() bool { return jobsOf(t, dsn)[actions.Done] == n }, a, b)
	a.stop(t)
	b.stop(t)
	for id, c := range storedEventIDs(t, dsn) {
		if c != 1 || !acked[id] {
			t.Errorf("event %s stored %d times (acknowledged: %v)", id, c, acked[id])
		}
	}
	if effects, _ := target.counts("/notify"); len(effects) != n {
		t.Errorf("%d jobs had an effect, want %d", len(effects), n)
	}
}

// inTransaction tells whether a backend of application name app is idle
// in a transaction that holds a lock: a transaction id (it wrote or locked
// rows) or the store's write lock (an advisory lock).
func inTransaction(t *testing.T, dsn, app string) bool {
	t.Helper()
	return queryInt(t, dsn, `SELECT count(*) FROM pg_stat_activity a WHERE application_name = $1 AND state = 'idle in transaction' AND (backend_xid IS NOT NULL OR EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted))`, app) > 0
}

// withApplicationName returns dsn, a URL, with application_name app.
func withApplicationName(t *testing.T, dsn, app string) string {
	t.Helper()
	return withParams(t, dsn, "application_name", app)
}

// withParams returns dsn, a URL, with the parameters given as name and
// value pairs set.
func withParams(t *testing.T, dsn string, pairs ...string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i+1 < len(pairs); i += 2 {
		q.Set(pairs[i], pairs[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}
