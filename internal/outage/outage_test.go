package outage

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testenv"
)

// TestLog drives a Log on a clock of its own through two outages and
// checks each line it writes and its count of failures.
func TestLog(t *testing.T) {
	var buf testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	o := New(logger, "disk unavailable", "disk available again", time.Minute)
	now := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	o.now = func() time.Time { return now }
	full := errors.New("disk full")
	steps := []struct {
		name    string
		advance time.Duration
		fail    bool
		want    string // the line written, "" for none
	}{
		{"success with no outage", 0, false, ""},
		{"first failure", 0, true, `level=ERROR msg="disk unavailable" attempt=1 err="disk full"`},
		{"within the interval", 10 * time.Second, true, ""},
		{"still within", 49 * time.Second, true, ""},
		{"interval passed", time.Second, true, `level=ERROR msg="disk unavailable" attempt=4 err="disk full" failures=3 failing_since=2026-11-29T03:00:00Z`},
		{"after the summary", time.Second, true, ""},
		{"recovered", 9 * time.Second, false, `level=INFO msg="disk available again" failures=5 after=1m10s`},
		{"success after it", time.Second, false, ""},
		{"next outage", time.Hour, true, `level=ERROR msg="disk unavailable" attempt=8 err="disk full"`},
		{"it ends", time.Millisecond, false, `level=INFO msg="disk available again" failures=1 after=1ms`},
	}
	var failures uint64
	for i, s := range steps {
		now = now.Add(s.advance)
		if s.fail {
			failures++
		}
		before := len(buf.String())
		if s.fail {
			o.Fail(full, "attempt", i)
		} else {
			o.OK()
		}
		if got := strings.TrimSpace(buf.String()[before:]); got != s.want {
			t.Errorf("%s: logged %q, want %q", s.name, got, s.want)
		}
		if at, err := o.Last(); s.fail != (err != nil) || s.fail && !at.Equal(now) {
			t.Errorf("%s: Last() = %v, %v", s.name, at, err)
		}
		if got := o.Failures(); got != failures {
			t.Errorf("%s: Failures() = %d, want %d", s.name, got, failures)
		}
	}
}
