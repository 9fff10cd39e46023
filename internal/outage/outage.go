// Package outage logs a failure that repeats, such as every group commit
// while the disk is full, the way an operator wants to read it: once when
// it starts, a summary at most once an interval while it lasts, and once
// when it ends, instead of a line for every attempt. It also counts every
// failure, for a counter on /metrics.
package outage

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultEvery is the default interval between summaries.
const DefaultEvery = time.Minute

// Log tracks one kind of failure. Its zero value is not usable; build it
// with New. Safe for concurrent use.
type Log struct {
	logger *slog.Logger
	msg    string // logged at the start and in summaries
	ended  string // logged when it ends
	every  time.Duration
	now    func() time.Time

	failing  atomic.Bool // since is set: OK's way around the lock
	total    atomic.Uint64
	mu       sync.Mutex
	since    time.Time // when the outage began; zero when there is none
	failures int       // since it began
	last     time.Time // when it was last logged
	unlogged int       // failures since then
	failedAt time.Time // the last failure's time and error
	err      error
}

// New returns a Log that logs msg at error level when a failure starts and
// in each summary, and ended at info level when an attempt succeeds again.
// every is the least time between two lines while the failure lasts (0
// means DefaultEvery). logger nil discards.
func New(logger *slog.Logger, msg, ended string, every time.Duration) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if every <= 0 {
		every = DefaultEvery
	}
	return &Log{logger: logger, msg: msg, ended: ended, every: every, now: time.Now}
}

// Fail records a failed attempt with its error and attributes. The first of
// an outage is logged with them; later ones are counted, and logged, with
// how many failed since the last line and since when, once every has
// passed since that line.
func (o *Log) Fail(err error, attrs ...any) {
	o.total.Add(1)
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	o.failures++
	o.failedAt, o.err = now, err
	if o.since.IsZero() {
		o.since, o.last, o.unlogged = now, now, 0
		o.failing.Store(true)
		o.logger.Error(o.msg, append(attrs, "err", err)...)
		return
	}
	o.unlogged++
	if now.Sub(o.last) < o.every {
		return
	}
	o.logger.Error(o.msg, append(attrs, "err", err, "failures", o.unlogged, "failing_since", o.since.UTC().Format(time.RFC3339))...)
	o.last, o.unlogged = now, 0
}

// OK records a successful attempt: if it ends an outage, that is logged
// with how many attempts failed and for how long.
func (o *Log) OK() {
	if !o.failing.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		return
	}
	o.logger.Info(o.ended, "failures", o.failures, "after", o.now().Sub(o.since).Round(time.Millisecond).String())
	o.since, o.failures, o.unlogged = time.Time{}, 0, 0
	o.failedAt, o.err = time.Time{}, nil
	o.failing.Store(false)
}

// Failures returns how many attempts failed since New, in every outage:
// what a Prometheus counter of them exports. Safe for concurrent use.
func (o *Log) Failures() uint64 { return o.total.Load() }

// Last returns when the last attempt failed and its error while an
// outage lasts, and a nil error when none does.
func (o *Log) Last() (time.Time, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failedAt, o.err
}
