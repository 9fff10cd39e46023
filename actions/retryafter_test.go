package actions_test

import (
	"context"
	"errors"
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
