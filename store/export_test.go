package store

import (
	"context"
	"database/sql"
)

// Update runs fn in a write transaction, as the projector runs an
// Evaluator but on no event in particular, commits it, and wakes runners
// when fn enqueued jobs. It lets tests drive a Tx directly.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	var t *Tx
	err := s.write(ctx, func(tx *sql.Tx) error {
		t = s.newTx(tx)
		return fn(t)
	})
	if err == nil && t.enqueued > 0 {
		s.wakeRunners()
	}
	return err
}

// Committed has Run call f after each transaction commits, before it acks
// the transaction's messages.
func Committed(f func()) RunOption {
	return func(c *runConfig) { c.committed = f }
}

// WriterSynchronous returns the sqlite writer's PRAGMA synchronous: 2 is
// FULL.
func (s *Store) WriterSynchronous(ctx context.Context) (int, error) {
	var v int
	err := s.db.write.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&v)
	return v, err
}
