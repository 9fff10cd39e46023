package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DeleteBefore deletes up to limit of the oldest events whose time is
// before before, with their explanations, and up to limit quarantined
// bodies received before it, in one short write transaction, and returns
// how many rows it deleted. The newest event and body are never deleted,
// so that seqs are never handed out twice. Call it in a loop with a small
// limit: the projector waits for each transaction. The jobs of deleted
// events stay, and last and count no longer see them.
func (s *Store) DeleteBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	at := encodeTime(before)
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		oldest := `SELECT seq FROM events WHERE time_ns < ? AND seq < (SELECT MAX(seq) FROM events) ORDER BY time_ns, seq LIMIT ?`
		if _, err := tx.ExecContext(ctx, `DELETE FROM explanations WHERE seq IN (`+oldest+`)`, at, limit); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM events WHERE seq IN (` + oldest + `)`,
			`DELETE FROM quarantine WHERE seq IN (SELECT seq FROM quarantine
				WHERE received_ns < ? AND seq < (SELECT MAX(seq) FROM quarantine) ORDER BY received_ns, seq LIMIT ?)`,
		} {
			res, err := tx.ExecContext(ctx, q, at, limit)
			if err != nil {
				return err
			}
			d, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += d
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete rows before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	return int(n), nil
}
