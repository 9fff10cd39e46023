package actions

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultRetry is the retry policy of an action that has no retry: 10 retries
// 30 s apart, then 10 retries 30 min apart.
const DefaultRetry = "10x30s,10x30m"

// maxTries bounds one step's count, so that no policy retries for centuries.
const maxTries = 10000

// Policy says when a failed action is tried again: each Step in turn, Tries
// times, Every apart. Written "10x30s,10x30m"; the zero Policy, written
// "none", retries never: the action is tried once.
type Policy []Step

// Step is one part of a Policy: Tries retries, each Every after the
// previous failure.
type Step struct {
	Tries int
	Every time.Duration
}

// ParsePolicy parses a policy written as comma-separated steps "NxDURATION",
// N from 1 to 10000 and DURATION a positive Go duration such as "30s", "5m"
// or "1h30m"; spaces around a step are ignored. "none" is the zero Policy:
// a failed attempt is not retried.
func ParsePolicy(s string) (Policy, error) {
	switch strings.TrimSpace(s) {
	case "":
		return nil, errors.New(`empty retry policy: want steps such as "10x30s,10x30m", or "none"`)
	case "none":
		return nil, nil
	}
	var p Policy
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		n, d, ok := strings.Cut(part, "x")
		if !ok {
			return nil, fmt.Errorf(`invalid retry step %q: want TRIESxINTERVAL, such as "10x30s"`, part)
		}
		tries, err := strconv.Atoi(n)
		if err != nil || tries < 1 || tries > maxTries {
			return nil, fmt.Errorf(`invalid retry step %q: want a number of tries from 1 to %d before the x, or "none" for no retry`, part, maxTries)
		}
		every, err := time.ParseDuration(d)
		if err != nil || every <= 0 {
			return nil, fmt.Errorf(`invalid retry step %q: want a positive interval such as "30s" or "5m" after the x`, part)
		}
		p = append(p, Step{Tries: tries, Every: every})
	}
	return p, nil
}

// Delay returns how long to wait, after an action's failed attempt number
// failures (counting from 1), before trying again, and false when the policy
// allows no further attempt. Delay(0) is 0 and true: the first attempt runs
// at once. With "10x30s,10x30m", failures 1 to 10 wait 30 s, 11 to 20 wait
// 30 min, and after the 20th the action is given up; it has run 21 times.
func (p Policy) Delay(failures int) (time.Duration, bool) {
	if failures == 0 {
		return 0, true
	}
	if failures < 0 {
		return 0, false
	}
	for _, s := range p {
		if failures <= s.Tries {
			return s.Every, true
		}
		failures -= s.Tries
	}
	return 0, false
}

// Retries returns how many times the policy retries in all.
func (p Policy) Retries() int {
	n := 0
	for _, s := range p {
		n += s.Tries
	}
	return n
}

// String returns the policy as ParsePolicy reads it; "none" for the zero
// Policy, since a job's empty policy means DefaultRetry.
func (p Policy) String() string {
	if len(p) == 0 {
		return "none"
	}
	parts := make([]string, len(p))
	for i, s := range p {
		parts[i] = strconv.Itoa(s.Tries) + "x" + formatDuration(s.Every)
	}
	return strings.Join(parts, ",")
}

// formatDuration writes d without the zero units time.Duration.String adds
// ("30m" rather than "30m0s").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// defaultPolicy is DefaultRetry parsed.
var defaultPolicy = func() Policy {
	p, err := ParsePolicy(DefaultRetry)
	if err != nil {
		panic(err)
	}
	return p
}()
