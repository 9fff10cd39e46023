package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/hookd/hookd/eventlog"
)

var _ eventlog.Reader = (*Log)(nil)

// Read implements eventlog.Reader from the read pool.
func (l *Log) Read(ctx context.Context, topic string, after int64, limit int) ([]eventlog.Record, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := l.stRead.QueryContext(ctx, topic, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	defer rows.Close()
	var out []eventlog.Record
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.off, &r.uuid, &r.payload, &r.metadata, &r.dedupKey); err != nil {
			return nil, fmt.Errorf("read %s: %w", topic, err)
		}
		msg, err := r.message()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", topic, err)
		}
		out = append(out, eventlog.Record{Offset: r.off, Message: msg})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	return out, nil
}

// Trim implements eventlog.Log. It writes on the writer connection, in
// one short transaction, like an Append. A message's dedup key is a column
// of its row, so it goes with the message: a retry of a deleted message is
// appended again. retention.log is at least a day for that reason (see
// config.Retention). The offsets it respects are
// those written to the database, which trail the acks by at most the flush
// interval: it may keep a message a little longer, never delete one early.
func (l *Log) Trim(ctx context.Context, topic string, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	if err := l.lockWriter(ctx); err != nil {
		return 0, fmt.Errorf("trim %s: %w", topic, err)
	}
	defer l.unlockWriter()
	var n int64
	err := l.tx(func() error {
		res, err := l.wconn.ExecContext(ctx, `DELETE FROM messages WHERE "offset" IN (
			SELECT "offset" FROM messages
			WHERE topic = ? AND created_at < ?
			  AND "offset" <= (SELECT MIN("offset") FROM offsets WHERE topic = ?)
			  AND "offset" < (SELECT MAX("offset") FROM messages WHERE topic = ?)
			ORDER BY "offset" LIMIT ?)`, topic, before.UnixMilli(), topic, topic, limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("trim %s: %w", topic, err)
	}
	return int(n), nil
}
