package actions_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
)

// TestRunnerRetryAfter checks that a failure wrapped with RetryAfter puts
// the job's next attempt off for as long as the answer asked, when that
// is longer than the policy's interval, up to MaxRetryAfter; and that an
// answer without a readable Retry-After leaves the policy's interval.
func TestRunnerRetryAfter(t *testing.T) {
	tests := []struct {
		name                    string
		retry                   string
		value                   string // the Retry-After; "date+N" is an HTTP date N seconds ahead
		wantAtLeast, wantAtMost time.Duration
		wantErr                 string
	}{
		{name: "seconds, longer than the policy", retry: "3x10ms", value: "120", wantAtLeast: 119 * time.Second, wantAtMost: 121 * time.Second, wantErr: "(Retry-After: 2m)"},
		{name: "an HTTP date", retry: "3x10ms", value: "date+600", wantAtLeast: 590 * time.Second, wantAtMost: 601 * time.Second},
		{name: "a day is an hour", retry: "3x10ms", value: "86400", wantAtLeast: time.Hour - time.Second, wantAtMost: time.Hour + time.Second},
		{name: "the policy is longer", retry: "3x2h", value: "120", wantAtLeast: 2*time.Hour - time.Second, wantAtMost: 2*time.Hour + time.Second},
		{name: "none", retry: "3x10ms", value: "", wantAtMost: time.Second},
		{name: "unreadable", retry: "3x10ms", value: "soon", wantAtMost: time.Second},
		{name: "a date past", retry: "3x10ms", value: "Mon, 01 Jan 2001 00:00:00 GMT", wantAtMost: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var failed time.Time // when the first attempt failed
			kind := register(func(context.Context, actions.Call) error {
				mu.Lock()
				defer mu.Unlock()
				if failed.IsZero() {
					failed = time.Now()
				}
				value := tt.value
				if s, ok := strings.CutPrefix(value, "date+"); ok {
					d, _ := time.ParseDuration(s + "s")
					value = time.Now().Add(d).UTC().Format(http.TimeFormat)
				}
				return actions.RetryAfter(errors.New("answered 429 Too Many Requests"), value, time.Now())
			})
			q := newMemQueue()
			q.add(newJob(kind, "t", "ev1", tt.retry))
			run(t, q, actions.RunnerConfig{Poll: time.Hour}, nil, nil)
			q.waitUntil(t, "a failure", func() bool { return len(q.failures()) > 0 })
			f := q.failures()[0]
			mu.Lock()
			wait := f.Next.Sub(failed)
			mu.Unlock()
			if f.Dead || wait < tt.wantAtLeast || wait > tt.wantAtMost {
				t.Errorf("next attempt in %s (dead %v), want from %s to %s", wait, f.Dead, tt.wantAtLeast, tt.wantAtMost)
			}
			if !strings.Contains(f.Err, "answered 429 Too Many Requests") || !strings.Contains(f.Err, tt.wantErr) {
				t.Errorf("error %q, want it to contain %q", f.Err, tt.wantErr)
			}
		})
	}
}

// TestRunnerRetryAfterHoldsTarget checks that a target whose answer asked
// to wait (a rate limit's 429 with Retry-After) is left alone until then:
// its other due jobs are put off too, rather than each being tried at
// once, meeting the same refusal and spending an attempt; the jobs of
// other targets run.
func TestRunnerRetryAfterHoldsTarget(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	kind := register(func(_ context.Context, call actions.Call) error {
		target, _ := call.Params["target"].(string)
		mu.Lock()
		calls[target]++
		mu.Unlock()
		if target == "limited" {
			return actions.RetryAfter(errors.New("answered 429 Too Many Requests"), "60", time.Now())
		}
		return nil
	})
	q := newMemQueue()
	var ids []int64
	for i := range 5 {
		ids = append(ids, q.add(newJob(kind, "limited", fmt.Sprintf("ev%d", i), "3x10ms")))
	}
	other := q.add(newJob(kind, "other", "ev-other", "3x10ms"))
	start := time.Now()
	run(t, q, actions.RunnerConfig{Poll: 10 * time.Millisecond}, nil, nil)
	q.waitUntil(t, "a failure and the other target's job done", func() bool {
		return len(q.failures()) > 0 && q.job(other).Status == actions.Done
	})
	time.Sleep(200 * time.Millisecond) // polls that would claim the held jobs
	mu.Lock()
	if calls["limited"] != 1 || calls["other"] != 1 {
		t.Errorf("calls %v, want one of each target: the limited target's other jobs held", calls)
	}
	mu.Unlock()
	for _, id := range ids {
		j := q.job(id)
		if j.Status != actions.Pending || j.NextAt.Sub(start) < 59*time.Second || j.NextAt.Sub(start) > 61*time.Second {
			t.Errorf("job %s: %s, due in %s, want pending, due in a minute", j.EventID, j.Status, j.NextAt.Sub(start))
		}
	}
}
