package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	_ "github.com/hookd/hookd/actions/http"
	"github.com/hookd/hookd/store"
)

// runRunner runs an actions.Runner on st until the test ends.
func runRunner(t *testing.T, st *store.Store) {
	t.Helper()
	startRunner(t, st, actions.RunnerConfig{Poll: 20 * time.Millisecond, Workers: 4})
}

// startRunner runs an actions.Runner of cfg on q until the test ends.
func startRunner(t *testing.T, q actions.Queue, cfg actions.RunnerConfig) {
	t.Helper()
	r, err := actions.NewRunner(q, cfg, slog.New(slog.NewTextHandler(t.Output(), nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Runner.Run = %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Runner.Run did not return")
		}
	})
}

// status returns the status of job id.
func status(t *testing.T, st *store.Store, id int64) string {
	t.Helper()
	j, err := st.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j.Status
}

// countingKind is an action kind that counts its calls by job key.
type countingKind struct {
	mu    sync.Mutex
	calls map[string]int
}

func (*countingKind) Validate(map[string]any) error { return nil }
func (*countingKind) Target(map[string]any) string  { return "counting" }
func (k *countingKind) Action() actions.Action      { return k }
func (k *countingKind) Do(_ context.Context, call actions.Call) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls[call.Key]++
	return nil
}

var counting = func() *countingKind {
	k := &countingKind{calls: map[string]int{}}
	actions.Register("store-test-counting", k)
	return k
}()

// TestRunnerRunsOnce runs a job through the real queue: it is done after
// one call, and enqueueing its key again does not run it again.
func TestRunnerRunsOnce(t *testing.T) {
	counting.mu.Lock()
	clear(counting.calls) // of an earlier run of the test (-count)
	counting.mu.Unlock()
	st := openStore(t, t.TempDir())
	runRunner(t, st)
	j := job("once", "e1", "counting")
	j.Action = "store-test-counting"
	enqueue(t, st, j)
	id := jobByEvent(t, st, "e1").ID
	waitFor(t, "the job is done", func() bool { return status(t, st, id) == actions.Done })
	if n := enqueue(t, st, j); n != 0 {
		t.Fatalf("the key of a job done was enqueued again (%d)", n)
	}
	// Once a job enqueued later is done, the runner has claimed since: the
	// first would have run again by then, were it claimable.
	k := job("once", "e2", "counting")
	k.Action = "store-test-counting"
	enqueue(t, st, k)
	waitFor(t, "the second job is done", func() bool { return status(t, st, jobByEvent(t, st, "e2").ID) == actions.Done })
	counting.mu.Lock()
	defer counting.mu.Unlock()
	if n := counting.calls[j.Key]; n != 1 {
		t.Errorf("the job ran %d times, want 1", n)
	}
	if rec, err := st.Job(context.Background(), id); err != nil || len(rec.History) != 1 {
		t.Errorf("Job = %+v, %v; want one attempt", rec, err)
	}
}

// flaky is an HTTP server that answers 500 to its first failures requests,
// and to all of them while down is set, then 200, and counts the
// successful requests by Idempotency-Key.
type flaky struct {
	*httptest.Server
	failures atomic.Int64
	down     atomic.Bool
	mu       sync.Mutex
	done     map[string]int
	requests atomic.Int64
}

func newFlaky(t *testing.T, failures int64) *flaky {
	f := &flaky{done: map[string]int{}}
	f.failures.Store(failures)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if f.down.Load() || f.failures.Add(-1) >= 0 {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		f.mu.Lock()
		f.done[r.Header.Get("Idempotency-Key")]++
		f.mu.Unlock()
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *flaky) succeeded(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done[key]
}

// httpJob returns a job posting to url for event e.
func httpJob(t *testing.T, url, e, retry string) actions.Job {
	t.Helper()
	ps := map[string]any{"url": url, "body": map[string]any{"event": e}}
	params, err := json.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	kind, err := actions.Lookup("http")
	if err != nil {
		t.Fatal(err)
	}
	return actions.Job{
		Key: "alert/0/" + e, Rule: "alert", Action: "http", Target: kind.Target(ps),
		Params: params, Retry: retry, EventID: e,
	}
}

// TestRunnerRecovers checks that a target failing a few times and then
// recovering gets the job exactly once.
func TestRunnerRecovers(t *testing.T) {
	st := openStore(t, t.TempDir())
	srv := newFlaky(t, 3)
	runRunner(t, st)
	j := httpJob(t, srv.URL, "e1", "5x10ms")
	enqueue(t, st, j)
	id := jobByEvent(t, st, "e1").ID
	waitFor(t, "the job is done", func() bool { return status(t, st, id) == actions.Done })
	if n := srv.succeeded(j.Key); n != 1 || srv.requests.Load() != 4 {
		t.Errorf("the target took the job %d times in %d requests, want once in 4", n, srv.requests.Load())
	}
	rec, err := st.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Attempts != 4 || len(rec.History) != 4 || rec.History[0].Error == "" || rec.History[3].Error != "" {
		t.Errorf("job = %+v, want 4 attempts, 3 failed", rec)
	}
}

// TestRunnerDeadTarget checks that a job whose target keeps failing ends
// dead with the target suspended; that the target's later jobs wait while
// others run; and that after ResumeTarget and RetryDeadLetter they all run.
func TestRunnerDeadTarget(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	down := newFlaky(t, 0)
	down.down.Store(true)
	up := newFlaky(t, 0)
	runRunner(t, st)

	first := httpJob(t, down.URL, "e1", "2x10ms")
	enqueue(t, st, first)
	id := jobByEvent(t, st, "e1").ID
	waitFor(t, "the job is dead", func() bool { return status(t, st, id) == actions.Dead })
	if n := down.requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3: one and 2 retries", n)
	}
	targets, err := st.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || !targets[0].Suspended || targets[0].Dead != 1 {
		t.Fatalf("targets = %+v, want one suspended with one dead job", targets)
	}

	// Enqueued together, the job of the healthy target is done while the
	// suspended one's waits: one claim would have taken both.
	later, other := httpJob(t, down.URL, "e2", "2x10ms"), httpJob(t, up.URL, "e3", "2x10ms")
	enqueue(t, st, later, other)
	waitFor(t, "the other target's job is done", func() bool { return status(t, st, jobByEvent(t, st, "e3").ID) == actions.Done })
	laterID := jobByEvent(t, st, "e2").ID
	if s := status(t, st, laterID); s != actions.Pending || down.requests.Load() != 3 {
		t.Fatalf("the suspended target's job is %s after %d requests, want pending after 3", s, down.requests.Load())
	}

	down.down.Store(false)
	if err := st.ResumeTarget(ctx, targets[0].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the waiting job is done", func() bool { return status(t, st, laterID) == actions.Done })
	if _, err := st.RetryDeadLetter(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dead letter is done", func() bool { return status(t, st, id) == actions.Done })
	if down.succeeded(first.Key) != 1 || down.succeeded(later.Key) != 1 {
		t.Errorf("the target took the jobs %d and %d times, want once each", down.succeeded(first.Key), down.succeeded(later.Key))
	}
}

// TestRunnerRefusedJob runs jobs to one http target that refuses one
// event's body (400) and takes the others' through the real queue: the
// refused job is dead, the target is not suspended and its other jobs
// run, queued before and after it; a 401 then suspends the target, its
// later jobs waiting.
func TestRunnerRefusedJob(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	var took sync.Map // event → requests taken
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Event string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("request body: %v", err)
		}
		switch body.Event {
		case "too-long":
			http.Error(w, "text too long", http.StatusBadRequest)
		case "revoked":
			http.Error(w, "invalid token", http.StatusUnauthorized)
		default:
			took.Store(body.Event, true)
		}
	}))
	t.Cleanup(srv.Close)
	runRunner(t, st)

	before := httpJob(t, srv.URL, "before", "3x10ms")
	enqueue(t, st, before)
	waitFor(t, "the first job is done", func() bool { return status(t, st, jobByEvent(t, st, "before").ID) == actions.Done })
	// The refused job first in a batch of three: the batch stops there,
	// and the others run in the next claim.
	enqueue(t, st, httpJob(t, srv.URL, "too-long", "3x10ms"), httpJob(t, srv.URL, "e2", "3x10ms"), httpJob(t, srv.URL, "e3", "3x10ms"))
	refused := jobByEvent(t, st, "too-long")
	waitFor(t, "the refused job is dead", func() bool { return status(t, st, refused.ID) == actions.Dead })
	for _, e := range []string{"e2", "e3"} {
		waitFor(t, "the target's job "+e+" is done", func() bool { return status(t, st, jobByEvent(t, st, e).ID) == actions.Done })
	}
	rec, err := st.Job(ctx, refused.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Attempts != 1 || !strings.HasPrefix(rec.LastError, "refused (target not suspended): ") || !strings.Contains(rec.LastError, "answered 400 Bad Request") {
		t.Errorf("refused job = %d attempts, last error %q; want 1, the 400", rec.Attempts, rec.LastError)
	}
	targets, err := st.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || targets[0].Suspended || targets[0].Dead != 1 {
		t.Fatalf("targets = %+v, want one, not suspended, with one dead job", targets)
	}

	// A 401 says the target is wrong: it is suspended, and its later job
	// waits while another target's runs.
	enqueue(t, st, httpJob(t, srv.URL, "revoked", "3x10ms"))
	waitFor(t, "the job answered 401 is dead", func() bool { return status(t, st, jobByEvent(t, st, "revoked").ID) == actions.Dead })
	other := newFlaky(t, 0)
	enqueue(t, st, httpJob(t, srv.URL, "e4", "3x10ms"), httpJob(t, other.URL, "e5", "3x10ms"))
	waitFor(t, "the other target's job is done", func() bool { return status(t, st, jobByEvent(t, st, "e5").ID) == actions.Done })
	if s := status(t, st, jobByEvent(t, st, "e4").ID); s != actions.Pending {
		t.Errorf("the suspended target's job is %s, want pending", s)
	}
	if _, ok := took.Load("e4"); ok {
		t.Error("the suspended target took a job")
	}
	page, err := st.ListTargets(ctx, store.TargetQuery{Name: targets[0].Name})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Targets) != 1 || !page.Targets[0].Suspended || !strings.Contains(page.Targets[0].Reason, "401 Unauthorized") {
		t.Errorf("target = %+v, want it suspended by the 401", page.Targets)
	}
}

// TestRunnerRetriedDeadLetter runs a job through the real queue until it is
// dead, retries it, and checks that it gets its whole policy again while
// the attempts in its history go on being numbered after the first ones.
func TestRunnerRetriedDeadLetter(t *testing.T) {
	tests := []struct {
		name string
		// up tells that the target answers again before the retry.
		up           bool
		wantStatus   string
		wantRequests int64
	}{
		{name: "target still down", wantStatus: actions.Dead, wantRequests: 6},
		{name: "target up again", up: true, wantStatus: actions.Done, wantRequests: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := openStore(t, t.TempDir())
			srv := newFlaky(t, 0)
			srv.down.Store(true)
			runRunner(t, st)
			enqueue(t, st, httpJob(t, srv.URL, "e1", "2x10ms"))
			id := jobByEvent(t, st, "e1").ID
			waitFor(t, "the job is dead", func() bool { return status(t, st, id) == actions.Dead })
			if n := srv.requests.Load(); n != 3 {
				t.Fatalf("%d requests before the retry, want 3", n)
			}

			srv.down.Store(!tt.up)
			// The retry resumes the target: nothing else is needed for
			// the job to run.
			if r, err := st.RetryDeadLetter(ctx, id); err != nil || r != (store.Retried{Jobs: 1, Targets: 1}) {
				t.Fatalf("RetryDeadLetter = %+v, %v; want the job retried and its target resumed", r, err)
			}
			waitFor(t, "the retried job is "+tt.wantStatus, func() bool {
				j, err := st.Job(ctx, id)
				return err == nil && j.Status == tt.wantStatus && len(j.History) == int(tt.wantRequests)
			})
			if n := srv.requests.Load(); n != tt.wantRequests {
				t.Errorf("%d requests in all, want %d", n, tt.wantRequests)
			}
			rec, err := st.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Attempts != int(tt.wantRequests) || rec.RetriedAfter != 3 {
				t.Errorf("job has %d attempts, retried after %d; want %d, after 3", rec.Attempts, rec.RetriedAfter, tt.wantRequests)
			}
			var numbers []int
			for _, a := range rec.History {
				numbers = append(numbers, a.Attempt)
			}
			for i, n := range numbers {
				if n != i+1 {
					t.Errorf("history numbers the attempts %v, want 1 to %d", numbers, tt.wantRequests)
					break
				}
			}
		})
	}
}

// awayQueue is the store's queue, failing every write while away is set,
// as a database that restarts does.
type awayQueue struct {
	*store.Store
	away atomic.Bool
}

var errAway = errors.New("connection refused")

func (q *awayQueue) Claim(ctx context.Context, owner string, now time.Time, targets, batch int, lease time.Duration, except string) ([]actions.Job, error) {
	if q.away.Load() {
		return nil, errAway
	}
	return q.Store.Claim(ctx, owner, now, targets, batch, lease, except)
}

func (q *awayQueue) Renew(ctx context.Context, owner string, ids []int64, now time.Time, lease time.Duration) error {
	if q.away.Load() {
		return errAway
	}
	return q.Store.Renew(ctx, owner, ids, now, lease)
}

func (q *awayQueue) Finish(ctx context.Context, owner string, outcomes []actions.Outcome) error {
	if q.away.Load() {
		return errAway
	}
	return q.Store.Finish(ctx, owner, outcomes)
}

// blockingKind is an action kind whose first call after reset waits for
// release; it counts its calls.
type blockingKind struct {
	calls            atomic.Int32
	started, release chan struct{}
}

// reset readies k for a test that no runner shares.
func (k *blockingKind) reset() {
	k.calls.Store(0)
	k.started, k.release = make(chan struct{}), make(chan struct{})
}

func (*blockingKind) Validate(map[string]any) error { return nil }
func (*blockingKind) Target(map[string]any) string  { return "blocking" }
func (k *blockingKind) Action() actions.Action      { return k }
func (k *blockingKind) Do(context.Context, actions.Call) error {
	if k.calls.Add(1) == 1 {
		close(k.started)
		<-k.release
	}
	return nil
}

var blocking = func() *blockingKind {
	k := &blockingKind{}
	actions.Register("store-test-blocking", k)
	return k
}()

// TestRunnerOutageLongerThanLease takes the queue's database away, for
// longer than the runner's lease, while a job runs, which succeeds
// meanwhile: once the database is back, the job is recorded done after
// its one attempt. The runner used to claim its own lapsed job again at
// its next poll, and ran the action a second time.
func TestRunnerOutageLongerThanLease(t *testing.T) {
	const lease = 300 * time.Millisecond
	st := openStore(t, t.TempDir())
	q := &awayQueue{Store: st}
	blocking.reset()
	startRunner(t, q, actions.RunnerConfig{Owner: "me", Lease: lease, Poll: 10 * time.Millisecond})
	j := job("outage", "e1", "blocking")
	j.Action = "store-test-blocking"
	enqueue(t, st, j)
	id := jobByEvent(t, st, "e1").ID
	select {
	case <-blocking.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not start")
	}
	q.away.Store(true)
	time.Sleep(3 * lease) // the claim lapses
	close(blocking.release)
	time.Sleep(50 * time.Millisecond) // the outcome waits to be recorded
	q.away.Store(false)
	waitFor(t, "the job is done", func() bool { return status(t, st, id) == actions.Done })
	time.Sleep(2 * lease) // a second run would come within a lease
	if n := blocking.calls.Load(); n != 1 {
		t.Errorf("the action ran %d times, want once", n)
	}
	if rec, err := st.Job(context.Background(), id); err != nil || len(rec.History) != 1 {
		t.Errorf("Job = %+v, %v; want one attempt", rec, err)
	}
}
