package actions

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter bounds how long a Retry-After delays a job's next attempt
// (see RetryAfter): a target that asks for a day is tried again within
// the hour, and answers again when it is still not ready.
const MaxRetryAfter = time.Hour

// retryAfter is a failed attempt whose target asked to be tried again
// after d.
type retryAfter struct {
	err error
	d   time.Duration
}

func (e retryAfter) Error() string {
	return fmt.Sprintf("%v (Retry-After: %s)", e.err, formatDuration(e.d))
}

func (e retryAfter) Unwrap() error { return e.err }

// RetryAfter wraps err, the failure of an attempt whose answer said when
// to try again, with that answer's Retry-After header value: a number of
// seconds or an HTTP date (RFC 9110, section 10.2.3), read against now.
// The Runner then waits that long before the job's next attempt where its
// policy would try sooner, up to MaxRetryAfter; the attempt counts
// against the policy as any failure does. A rate-limited target (429) or
// one down for maintenance (503) thus gets the pause it asked for,
// rather than attempts that spend the policy while it still refuses
// them. An empty, unreadable or past value returns err as it is, and so
// does a nil err.
func RetryAfter(err error, value string, now time.Time) error {
	if err == nil {
		return nil
	}
	d, ok := parseRetryAfter(value, now)
	if !ok {
		return err
	}
	return retryAfter{err: err, d: min(d, MaxRetryAfter)}
}

// parseRetryAfter reads a Retry-After value as a positive duration from
// now.
func parseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(value, 10, 64); err == nil {
		if n == 0 {
			return 0, false
		}
		if n > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(value)
	if err != nil || !t.After(now) {
		return 0, false
	}
	return t.Sub(now).Round(time.Second), true
}

// retryAfterOf returns the delay a RetryAfter in err's chain asks for, 0
// when there is none.
func retryAfterOf(err error) time.Duration {
	var ra retryAfter
	if errors.As(err, &ra) {
		return ra.d
	}
	return 0
}
