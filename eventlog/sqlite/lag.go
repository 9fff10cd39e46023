package sqlite

import (
	"context"
	"fmt"

	"github.com/hookd/hookd/eventlog"
)

var _ eventlog.Lagger = (*Log)(nil)

// Lag returns, for every consumer group in the offsets table or
// subscribed through l, the messages of its topic after the last one it
// acked. Groups of this process count from their acks in memory, which
// are ahead of the table by up to Config.FlushInterval; other processes'
// groups count from the table.
func (l *Log) Lag(ctx context.Context) ([]eventlog.Lag, error) {
	acked := map[cursorKey]int64{}
	l.mu.Lock()
	for k, c := range l.cursors {
		c.mu.Lock()
		acked[k] = c.acked
		c.mu.Unlock()
	}
	l.mu.Unlock()
	rows, err := l.rdb.QueryContext(ctx, `SELECT topic, consumer_group, "offset" FROM offsets`)
	if err != nil {
		return nil, fmt.Errorf("consumer lag: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k   cursorKey
			off int64
		)
		if err := rows.Scan(&k.topic, &k.group, &off); err != nil {
			return nil, fmt.Errorf("consumer lag: %w", err)
		}
		if mem, ok := acked[k]; !ok || off > mem {
			acked[k] = off
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consumer lag: %w", err)
	}
	// Offsets are shared by the topics, so the messages after a group's
	// are counted in its topic (the index on topic and offset makes that
	// a walk of the lag itself), not taken as the difference of offsets.
	out := make([]eventlog.Lag, 0, len(acked))
	for k, off := range acked {
		var n int64
		if err := l.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages WHERE topic = ? AND "offset" > ?`, k.topic, off).Scan(&n); err != nil {
			return nil, fmt.Errorf("consumer lag: %w", err)
		}
		out = append(out, eventlog.Lag{Topic: k.topic, Group: k.group, Messages: n, Acked: off})
	}
	return out, nil
}
