package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
)

// insertRows is the most messages one INSERT statement writes. A statement
// of many rows opens the table and its indexes once and passes through
// database/sql once, where a statement a message did both for every
// message: an Append of 100 events takes 17% (ids in random order) to 30%
// (ids that grow with time) less time (BenchmarkAppend). 64 rows of 6 parameters stay far below SQLite's limit
// of 32,766 parameters.
const insertRows = 64

// insert writes msgs, at most insertRows of them, to topic in one statement
// and returns how many it inserted. It sets dup[i] when msgs[i] was not
// inserted because its dedup key is taken, by a message already in the
// topic or by an earlier one of msgs. The caller holds the writer, in a
// transaction.
func (l *Log) insert(topic string, msgs []*message.Message, now int64, dup []bool) (int, error) {
	st, err := l.insertStmt(len(msgs))
	if err != nil {
		return 0, err
	}
	// The metadata of all msgs go one after the other into one buffer. A
	// message's slice stays as it is when the buffer grows: append copies
	// to a new array and leaves the old one as it was.
	md := l.md[:0]
	args := l.args[:0]
	for _, m := range msgs {
		var key, meta any
		if k := m.Metadata.Get(eventlog.DedupKey); k != "" {
			key = k
		}
		start := len(md)
		if md = appendMetadata(md, m.Metadata); len(md) > start {
			meta = md[start:]
		}
		args = append(args, topic, m.UUID, key, []byte(m.Payload), meta, now)
	}
	l.md = md
	res, err := st.ExecContext(context.Background(), args...)
	clear(args)
	l.args = args[:0]
	if err != nil {
		return 0, fmt.Errorf("insert %d messages: %w", len(msgs), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("insert %d messages: %w", len(msgs), err)
	}
	if int(n) < len(msgs) {
		if err := l.markDuplicates(msgs, res, n, dup); err != nil {
			return 0, err
		}
	}
	return int(n), nil
}

// insertStmt returns the statement that inserts n messages, preparing it on
// first use.
func (l *Log) insertStmt(n int) (*sql.Stmt, error) {
	if st := l.stInsert[n-1]; st != nil {
		return st, nil
	}
	// OR ROLLBACK: a failure other than a taken dedup key ends the whole
	// transaction, which append rolls back anyway. With the default, ABORT,
	// SQLite would keep a statement journal to undo just this statement,
	// copying every page that an earlier statement of the transaction
	// changed: with ids in random order, a quarter of an Append's time.
	var q strings.Builder
	q.WriteString(`INSERT OR ROLLBACK INTO messages (topic, uuid, dedup_key, payload, metadata, created_at) VALUES `)
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		// CAST: the metadata arrives as bytes of a reused buffer, which
		// SQLite would store as a BLOB; JSON belongs in a TEXT value.
		q.WriteString(`(?, ?, ?, ?, CAST(? AS TEXT), ?)`)
	}
	q.WriteString(` ON CONFLICT DO NOTHING`)
	st, err := l.wconn.PrepareContext(context.Background(), q.String())
	if err != nil {
		return nil, fmt.Errorf("prepare insert of %d messages: %w", n, err)
	}
	l.stInsert[n-1] = st
	return st, nil
}

// markDuplicates sets dup for the msgs that the INSERT whose result is res
// skipped, having inserted n < len(msgs) of them. The rows it inserted are
// the n offsets up to its last insert id, since the writer alone appends
// and each row takes the next offset; a message with a dedup key that is
// not among theirs, or whose key an earlier message took, is a duplicate.
func (l *Log) markDuplicates(msgs []*message.Message, res sql.Result, n int64, dup []bool) error {
	inserted := make(map[string]int, n)
	if n > 0 {
		last, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("find duplicates: %w", err)
		}
		rows, err := l.wconn.QueryContext(context.Background(),
			`SELECT dedup_key FROM messages WHERE "offset" > ? AND "offset" <= ? AND dedup_key IS NOT NULL`, last-n, last)
		if err != nil {
			return fmt.Errorf("find duplicates: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return fmt.Errorf("find duplicates: %w", err)
			}
			inserted[k]++
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find duplicates: %w", err)
		}
	}
	for i, m := range msgs {
		k := m.Metadata.Get(eventlog.DedupKey)
		if k == "" {
			continue
		}
		if inserted[k] > 0 {
			inserted[k]--
		} else {
			dup[i] = true
		}
	}
	return nil
}
