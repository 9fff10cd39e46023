package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/eventlog"
)

var _ eventlog.Rewinder = (*Log)(nil)

// ErrGroupActive is returned, wrapped, by Rewind while a subscriber
// consumes the topic in the group.
var ErrGroupActive = errors.New("consumer group is being consumed")

// Rewind implements eventlog.Rewinder. It refuses while l has a
// subscription of group to topic, or has had one (its cursor keeps the
// group's offset in memory), and while another process holds the group's
// lease. A lease that its holder stopped renewing (a process that ended,
// or the copy of a running log that a backup made) is waited out, as a
// subscriber waits for it, for at most Config.LeaseTTL and ctx. It checks
// the lease and writes the offset in one write transaction, so that no
// other process takes the lease in between.
func (l *Log) Rewind(ctx context.Context, topic, group string, offset int64) (int64, error) {
	deadline := time.Now().Add(l.cfg.LeaseTTL + l.cfg.PollInterval)
	for {
		from, expires, err := l.rewind(ctx, topic, group, offset)
		if !errors.Is(err, ErrGroupActive) || expires.IsZero() || expires.After(deadline) {
			return from, err
		}
		t := time.NewTimer(time.Until(expires) + 10*time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("rewind group %q of %s: %w", group, topic, ctx.Err())
		}
	}
}

// rewind is one attempt of Rewind; when another process holds the lease,
// it also returns when the lease expires unless renewed.
func (l *Log) rewind(ctx context.Context, topic, group string, offset int64) (_ int64, expiresAt time.Time, _ error) {
	l.mu.Lock()
	_, active := l.cursors[cursorKey{topic, group}]
	l.mu.Unlock()
	if active {
		return 0, time.Time{}, fmt.Errorf("rewind group %q of %s: %w in this process", group, topic, ErrGroupActive)
	}
	if err := l.lockWriter(ctx); err != nil {
		return 0, time.Time{}, fmt.Errorf("rewind group %q of %s: %w", group, topic, err)
	}
	defer l.unlockWriter()
	var from int64
	err := l.tx(func() error {
		var holder string
		var expires int64
		err := l.wconn.QueryRowContext(ctx, `SELECT holder, expires_at FROM leases WHERE topic = ? AND consumer_group = ?`,
			topic, group).Scan(&holder, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read lease: %w", err)
		case expires > time.Now().UnixMilli():
			expiresAt = time.UnixMilli(expires)
			return fmt.Errorf("%w by another process", ErrGroupActive)
		}
		err = l.wconn.QueryRowContext(ctx, `SELECT "offset" FROM offsets WHERE topic = ? AND consumer_group = ?`,
			topic, group).Scan(&from)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read offset: %w", err)
		}
		if from <= offset {
			return nil
		}
		_, err = l.wconn.ExecContext(ctx, `UPDATE offsets SET "offset" = ?, updated_at = ? WHERE topic = ? AND consumer_group = ?`,
			offset, time.Now().UnixMilli(), topic, group)
		return err
	})
	if err != nil {
		return 0, expiresAt, fmt.Errorf("rewind group %q of %s: %w", group, topic, err)
	}
	return from, time.Time{}, nil
}
