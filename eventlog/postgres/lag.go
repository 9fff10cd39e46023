package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/eventlog"
)

var _ eventlog.Lagger = (*Log)(nil)

// Lag returns, for every consumer group in the offsets table of each of
// eventlog.Topics and each other topic this Log has used, the messages of
// the topic after the last one the group acked, in watermill-sql's order
// (transaction, then offset). It counts them, since offsets from a
// sequence have gaps: a cost that grows with the lag, on the table's
// primary key. A topic whose tables do not exist (no process has used it)
// has no groups.
func (l *Log) Lag(ctx context.Context) ([]eventlog.Lag, error) {
	l.mu.Lock()
	topics := slices.Collect(maps.Keys(l.ready))
	l.mu.Unlock()
	topics, err := l.existing(ctx, slices.Compact(slices.Sorted(slices.Values(append(topics, eventlog.Topics()...)))))
	if err != nil {
		return nil, fmt.Errorf("consumer lag: %w", err)
	}
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

// existing returns those of topics whose messages and offsets tables
// exist, in their order: asked first, so that a topic no process has used
// is not a query on a missing table, an error in the server's log.
func (l *Log) existing(ctx context.Context, topics []string) ([]string, error) {
	var messages, offsets []string
	for _, topic := range topics {
		messages = append(messages, l.schema.MessagesTable(topic))
		offsets = append(offsets, l.offsets.MessagesOffsetsTable(topic))
	}
	rows, err := l.pool.Query(ctx, `SELECT t FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS x(t, m, o, i)
		WHERE to_regclass(m) IS NOT NULL AND to_regclass(o) IS NOT NULL ORDER BY i`, topics, messages, offsets)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
