package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/hookd/hookd/eventlog"
)

var _ eventlog.Lagger = (*Log)(nil)

// Lag returns, for every consumer group in the offsets table of each topic
// this Log has used, the messages of the topic after the last one the
// group acked, in watermill-sql's order (transaction, then offset). It
// counts them, since offsets from a sequence have gaps: a cost that grows
// with the lag, on the table's primary key.
func (l *Log) Lag(ctx context.Context) ([]eventlog.Lag, error) {
	l.mu.Lock()
	topics := slices.Sorted(maps.Keys(l.ready))
	l.mu.Unlock()
	var out []eventlog.Lag
	for _, topic := range topics {
		rows, err := l.pool.Query(ctx, `SELECT o.consumer_group, COALESCE(o.offset_acked, 0),
			(SELECT count(*) FROM `+l.schema.MessagesTable(topic)+` m
			 WHERE (m.transaction_id, m."offset") > (o.last_processed_transaction_id, COALESCE(o.offset_acked, 0)))
			FROM `+l.offsets.MessagesOffsetsTable(topic)+` o`)
		if err != nil {
			return nil, fmt.Errorf("consumer lag of %s: %w", topic, err)
		}
		for rows.Next() {
			g := eventlog.Lag{Topic: topic}
			if err := rows.Scan(&g.Group, &g.Acked, &g.Messages); err != nil {
				rows.Close()
				return nil, fmt.Errorf("consumer lag of %s: %w", topic, err)
			}
			out = append(out, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("consumer lag of %s: %w", topic, err)
		}
	}
	return out, nil
}
