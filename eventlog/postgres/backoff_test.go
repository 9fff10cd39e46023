package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/hookd/hookd/internal/outage"
	"github.com/hookd/hookd/internal/testenv"
)

// TestBackoffLogsAnOutage drives the subscribers' backoff through a
// database that went away for 100 polls and came back: one line when the
// reads start failing and one when they succeed again, where watermill-sql
// logs every failed query; the waits are watermill's.
func TestBackoffLogsAnOutage(t *testing.T) {
	var buf testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	var failed atomic.Uint64
	b := backoff{wmsql.NewDefaultBackoffManager(10*time.Millisecond, time.Second),
		outage.New(logger.With("group", "store"), "reads failed", "reads succeeded again", 0), &failed}
	wl := quiet(logger)
	if got := b.HandleError(wl, true, nil); got != 10*time.Millisecond {
		t.Errorf("no message: wait %v, want the poll interval", got)
	}
	down := errors.New("failed to connect")
	for range 100 {
		if got := b.HandleError(wl, false, down); got != time.Second {
			t.Fatalf("failed query: wait %v, want the retry interval", got)
		}
	}
	if got := b.HandleError(wl, false, errors.New("deadlock detected")); got != 0 {
		t.Errorf("deadlock: wait %v, want 0 (again at once)", got)
	}
	if got := b.HandleError(wl, true, context.Canceled); got != 0 {
		t.Errorf("subscription ended: wait %v, want 0", got)
	}
	b.HandleError(wl, false, nil)
	if got := failed.Load(); got != 100 {
		t.Errorf("counted %d failed reads, want 100 (not the deadlock, not the end)", got)
	}
	out := buf.String()
	for msg, want := range map[string]int{
		`level=ERROR msg="reads failed" group=store err="failed to connect"`: 1,
		`msg="reads succeeded again" group=store failures=100`:               1,
		"Error querying for message":                                         0,
		"level=ERROR":                                                        1,
	} {
		if got := strings.Count(out, msg); got != want {
			t.Errorf("%q logged %d times, want %d:\n%s", msg, got, want, out)
		}
	}
}

// TestQuietStop: watermill-sql's errors of a subscription that hookd's stop
// cut short are logged at Debug, not Error, with the adapter's fields; its
// other errors stay errors.
func TestQuietStop(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"commit cut short by the stop", context.Canceled, "level=DEBUG msg=\"could not commit tx for querying message\" topic=events error=\"context canceled\""},
		{"wrapped", fmt.Errorf("commit: %w", context.Canceled), "level=DEBUG msg=\"could not commit tx for querying message\" topic=events error=\"commit: context canceled\""},
		{"a failure", errors.New("conn closed"), "level=ERROR msg=\"could not commit tx for querying message\" topic=events error=\"conn closed\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf testenv.Buffer
			logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
				Level: slog.LevelDebug,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			}))
			quiet(logger).With(watermill.LogFields{"topic": "events"}).Error("could not commit tx for querying message", tc.err, nil)
			if got := strings.TrimSpace(buf.String()); got != tc.want {
				t.Errorf("logged %s, want %s", got, tc.want)
			}
		})
	}
}
