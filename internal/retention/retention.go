// Package retention is hookd serve's background job that deletes rows older
// than the configured retention from the store and the event log, a small
// batch at a time so that ingest and projection never wait long.
package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/hookd/hookd/eventlog"
)

// Store is the part of the store the job deletes from: store.Store.
type Store interface {
	// DeleteBefore deletes up to limit rows older than before and returns
	// how many it deleted.
	DeleteBefore(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteFiringsBefore deletes up to limit firings of rules with a
	// cooldown dated before before and returns how many it deleted.
	DeleteFiringsBefore(ctx context.Context, before time.Time, limit int) (int, error)
}

// Config configures Run. A zero Events or Log keeps those rows forever.
type Config struct {
	Events, Log time.Duration
	// Interval is how often a round starts. Default a tenth of the
	// shortest of Events and Log, between 1m and 1h: hourly for retentions
	// of ten hours and more, so that a store kept minutes holds about that
	// long, not up to an hour more, and each round has less to delete.
	Interval time.Duration
	// Batch is the most rows one transaction deletes. Default 500.
	Batch int
	// Pause is the wait between two batches of a round. Default 50ms.
	Pause time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Cooldown, when set, returns the longest cooldown of the running
	// rules. With Events, the rules' cooldown firings older than the
	// events' horizon less it are deleted: they can no longer hold back a
	// firing for any event the store keeps. Nil keeps them.
	Cooldown func() time.Duration
	// Failed, when set, is called at each failed deletion (which is also
	// logged) with what it deleted from: "store" or "log". hookd serve
	// counts them on /metrics.
	Failed func(from string)
}

// Run deletes, at once and then every Interval until ctx ends, the store's
// events older than Events (and, with Cooldown, the rule firings older than
// Events plus the longest cooldown) and the log's messages older than Log (those
// every consumer group has processed: see eventlog.Log's Trim), Batch rows
// per transaction with Pause between, until a round finds none left.
// Failures are logged, reported to cfg.Failed, and tried again next round.
// log may be nil when Log is zero. Several processes may run it on one log
// at once (replicas on one PostgreSQL or NATS log): Trim deletes each
// message once.
func Run(ctx context.Context, cfg Config, st Store, log eventlog.Log, logger *slog.Logger) {
	if cfg.Events <= 0 && cfg.Log <= 0 {
		return
	}
	if cfg.Interval <= 0 {
		cfg.Interval = defaultInterval(cfg.Events, cfg.Log)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Pause <= 0 {
		cfg.Pause = 50 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if cfg.Events > 0 {
			before := cfg.Now().Add(-cfg.Events)
			drain(ctx, cfg, logger, "store", "store", func() (int, error) { return st.DeleteBefore(ctx, before, cfg.Batch) })
			if cfg.Cooldown != nil {
				before := before.Add(-cfg.Cooldown())
				drain(ctx, cfg, logger, "store", "store rule firings", func() (int, error) { return st.DeleteFiringsBefore(ctx, before, cfg.Batch) })
			}
		}
		if cfg.Log > 0 && log != nil {
			before := cfg.Now().Add(-cfg.Log)
			for _, topic := range []string{eventlog.TopicEvents, eventlog.TopicQuarantine} {
				drain(ctx, cfg, logger, "log", "log "+topic, func() (int, error) { return log.Trim(ctx, topic, before, cfg.Batch) })
			}
		}
		t.Reset(cfg.Interval)
	}
}

// defaultInterval is Config.Interval's default for retentions events and
// log, either zero for none.
func defaultInterval(events, log time.Duration) time.Duration {
	shortest := max(events, log)
	for _, d := range []time.Duration{events, log} {
		if d > 0 {
			shortest = min(shortest, d)
		}
	}
	return min(max(shortest/10, time.Minute), time.Hour)
}

// drain calls del until it deletes less than a batch, pausing between. A
// failure is reported to cfg.Failed as from; what names it in the log.
func drain(ctx context.Context, cfg Config, logger *slog.Logger, from, what string, del func() (int, error)) {
	total := 0
	for ctx.Err() == nil {
		n, err := del()
		if err != nil {
			if ctx.Err() == nil {
				logger.Error("retention: deleting old rows failed; next round tries again", "from", what, "error", err)
				if cfg.Failed != nil {
					cfg.Failed(from)
				}
			}
			return
		}
		total += n
		if n < cfg.Batch {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(cfg.Pause):
		}
	}
	if total > 0 {
		logger.Info("retention: deleted old rows", "from", what, "rows", total)
	}
}
