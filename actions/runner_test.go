package actions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookd/hookd/actions"
)

// funcKind is an action kind whose jobs run a function; a job's target is
// its "target" parameter.
type funcKind func(ctx context.Context, call actions.Call) error

func (funcKind) Validate(map[string]any) error { return nil }
func (funcKind) Target(p map[string]any) string {
	s, _ := p["target"].(string)
	return s
}
func (f funcKind) Action() actions.Action                          { return f }
func (f funcKind) Do(ctx context.Context, call actions.Call) error { return f(ctx, call) }

var kindSeq atomic.Int64

// register registers a kind running do under a fresh name and returns it.
func register(do func(ctx context.Context, call actions.Call) error) string {
	name := fmt.Sprintf("test%d", kindSeq.Add(1))
	actions.Register(name, funcKind(do))
	return name
}

// newJob returns a job of kind for target, key rule/0/event.
func newJob(kind, target, event, retry string) actions.Job {
	return actions.Job{
		Key:     "rule/0/" + event,
		Rule:    "rule",
		Action:  kind,
		Target:  target,
		Params:  json.RawMessage(fmt.Sprintf(`{"target":%q,"n":12345678901234567890}`, target)),
		Retry:   retry,
		EventID: event,
		Event:   json.RawMessage(`{"id":"` + event + `"}`),
	}
}

// signal is a slog handler that also closes a channel the first time a
// record with a given message passes, after keeping its attributes in
// attrs when that is not nil.
type signal struct {
	slog.Handler
	msg   string
	once  *sync.Once
	ch    chan struct{}
	attrs map[string]string
}

func (s signal) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == s.msg {
		s.once.Do(func() {
			if s.attrs != nil {
				r.Attrs(func(a slog.Attr) bool {
					s.attrs[a.Key] = a.Value.String()
					return true
				})
			}
			close(s.ch)
		})
	}
	return s.Handler.Handle(ctx, r)
}
func (s signal) WithAttrs(as []slog.Attr) slog.Handler {
	s.Handler = s.Handler.WithAttrs(as)
	return s
}

// testLog passes writes on to a test's output until closed, and drops them
// after: a job that Run abandoned past its grace may still log when it
// ends, after its test did, which the test's output must not receive.
type testLog struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return len(p), nil
	}
	return l.w.Write(p)
}

func (l *testLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// run starts a Runner on q and returns a function that ends its ctx and
// waits (at most 10 s) for Run to return; the test's cleanup calls it too.
// The runner's log goes to the test's output; logged, when not nil,
// is closed when the runner logs that message.
func run(t *testing.T, q actions.Queue, cfg actions.RunnerConfig, reg prometheus.Registerer, logged *signal) (stop func()) {
	t.Helper()
	out := &testLog{w: t.Output()}
	t.Cleanup(out.close) // after stop, registered below: cleanups run last first
	var h slog.Handler = slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})
	if logged != nil {
		logged.Handler, logged.once = h, new(sync.Once)
		h = *logged
	}
	r, err := actions.NewRunner(q, cfg, slog.New(h), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10 s of its ctx ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// wait receives from ch, at most 10 s.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("gave up waiting for %s", what)
	}
}

// metric returns the value of the counter, or the sample count of the
// histogram, name with labels in reg.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestRunnerOutcomes(t *testing.T) {
	boom := errors.New("target down")
	tests := []struct {
		name   string
		retry  string
		action string // the job's action when not the registered kind
		params string // the job's parameters when not the default
		// do answers an attempt; nil succeeds.
		do           func(call actions.Call) error
		wantStatus   string
		wantAttempts int
		wantDead     []bool // each Fail's dead
		wantRefused  bool   // the dead letter leaves its target running
		wantErr      string // in LastError
		wantStatuses map[string]float64
	}{
		{
			name: "success at once", retry: "3x10ms",
			wantStatus: actions.Done, wantAttempts: 1,
			wantStatuses: map[string]float64{"done": 1},
		},
		{
			name: "retried until success", retry: "3x10ms",
			do: func(c actions.Call) error {
				if c.Attempt < 3 {
					return boom
				}
				return nil
			},
			wantStatus: actions.Done, wantAttempts: 3, wantDead: []bool{false, false}, wantErr: "target down",
			wantStatuses: map[string]float64{"retry": 2, "done": 1},
		},
		{
			name: "policy spent", retry: "2x1ms",
			do:         func(actions.Call) error { return boom },
			wantStatus: actions.Dead, wantAttempts: 3, wantDead: []bool{false, false, true},
			wantErr:      "retries spent after 3 attempts: target down",
			wantStatuses: map[string]float64{"retry": 2, "dead": 1},
		},
		{
			name: "retry none", retry: "none",
			do:         func(actions.Call) error { return boom },
			wantStatus: actions.Dead, wantAttempts: 1, wantDead: []bool{true},
			wantErr:      "not retried (retry: none): target down",
			wantStatuses: map[string]float64{"dead": 1},
		},
		{
			name: "permanent error", retry: "3x10ms",
			do: func(actions.Call) error {
				return fmt.Errorf("post: %w", actions.Permanent(errors.New("401 Unauthorized")))
			},
			wantStatus: actions.Dead, wantAttempts: 1, wantDead: []bool{true}, wantErr: "post: 401 Unauthorized",
			wantStatuses: map[string]float64{"dead": 1},
		},
		{
			name: "refused", retry: "3x10ms",
			do: func(actions.Call) error {
				return fmt.Errorf("post: %w", actions.Refused(errors.New("400 Bad Request")))
			},
			wantStatus: actions.Dead, wantAttempts: 1, wantDead: []bool{true}, wantRefused: true, wantErr: "refused (target not suspended): post: 400 Bad Request",
			wantStatuses: map[string]float64{"dead": 1},
		},
		{
			name: "refusal wrapped as permanent", retry: "3x10ms",
			do: func(actions.Call) error {
				return actions.Permanent(fmt.Errorf("post: %w", actions.Refused(errors.New("400 Bad Request"))))
			},
			wantStatus: actions.Dead, wantAttempts: 1, wantDead: []bool{true}, wantErr: "post: 400 Bad Request",
			wantStatuses: map[string]float64{"dead": 1},
		},
		{
			name: "unknown action", retry: "3x10ms", action: "no-such-action",
			wantStatus: actions.Dead, wantAttempts: 1, wantDead: []bool{true}, wantErr: `action "no-such-action": unknown action`,
			wantStatuses: map[string]float64{"dead": 1},
		},
		{
			name: "parameters not an object", retry: "3x10ms", params: `["a"]`,
			wantStatus: actions.Dead, wantAttempts: 1, wantDead: []bool{true}, wantRefused: true, wantErr: "refused (target not suspended): decode job parameters",
			wantStatuses: map[string]float64{"dead": 1},
		},
		{
			name: "panic is retried", retry: "3x1ms",
			do: func(c actions.Call) error {
				if c.Attempt == 1 {
					panic("nil map")
				}
				return nil
			},
			wantStatus: actions.Done, wantAttempts: 2, wantDead: []bool{false}, wantErr: "panicked: nil map",
			wantStatuses: map[string]float64{"retry": 1, "done": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var calls []actions.Call
			kind := register(func(_ context.Context, call actions.Call) error {
				mu.Lock()
				calls = append(calls, call)
				mu.Unlock()
				if tt.do == nil {
					return nil
				}
				return tt.do(call)
			})
			job := newJob(kind, "t", "ev1", tt.retry)
			if tt.action != "" {
				job.Action = tt.action
			}
			if tt.params != "" {
				job.Params = json.RawMessage(tt.params)
			}
			q := newMemQueue()
			id := q.add(job)
			reg := prometheus.NewRegistry()
			// Poll never fires: retries and wakes alone drive the runner.
			run(t, q, actions.RunnerConfig{Poll: time.Hour}, reg, nil)
			q.waitUntil(t, "the job is "+tt.wantStatus, func() bool { return q.job(id).Status == tt.wantStatus })
			wantSuspended := tt.wantStatus == actions.Dead && !tt.wantRefused
			if got := q.isSuspended("t"); got != wantSuspended {
				t.Errorf("target suspended = %v, want %v", got, wantSuspended)
			}

			// The job is not run again, whatever wakes the runner.
			claims := q.claimCount()
			q.resume("t")
			q.waitUntil(t, "another claim", func() bool { return q.claimCount() > claims })

			got := q.job(id)
			if got.Attempts != tt.wantAttempts {
				t.Errorf("Attempts = %d, want %d", got.Attempts, tt.wantAttempts)
			}
			if !strings.Contains(got.LastError, tt.wantErr) {
				t.Errorf("LastError = %q, want it to contain %q", got.LastError, tt.wantErr)
			}
			var dead []bool
			for _, f := range q.failures() {
				dead = append(dead, f.Dead)
				if f.Refused != (f.Dead && tt.wantRefused) {
					t.Errorf("Fail of attempt %d: refused = %v, want %v", f.Attempt, f.Refused, f.Dead && tt.wantRefused)
				}
			}
			if !reflect.DeepEqual(dead, tt.wantDead) {
				t.Errorf("Fail calls' dead = %v, want %v", dead, tt.wantDead)
			}
			mu.Lock()
			defer mu.Unlock()
			wantCalls := tt.wantAttempts
			if tt.action != "" || tt.params != "" {
				wantCalls = 0
			}
			if len(calls) != wantCalls {
				t.Errorf("action called %d times, want %d", len(calls), wantCalls)
			}
			for i, c := range calls {
				if c.Key != "rule/0/ev1" || c.Attempt != i+1 || c.Rule != "rule" || c.EventID != "ev1" ||
					string(c.Event) != `{"id":"ev1"}` || c.Logger == nil {
					t.Errorf("call %d = %+v", i, c)
				}
				if n, ok := c.Params["n"].(json.Number); !ok || n.String() != "12345678901234567890" {
					t.Errorf("call %d: Params[n] = %#v, want json.Number 12345678901234567890", i, c.Params["n"])
				}
			}
			action := job.Action
			for _, status := range []string{"done", "retry", "dead"} {
				got := metric(t, reg, "hookd_action_jobs_total", map[string]string{"action": action, "status": status})
				if got != tt.wantStatuses[status] {
					t.Errorf("hookd_action_jobs_total{status=%q} = %v, want %v", status, got, tt.wantStatuses[status])
				}
			}
			refused := strconv.FormatBool(tt.wantRefused)
			if got, want := metric(t, reg, "hookd_action_dead_letters_total", map[string]string{"action": action, "refused": refused}), tt.wantStatuses["dead"]; got != want {
				t.Errorf("hookd_action_dead_letters_total{refused=%q} = %v, want %v", refused, got, want)
			}
			if got := metric(t, reg, "hookd_action_seconds", map[string]string{"action": action}); got != float64(tt.wantAttempts) {
				t.Errorf("hookd_action_seconds count = %v, want %d", got, tt.wantAttempts)
			}
		})
	}
}

// TestRunnerRetriedDeadLetter retries a dead letter, as the store's
// RetryDeadLetter does, and checks that each retry gets the whole policy
// again while the attempts go on being numbered where they stopped.
func TestRunnerRetriedDeadLetter(t *testing.T) {
	boom := errors.New("target down")
	tests := []struct {
		name    string
		retry   string
		retries int // how many times the dead letter is retried
		// failUntil is the last attempt that fails; 0: all fail.
		failUntil    int
		wantStatus   string
		wantAttempts int
		wantDead     []bool // each failure's dead, in order
		wantErr      string
	}{
		{
			name: "dead again after the whole policy", retry: "2x1ms", retries: 1,
			wantStatus: actions.Dead, wantAttempts: 6, wantDead: []bool{false, false, true, false, false, true},
			wantErr: "retries spent after 3 attempts since the dead letter was retried (6 in all): target down",
		},
		{
			name: "retried twice", retry: "1x1ms", retries: 2,
			wantStatus: actions.Dead, wantAttempts: 6, wantDead: []bool{false, true, false, true, false, true},
			wantErr: "retries spent after 2 attempts since the dead letter was retried (6 in all): target down",
		},
		{
			name: "done on the retry", retry: "2x1ms", retries: 1, failUntil: 4,
			wantStatus: actions.Done, wantAttempts: 5, wantDead: []bool{false, false, true, false},
		},
		{
			name: "retry none", retry: "none", retries: 1,
			wantStatus: actions.Dead, wantAttempts: 2, wantDead: []bool{true, true},
			wantErr: "not retried (retry: none): target down",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var attempts []int
			kind := register(func(_ context.Context, call actions.Call) error {
				mu.Lock()
				attempts = append(attempts, call.Attempt)
				mu.Unlock()
				if tt.failUntil == 0 || call.Attempt <= tt.failUntil {
					return boom
				}
				return nil
			})
			q := newMemQueue()
			id := q.add(newJob(kind, "t", "ev1", tt.retry))
			run(t, q, actions.RunnerConfig{Poll: time.Hour}, nil, nil)
			p, err := actions.ParsePolicy(tt.retry)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.retries {
				spent := (i + 1) * (p.Retries() + 1)
				q.waitUntil(t, fmt.Sprintf("the job is dead after %d attempts", spent), func() bool {
					j := q.job(id)
					return j.Status == actions.Dead && j.Attempts == spent
				})
				q.retry(id)
				q.resume("t")
			}
			q.waitUntil(t, "the job is "+tt.wantStatus, func() bool {
				j := q.job(id)
				return j.Status == tt.wantStatus && j.Attempts == tt.wantAttempts
			})

			got := q.job(id)
			if want := tt.retries * (p.Retries() + 1); got.RetriedAfter != want {
				t.Errorf("RetriedAfter = %d, want %d", got.RetriedAfter, want)
			}
			if tt.wantErr != "" && got.LastError != tt.wantErr {
				t.Errorf("LastError = %q, want %q", got.LastError, tt.wantErr)
			}
			var dead []bool
			var failed []int
			for _, f := range q.failures() {
				dead, failed = append(dead, f.Dead), append(failed, f.Attempt)
			}
			if !reflect.DeepEqual(dead, tt.wantDead) {
				t.Errorf("failures' dead = %v, want %v", dead, tt.wantDead)
			}
			want := make([]int, tt.wantAttempts)
			for i := range want {
				want[i] = i + 1
			}
			if !reflect.DeepEqual(failed, want[:len(tt.wantDead)]) {
				t.Errorf("failed attempts recorded as %v, want %v", failed, want[:len(tt.wantDead)])
			}
			mu.Lock()
			defer mu.Unlock()
			if !reflect.DeepEqual(attempts, want) {
				t.Errorf("the action saw attempts %v, want %v", attempts, want)
			}
		})
	}
}

// TestRunnerRetriedByOlderHookd runs a dead letter that an older hookd
// retried on a shared store: its attempts numbered from 1 again, its
// RetriedAfter left as the newer hookd set it at an earlier retry. It gets
// the whole policy, not a death at its first failure.
func TestRunnerRetriedByOlderHookd(t *testing.T) {
	kind := register(func(context.Context, actions.Call) error { return errors.New("target down") })
	q := newMemQueue()
	j := newJob(kind, "t", "ev1", "2x1ms")
	j.RetriedAfter = 3
	id := q.add(j)
	run(t, q, actions.RunnerConfig{Poll: time.Hour}, nil, nil)
	q.waitUntil(t, "the job is dead", func() bool { return q.job(id).Status == actions.Dead })
	var dead []bool
	for _, f := range q.failures() {
		dead = append(dead, f.Dead)
	}
	if got := q.job(id).Attempts; got != 3 || !reflect.DeepEqual(dead, []bool{false, false, true}) {
		t.Errorf("dead after %d attempts, failures' dead %v; want 3 and [false false true]", got, dead)
	}
}

// TestRunnerSlowTargetDoesNotBlockOthers holds one target's job and sees
// jobs of other targets run meanwhile.
func TestRunnerSlowTargetDoesNotBlockOthers(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	kind := register(func(ctx context.Context, call actions.Call) error {
		if call.Params["target"] != "slow" {
			return nil
		}
		close(started)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	q := newMemQueue()
	slow := q.add(newJob(kind, "slow", "s", "3x10ms"))
	run(t, q, actions.RunnerConfig{Workers: 2, Poll: time.Hour}, nil, nil)
	wait(t, started, "the slow job to start")

	var fast []int64
	for i := range 3 {
		fast = append(fast, q.add(newJob(kind, fmt.Sprintf("fast%d", i), fmt.Sprintf("f%d", i), "3x10ms")))
	}
	q.waitUntil(t, "the fast jobs are done", func() bool {
		for _, id := range fast {
			if q.job(id).Status != actions.Done {
				return false
			}
		}
		return true
	})
	if s := q.job(slow).Status; s != actions.Running {
		t.Fatalf("slow job is %s while its action runs, want running", s)
	}
	close(release)
	q.waitUntil(t, "the slow job is done", func() bool { return q.job(slow).Status == actions.Done })
}

// TestRunnerSpareWorker fills every worker with the targets of one action
// that hang, then queues more of its targets and one of another action:
// the spare worker runs the other action's job, never a further target
// of the action that holds the workers; with only one action due, its
// targets take the workers and no more.
func TestRunnerSpareWorker(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	started := map[string]bool{}
	hung := register(func(ctx context.Context, call actions.Call) error {
		mu.Lock()
		started[call.EventID] = true
		mu.Unlock()
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	other := register(func(context.Context, actions.Call) error { return nil })
	q := newMemQueue()
	var held []int64
	for i := range 3 {
		held = append(held, q.add(newJob(hung, fmt.Sprintf("relay%d", i), fmt.Sprintf("h%d", i), "")))
	}
	run(t, q, actions.RunnerConfig{Workers: 2, Poll: 20 * time.Millisecond}, nil, nil)
	q.waitUntil(t, "two hung jobs run", func() bool {
		return q.job(held[0]).Status == actions.Running && q.job(held[1]).Status == actions.Running
	})
	alert := q.add(newJob(other, "alerts", "a", ""))
	q.waitUntil(t, "the other action's job is done", func() bool { return q.job(alert).Status == actions.Done })
	mu.Lock()
	third := started["h2"]
	mu.Unlock()
	if third || q.job(held[2]).Status != actions.Pending {
		t.Errorf("the third hung target is %s (started %v), want pending and never started: the spare is for other actions",
			q.job(held[2]).Status, third)
	}
	close(release)
	q.waitUntil(t, "the hung jobs are done", func() bool {
		for _, id := range held {
			if q.job(id).Status != actions.Done {
				return false
			}
		}
		return true
	})
}

// TestRunnerWakes checks that the runner claims, with Poll far away, when
// the queue wakes it and when one of its jobs finishes.
func TestRunnerWakes(t *testing.T) {
	kind := register(func(context.Context, actions.Call) error { return nil })
	q := newMemQueue()
	// One worker: the first claim takes one job, the others wait for it
	// to finish.
	var ids []int64
	for i := range 3 {
		ids = append(ids, q.add(newJob(kind, fmt.Sprintf("t%d", i), fmt.Sprintf("e%d", i), "3x10ms")))
	}
	run(t, q, actions.RunnerConfig{Workers: 1, Poll: time.Hour}, nil, nil)
	allDone := func() bool {
		for _, id := range ids {
			if q.job(id).Status != actions.Done {
				return false
			}
		}
		return true
	}
	q.waitUntil(t, "the queued jobs are done", allDone)

	ids = append(ids, q.add(newJob(kind, "t9", "e9", "3x10ms")))
	q.waitUntil(t, "the job added later is done", allDone)
}

// TestRunnerStopInterrupts stops a runner whose job does not finish within
// the grace period: its ctx is cancelled and the job is left pending and
// due at once, not running, and not dead though its policy is spent.
func TestRunnerStopInterrupts(t *testing.T) {
	started := make(chan struct{})
	kind := register(func(ctx context.Context, _ actions.Call) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	q := newMemQueue()
	job := newJob(kind, "t", "e", "1x1h")
	job.Attempts = 1 // this is the last attempt the policy allows
	id := q.add(job)
	stop := run(t, q, actions.RunnerConfig{Grace: time.Millisecond, Poll: time.Hour}, nil, nil)
	wait(t, started, "the job to start")
	stop()
	// Recording the interruption may outlast Run's second grace period;
	// it happens all the same.
	q.waitUntil(t, "the job is no longer running", func() bool { return q.job(id).Status != actions.Running })

	got := q.job(id)
	if got.Status != actions.Pending || got.Attempts != 2 || got.NextAt.After(time.Now()) {
		t.Errorf("job after stop: status %s, attempts %d, next %v; want pending, 2, due now", got.Status, got.Attempts, got.NextAt)
	}
	if !strings.Contains(got.LastError, "interrupted (hookd is stopping): context canceled") {
		t.Errorf("LastError = %q", got.LastError)
	}
	if f := q.failures(); len(f) != 1 || f[0].Dead {
		t.Errorf("Fail calls = %+v, want one, not dead", f)
	}
}

// TestRunnerStopWaitsForJob stops a runner while a job runs; the job
// finishes within the grace period and is recorded done.
func TestRunnerStopWaitsForJob(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	kind := register(func(ctx context.Context, _ actions.Call) error {
		close(started)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	q := newMemQueue()
	id := q.add(newJob(kind, "t", "e", "3x10ms"))
	stopping := &signal{msg: "action runner stopping: waiting for running jobs", ch: make(chan struct{})}
	stop := run(t, q, actions.RunnerConfig{Grace: time.Hour, Poll: time.Hour}, nil, stopping)
	wait(t, started, "the job to start")
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	wait(t, stopping.ch, "the runner to stop claiming")
	close(release)
	wait(t, stopped, "Run to return")
	if got := q.job(id); got.Status != actions.Done || got.Attempts != 1 {
		t.Errorf("job: status %s, attempts %d; want done, 1", got.Status, got.Attempts)
	}
}

// TestRunnerAbandonsStuckAction stops a runner whose action ignores
// cancellation: Run returns anyway, the job stays running (its lease will
// expire), and when the action does return, its result is still recorded.
func TestRunnerAbandonsStuckAction(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	kind := register(func(context.Context, actions.Call) error {
		close(started)
		<-release
		return nil
	})
	q := newMemQueue()
	id := q.add(newJob(kind, "t", "e", "3x10ms"))
	stop := run(t, q, actions.RunnerConfig{Grace: time.Millisecond, Poll: time.Hour}, nil, nil)
	wait(t, started, "the job to start")
	stop()
	if s := q.job(id).Status; s != actions.Running {
		t.Errorf("stuck job is %s after Run returned, want running", s)
	}
	close(release)
	q.waitUntil(t, "the stuck job is recorded done", func() bool { return q.job(id).Status == actions.Done })
}

// TestRunnerKeepsClaimOfLongJob runs a job for four times the lease while
// a second runner polls the same queue: the runner renews its claim, so
// the second never takes the job over, and the attempt runs to its end,
// once.
func TestRunnerKeepsClaimOfLongJob(t *testing.T) {
	const lease = 300 * time.Millisecond
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	kind := register(func(ctx context.Context, _ actions.Call) error {
		if calls.Add(1) == 1 {
			close(started)
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	q := newMemQueue()
	id := q.add(newJob(kind, "t", "e", "3x1ms"))
	run(t, q, actions.RunnerConfig{Owner: "first", Lease: lease, Poll: time.Hour}, nil, nil)
	wait(t, started, "the job to start")
	run(t, q, actions.RunnerConfig{Owner: "second", Lease: lease, Poll: 5 * time.Millisecond}, nil, nil)
	time.Sleep(4 * lease)
	if n, owner, j := calls.Load(), q.owner(id), q.job(id); n != 1 || owner != "first" || j.Status != actions.Running {
		t.Fatalf("after four leases: %d calls, job %s held by %q; want 1 call, running, held by first", n, j.Status, owner)
	}
	if n := q.renewCount(); n < 3 {
		t.Errorf("%d renewals in four leases, want at least 3", n)
	}
	close(release)
	q.waitUntil(t, "the job is done", func() bool { return q.job(id).Status == actions.Done })
	if n, j := calls.Load(), q.job(id); n != 1 || j.Attempts != 1 || len(q.failures()) != 0 {
		t.Errorf("%d calls, %d attempts, failures %+v; want one attempt that succeeded", n, j.Attempts, q.failures())
	}
}

// TestRunnerClaimLost has another runner take over a batch's jobs while
// the first of them runs, as happens when a runner could not renew its
// claim for a whole lease: the runner's next renewal finds them lost, ends
// the running attempt, starts no further job of the batch and records
// nothing for them.
func TestRunnerClaimLost(t *testing.T) {
	var calls atomic.Int32
	started := make(chan struct{})
	cause := make(chan error, 1)
	kind := register(func(ctx context.Context, _ actions.Call) error {
		if calls.Add(1) > 1 {
			return nil
		}
		close(started)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return ctx.Err()
	})
	q := newMemQueue()
	a := q.add(newJob(kind, "t", "e1", "3x1ms"))
	b := q.add(newJob(kind, "t", "e2", "3x1ms"))
	lost := &signal{msg: "claim on action jobs lost: another runner took them over after their lease lapsed; this runner stops them",
		ch: make(chan struct{})}
	stop := run(t, q, actions.RunnerConfig{Owner: "me", Batch: 2, Lease: 300 * time.Millisecond, Poll: time.Hour}, nil, lost)
	wait(t, started, "the first job to start")
	q.takeOver("t", "other")
	wait(t, lost.ch, "the runner to find its claim lost")
	select {
	case err := <-cause:
		if err == nil || !strings.Contains(err.Error(), "lost to another runner") {
			t.Errorf("the attempt's ctx ended with cause %v, want the claim lost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the running attempt was not ended")
	}
	stop()
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls, want 1: the batch's second job is the other runner's", n)
	}
	for _, id := range []int64{a, b} {
		if j, owner := q.job(id), q.owner(id); j.Status != actions.Running || owner != "other" {
			t.Errorf("job %d: %s held by %q, want running, held by other", id, j.Status, owner)
		}
	}
	if f := q.failures(); len(f) != 0 {
		t.Errorf("failures recorded: %+v, want none", f)
	}
}

// TestRunnerRenewError checks that a renewal the queue fails is logged,
// counted and tried again, and that the job, which nobody else claimed
// meanwhile, keeps its claim and is done.
func TestRunnerRenewError(t *testing.T) {
	const lease = 300 * time.Millisecond
	release := make(chan struct{})
	kind := register(func(ctx context.Context, _ actions.Call) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	q := &failingQueue{memQueue: newMemQueue()}
	q.renewals.Store(2)
	id := q.add(newJob(kind, "t", "e", "3x1ms"))
	failed := &signal{msg: "renew action job claims", ch: make(chan struct{}), attrs: map[string]string{}}
	reg := prometheus.NewRegistry()
	run(t, q, actions.RunnerConfig{Lease: lease, Poll: time.Hour}, reg, failed)
	wait(t, failed.ch, "the failed renewal to be logged")
	if failed.attrs["err"] != "connection refused" || failed.attrs["target"] != "t" {
		t.Errorf("logged %v, want the error and the target", failed.attrs)
	}
	q.waitUntil(t, "a renewal that succeeds", func() bool { return q.renewCount() > 0 })
	close(release)
	q.waitUntil(t, "the job is done", func() bool { return q.job(id).Status == actions.Done })
	if j := q.job(id); j.Attempts != 1 {
		t.Errorf("%d attempts, want 1", j.Attempts)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`# HELP hookd_action_claim_renewal_failures_total Renewals of claims on running action jobs that failed (the queue did not answer); a claim not renewed within its lease lets another replica run its jobs too.
# TYPE hookd_action_claim_renewal_failures_total counter
hookd_action_claim_renewal_failures_total 2
`), "hookd_action_claim_renewal_failures_total"); err != nil {
		t.Error(err)
	}
}

// TestRunnerRecordError checks that outcomes the queue fails to record
// are tried again, the claim renewed meanwhile, for longer than the lease:
// the job, whose action succeeded, is Done after one run, where giving up
// on the outcome would let its claim lapse and the job run again.
func TestRunnerRecordError(t *testing.T) {
	const lease = 300 * time.Millisecond
	var runs atomic.Int32
	kind := register(func(context.Context, actions.Call) error {
		runs.Add(1)
		return nil
	})
	q := &failingQueue{memQueue: newMemQueue()}
	q.finishes.Store(4) // tried again after 0.1, 0.2, 0.4 and 0.8 s: 1.5 s, five leases
	id := q.add(newJob(kind, "t", "e", "3x1ms"))
	failed := &signal{msg: "record action job outcomes (tried again; the jobs stay claimed meanwhile)", ch: make(chan struct{}), attrs: map[string]string{}}
	reg := prometheus.NewRegistry()
	run(t, q, actions.RunnerConfig{Lease: lease, Poll: 10 * time.Millisecond}, reg, failed)
	wait(t, failed.ch, "the failed recording to be logged")
	if failed.attrs["err"] != "connection refused" || failed.attrs["target"] != "t" {
		t.Errorf("logged %v, want the error and the target", failed.attrs)
	}
	q.waitUntil(t, "the job is done", func() bool { return q.job(id).Status == actions.Done })
	time.Sleep(2 * lease) // a second run would come a lease after the first
	if n := runs.Load(); n != 1 {
		t.Errorf("the action ran %d times, want once", n)
	}
	if j := q.job(id); j.Attempts != 1 {
		t.Errorf("%d attempts recorded, want 1", j.Attempts)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`# HELP hookd_action_record_failures_total Attempts to record the outcomes of action jobs that failed (the queue did not answer; logged as an outage); they are tried again while the jobs stay claimed.
# TYPE hookd_action_record_failures_total counter
hookd_action_record_failures_total 4
`), "hookd_action_record_failures_total"); err != nil {
		t.Error(err)
	}
}

// TestRunnerLogsLapsedClaims leaves a job claimed by a runner that died:
// once the claim's lease lapsed, a runner takes the job over, runs it, and
// logs whose claims lapsed.
func TestRunnerLogsLapsedClaims(t *testing.T) {
	kind := register(func(context.Context, actions.Call) error { return nil })
	q := newMemQueue()
	id := q.add(newJob(kind, "t", "e", "3x1ms"))
	if got, err := q.Claim(context.Background(), "dead", time.Now(), 1, 1, 50*time.Millisecond, ""); err != nil || len(got) != 1 {
		t.Fatalf("claim by the runner that dies: %v, %v", got, err)
	}
	lapsed := &signal{msg: "claims of another runner lapsed (it died, hung or lost the queue for a whole lease); their jobs run again here",
		ch: make(chan struct{}), attrs: map[string]string{}}
	run(t, q, actions.RunnerConfig{Owner: "survivor", Poll: 10 * time.Millisecond}, nil, lapsed)
	wait(t, lapsed.ch, "the lapsed claims to be logged")
	if want := map[string]string{"runner": "dead", "jobs": "1", "targets": "[t]"}; !reflect.DeepEqual(lapsed.attrs, want) {
		t.Errorf("logged %v, want %v", lapsed.attrs, want)
	}
	q.waitUntil(t, "the job is done", func() bool { return q.job(id).Status == actions.Done })
	if j := q.job(id); j.Attempts != 2 {
		t.Errorf("%d attempts, want 2: the dead runner's counts", j.Attempts)
	}
}

func TestNewRunner(t *testing.T) {
	q := newMemQueue()
	if _, err := actions.NewRunner(q, actions.RunnerConfig{Workers: -1}, nil, nil); err == nil {
		t.Error("NewRunner accepted Workers -1")
	}
	reg := prometheus.NewRegistry()
	a, err := actions.NewRunner(q, actions.RunnerConfig{}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := actions.NewRunner(q, actions.RunnerConfig{}, nil, reg); err == nil {
		t.Error("NewRunner registered its metrics twice in one registry")
	}
	b, err := actions.NewRunner(q, actions.RunnerConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Owner() == "" || a.Owner() == b.Owner() {
		t.Errorf("default owners %q and %q: want distinct names", a.Owner(), b.Owner())
	}
	if c, _ := actions.NewRunner(q, actions.RunnerConfig{Owner: "replica-1"}, nil, nil); c.Owner() != "replica-1" {
		t.Errorf("Owner() = %q, want the configured replica-1", c.Owner())
	}
}

// TestRunnerClaimError checks that a failing Claim is tried again, and
// counted.
func TestRunnerClaimError(t *testing.T) {
	kind := register(func(context.Context, actions.Call) error { return nil })
	q := &failingQueue{memQueue: newMemQueue()}
	q.claims.Store(2)
	id := q.add(newJob(kind, "t", "e", "3x10ms"))
	reg := prometheus.NewRegistry()
	run(t, q, actions.RunnerConfig{Poll: 10 * time.Millisecond}, reg, nil)
	q.waitUntil(t, "the job is done", func() bool { return q.job(id).Status == actions.Done })
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`# HELP hookd_action_claim_failures_total Polls for due action jobs that failed (the queue did not answer; logged as an outage); while they fail, no action runs.
# TYPE hookd_action_claim_failures_total counter
hookd_action_claim_failures_total 2
`), "hookd_action_claim_failures_total"); err != nil {
		t.Error(err)
	}
}

// TestRunnerDefaultPolicy checks that a job without a policy, or with one
// that does not parse, is retried by actions.DefaultRetry: 30 s after its
// first failure.
func TestRunnerDefaultPolicy(t *testing.T) {
	for _, retry := range []string{"", "often"} {
		t.Run(retry, func(t *testing.T) {
			kind := register(func(context.Context, actions.Call) error { return errors.New("down") })
			q := newMemQueue()
			id := q.add(newJob(kind, "t", "e", retry))
			run(t, q, actions.RunnerConfig{Poll: time.Hour}, nil, nil)
			q.waitUntil(t, "the job failed", func() bool { return len(q.failures()) > 0 })
			f := q.failures()[0]
			updated := q.job(id).Updated
			// Next is set before the record: at most 30 s after it.
			if f.Dead || f.Next.Before(updated.Add(20*time.Second)) || f.Next.After(updated.Add(30*time.Second)) {
				t.Errorf("Fail: next %v (%v after the record), dead %v; want 30s later, not dead", f.Next, f.Next.Sub(updated), f.Dead)
			}
		})
	}
}

// TestRunnerClipsErrors checks that a long error is recorded cut, as
// valid UTF-8.
func TestRunnerClipsErrors(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6000 bytes
	kind := register(func(context.Context, actions.Call) error { return actions.Permanent(errors.New(long)) })
	q := newMemQueue()
	id := q.add(newJob(kind, "t", "e", "3x10ms"))
	run(t, q, actions.RunnerConfig{Poll: time.Hour}, nil, nil)
	q.waitUntil(t, "the job is dead", func() bool { return q.job(id).Status == actions.Dead })
	got := q.job(id).LastError
	if len(got) > 4<<10+3 || !utf8.ValidString(got) || !strings.HasSuffix(got, "é...") || !strings.HasPrefix(long, strings.TrimSuffix(got, "...")) {
		t.Errorf("LastError is %d bytes, valid UTF-8 %v, ends %q; want at most 4 KiB and an ellipsis", len(got), utf8.ValidString(got), got[len(got)-8:])
	}
}

// TestRunnerBatch queues five jobs of one target before the runner starts,
// so that one claim takes them all: they run one at a time in queue order;
// the third fails for good, which ends the batch and suspends the target,
// leaving the last two pending, unattempted, until the target resumes.
func TestRunnerBatch(t *testing.T) {
	var (
		mu      sync.Mutex
		order   []string
		running atomic.Int32
		overlap atomic.Bool
	)
	kind := register(func(_ context.Context, call actions.Call) error {
		if running.Add(1) > 1 {
			overlap.Store(true)
		}
		defer running.Add(-1)
		mu.Lock()
		order = append(order, call.EventID)
		mu.Unlock()
		if call.EventID == "e2" {
			return actions.Permanent(errors.New("gone"))
		}
		return nil
	})
	attempted := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(order, " ")
	}
	q := newMemQueue()
	var ids []int64
	for i := range 5 {
		ids = append(ids, q.add(newJob(kind, "t", fmt.Sprintf("e%d", i), "3x1ms")))
	}
	run(t, q, actions.RunnerConfig{Workers: 4, Batch: 5, Poll: 5 * time.Millisecond}, nil, nil)
	q.waitUntil(t, "e2 is dead", func() bool { return q.job(ids[2]).Status == actions.Dead })
	time.Sleep(20 * time.Millisecond) // polls that must claim nothing
	if got := attempted(); got != "e0 e1 e2" {
		t.Errorf("attempts before resume: %q, want e0 e1 e2", got)
	}
	for _, i := range []int{3, 4} {
		if j := q.job(ids[i]); j.Status != actions.Pending || j.Attempts != 0 {
			t.Errorf("job e%d after the batch stopped: %s, %d attempts; want pending, 0", i, j.Status, j.Attempts)
		}
	}

	q.resume("t")
	q.waitUntil(t, "e3 and e4 are done", func() bool {
		return q.job(ids[3]).Status == actions.Done && q.job(ids[4]).Status == actions.Done
	})
	if got := attempted(); got != "e0 e1 e2 e3 e4" {
		t.Errorf("attempts: %q, want e0 e1 e2 e3 e4", got)
	}
	if overlap.Load() {
		t.Error("two jobs of one target ran at once")
	}
	if f := q.failures(); len(f) != 1 || f[0].ID != ids[2] || !f[0].Dead {
		t.Errorf("failures = %+v, want e2's only, dead", f)
	}
}

// TestRunnerRecordsSlowJobs runs a batch whose jobs each take longer than
// the runner waits to record outcomes together: the first two are done in
// the queue while the third still runs, so that a crash then would run
// only the third again.
func TestRunnerRecordsSlowJobs(t *testing.T) {
	third := make(chan struct{})
	release := make(chan struct{})
	kind := register(func(ctx context.Context, call actions.Call) error {
		if call.EventID == "e2" {
			close(third)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		}
		time.Sleep(30 * time.Millisecond)
		return nil
	})
	q := newMemQueue()
	var ids []int64
	for i := range 4 {
		ids = append(ids, q.add(newJob(kind, "t", fmt.Sprintf("e%d", i), "3x1ms")))
	}
	run(t, q, actions.RunnerConfig{Workers: 1, Batch: 4, Poll: 5 * time.Millisecond}, nil, nil)
	wait(t, third, "the third job to start")
	for i, want := range []string{actions.Done, actions.Done, actions.Running, actions.Running} {
		if j := q.job(ids[i]); j.Status != want {
			t.Errorf("job e%d while e2 runs: %s, want %s", i, j.Status, want)
		}
	}
	close(release)
	q.waitUntil(t, "every job is done", func() bool {
		for _, id := range ids {
			if q.job(id).Status != actions.Done {
				return false
			}
		}
		return true
	})
	for i, id := range ids {
		if n := q.job(id).Attempts; n != 1 {
			t.Errorf("job e%d made %d attempts, want 1", i, n)
		}
	}
}

// failingQueue is a memQueue whose writes fail as a queue's do while its
// database is away: its first claims, renewals and recordings of outcomes,
// as many as each counter says, and every one while down is set.
type failingQueue struct {
	*memQueue
	claims, renewals, finishes atomic.Int32
	down                       atomic.Bool
}

var errAway = errors.New("connection refused")

// fails reports whether the next call that n counts fails.
func (q *failingQueue) fails(n *atomic.Int32) bool { return q.down.Load() || n.Add(-1) >= 0 }

func (q *failingQueue) Claim(ctx context.Context, owner string, now time.Time, targets, batch int, lease time.Duration, except string) ([]actions.Job, error) {
	if q.fails(&q.claims) {
		notify(q.changed)
		return nil, errAway
	}
	return q.memQueue.Claim(ctx, owner, now, targets, batch, lease, except)
}

func (q *failingQueue) Renew(ctx context.Context, owner string, ids []int64, now time.Time, lease time.Duration) error {
	if q.fails(&q.renewals) {
		return errAway
	}
	return q.memQueue.Renew(ctx, owner, ids, now, lease)
}

func (q *failingQueue) Finish(ctx context.Context, owner string, outcomes []actions.Outcome) error {
	if q.fails(&q.finishes) {
		return errAway
	}
	return q.memQueue.Finish(ctx, owner, outcomes)
}

// TestRunnerOutageLongerThanLease takes the queue away while a job runs,
// for longer than the lease, and lets the job succeed meanwhile: once the
// queue is back, the runner records the outcome and does not claim the
// job again for itself, though its lease lapsed, as no other runner took
// it over. It used to: its next poll found the job's lease lapsed and ran
// it a second time, beside the attempt whose outcome waited to be
// recorded, and that outcome was then recorded too, as the claim was in
// the runner's own name.
func TestRunnerOutageLongerThanLease(t *testing.T) {
	const lease = 300 * time.Millisecond
	var runs atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	kind := register(func(context.Context, actions.Call) error {
		if runs.Add(1) == 1 {
			close(started)
			<-release
		}
		return nil
	})
	q := &failingQueue{memQueue: newMemQueue()}
	id := q.add(newJob(kind, "t", "e", "3x1ms"))
	run(t, q, actions.RunnerConfig{Owner: "me", Lease: lease, Poll: 10 * time.Millisecond}, nil, nil)
	wait(t, started, "the job to start")
	q.down.Store(true)
	time.Sleep(3 * lease) // the claim lapses
	close(release)        // the action took effect; its outcome waits
	time.Sleep(50 * time.Millisecond)
	q.down.Store(false)
	q.waitUntil(t, "the job is done", func() bool { return q.job(id).Status == actions.Done })
	time.Sleep(2 * lease) // a second run would come within a lease
	if n := runs.Load(); n != 1 {
		t.Errorf("the action ran %d times, want once", n)
	}
	if j := q.job(id); j.Attempts != 1 {
		t.Errorf("%d attempts recorded, want 1", j.Attempts)
	}
}
