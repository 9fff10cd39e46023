package store_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
)

// TestRunnerRetryAfter runs http jobs through the real queue against a
// target that answers 429 or 503 with a Retry-After, in seconds or as an
// HTTP date: the job's next attempt, and the target's other job queued
// behind it, wait for it although their policy retries after 10ms, and
// the job's error ends with the delay asked for.
func TestRunnerRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		name  string
		code  int
		after func(now time.Time) string
	}{
		{"429 in seconds", http.StatusTooManyRequests, func(time.Time) string { return "120" }},
		{"503 as a date", http.StatusServiceUnavailable, func(now time.Time) string {
			return now.Add(2 * time.Minute).UTC().Format(http.TimeFormat)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, t.TempDir())
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				w.Header().Set("Retry-After", tt.after(time.Now()))
				w.WriteHeader(tt.code)
			}))
			t.Cleanup(srv.Close)
			first, second := httpJob(t, srv.URL, "e1", "5x10ms"), httpJob(t, srv.URL, "e2", "5x10ms")
			enqueue(t, st, first)
			time.Sleep(time.Millisecond)
			enqueue(t, st, second)
			start := time.Now()
			runRunner(t, st)
			waitFor(t, "the first attempt failed", func() bool { return len(jobByEvent(t, st, "e1").History) == 1 })
			rec, other := jobByEvent(t, st, "e1"), jobByEvent(t, st, "e2")
			// A date counts whole seconds: 2m, or 1m59s once one began.
			if e := rec.History[0].Error; rec.Status != actions.Pending ||
				(!strings.HasSuffix(e, "(Retry-After: 2m)") && !strings.HasSuffix(e, "(Retry-After: 1m59s)")) {
				t.Fatalf("job %s after %q, want pending after an error ending (Retry-After: 2m)", rec.Status, e)
			}
			if min := start.Add(110 * time.Second); rec.NextAt.Before(min) || other.NextAt.Before(min) {
				t.Errorf("due at %s and %s, want both after %s: the target asked for 2 minutes", rec.NextAt, other.NextAt, min)
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1: the other job waits for the Retry-After too", n)
			}
		})
	}
}
