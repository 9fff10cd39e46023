package actions

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfter checks RetryAfter on any Retry-After value a target may
// answer and any time: the error it returns is the attempt's, and a delay
// it reads is positive and at most MaxRetryAfter.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Unix()
	for _, v := range []string{"120", " 3600 ", "0", "-1", "18446744073709551616", "1e3",
		"Sun, 01 Mar 2026 12:10:00 GMT", "Sunday, 01-Mar-26 12:10:00 GMT", "Sun Mar  1 12:10:00 2026",
		"Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT", ""} {
		f.Add(v, now)
	}
	f.Add("Fri, 31 Dec 9999 23:59:59 GMT", int64(-1<<62))
	f.Fuzz(func(t *testing.T, value string, unix int64) {
		failed := errors.New("503 Service Unavailable")
		err := RetryAfter(failed, value, time.Unix(unix, 0))
		if !errors.Is(err, failed) {
			t.Fatalf("RetryAfter(%q) = %v, which is not the attempt's error", value, err)
		}
		if err == failed {
			return
		}
		d := retryAfterOf(err)
		if d <= 0 || d > MaxRetryAfter {
			t.Errorf("RetryAfter(%q) asks for %v, want a delay in (0, %v]", value, d, MaxRetryAfter)
		}
		if !strings.HasSuffix(err.Error(), ")") || !strings.Contains(err.Error(), "(Retry-After: ") {
			t.Errorf("RetryAfter(%q) reads %q", value, err)
		}
	})
}
