package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/hookd/hookd/eventlog"
)

// Trim implements eventlog.Log in one statement, its own transaction.
//
// A group's position is watermill-sql's: the row of its offsets table
// holds the transaction id and the offset of the last message it acked,
// and a message is acked when its (transaction_id, offset) is at or before
// them. A group that subscribed and acked nothing has the row (0, 0),
// which holds every message back. A message is older than before when its
// created_at (watermill's TIMESTAMP, the appending transaction's start in
// the session's time zone, the server's default for every hookd
// connection) is. Of the oldest limit messages that every group acked,
// Trim deletes those before the first that is not old enough: created_at
// has no index, and this keeps each call to limit rows of the primary key
// instead of a scan of every acked message once none is left to delete.
//
// The dedup key of each message it deletes goes in the same statement,
// from the topic's dedup table, as on the SQLite log: a key lives as long
// as its message, so at least retention.log (a day or more; see
// config.Retention), and a retry of a deleted message is appended again.
//
// The rows it takes are locked with SKIP LOCKED, so that several replicas
// trimming at once delete different rows, none waiting for another.
func (l *Log) Trim(ctx context.Context, topic string, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	topics, err := l.existing(ctx, []string{topic})
	if err != nil {
		return 0, fmt.Errorf("trim %s: %w", topic, err)
	}
	if len(topics) == 0 {
		return 0, nil
	}
	messages := l.schema.MessagesTable(topic)
	var n int
	err = l.pool.QueryRow(ctx, `WITH acked AS (
			SELECT last_processed_transaction_id AS tx, COALESCE(offset_acked, 0) AS off
			FROM `+l.offsets.MessagesOffsetsTable(topic)+`
			ORDER BY 1, 2 LIMIT 1
		), newest AS (
			SELECT transaction_id AS tx, "offset" AS off FROM `+messages+`
			ORDER BY 1 DESC, 2 DESC LIMIT 1
		), head AS (
			SELECT m.transaction_id, m."offset", m.created_at
			FROM `+messages+` m, acked, newest
			WHERE (m.transaction_id, m."offset") <= (acked.tx, acked.off)
			  AND (m.transaction_id, m."offset") < (newest.tx, newest.off)
			ORDER BY m.transaction_id, m."offset"
			LIMIT $2
			FOR UPDATE OF m SKIP LOCKED
		), old AS (
			SELECT transaction_id, "offset" FROM (
				SELECT transaction_id, "offset",
					bool_and(created_at < ($1::timestamptz AT TIME ZONE current_setting('TimeZone')))
						OVER (ORDER BY transaction_id, "offset") AS old
				FROM head) h
			WHERE old
		), gone AS (
			DELETE FROM `+messages+` m USING old
			WHERE m.transaction_id = old.transaction_id AND m."offset" = old."offset"
			RETURNING m.metadata->>$3::text AS key
		), keys AS (
			DELETE FROM `+l.dedupTable(topic)+` d USING gone WHERE d.key = gone.key
		)
		SELECT count(*) FROM gone`, before, limit, eventlog.DedupKey).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("trim %s: %w", topic, err)
	}
	return n, nil
}
