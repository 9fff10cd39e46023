package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
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

// CountRows returns every row of the count tables, one string each,
// sorted, so that tests can compare two stores' tables.
func (s *Store) CountRows(ctx context.Context) ([]string, error) {
	var out []string
	for _, q := range []string{
		`SELECT 'hour', * FROM counts_hour`,
		`SELECT 'domain_day', * FROM counts_domain_day`,
		`SELECT 'domain_hour', * FROM counts_domain_hour`,
		`SELECT 'error_hour', * FROM counts_error_hour`,
	} {
		rows, err := s.db.read.QueryContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("read count rows: %w", err)
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("read count rows: %w", err)
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read count rows: %w", err)
			}
			out = append(out, fmt.Sprint(vals))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read count rows: %w", err)
		}
	}
	slices.Sort(out)
	return out, nil
}

// HoldWriter takes the store's writer, as a write transaction in progress
// holds it, until release is called.
func (s *Store) HoldWriter() (release func()) {
	s.wmu.Lock()
	return s.wmu.Unlock
}

// Migration returns the SQL of the migration to schema version v.
func Migration(v int) string { return migrations[v-1] }

// Recount empties the count tables and fills them again from the events
// as the migration to schema version 10 does, in one write transaction.
func (s *Store) Recount(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, t := range []string{"counts_hour", "counts_domain_day", "counts_domain_hour", "counts_error_hour"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+t); err != nil {
				return err
			}
		}
		return steps[10](ctx, tx)
	})
}

// Retarget runs the Go step of the migration to schema version 12 on the
// store, in a write transaction.
func (s *Store) Retarget(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error { return retarget(ctx, tx) })
}

// Exec runs query on the store's writer in a write transaction of its
// own, as an older hookd would have written it.
func (s *Store) Exec(ctx context.Context, query string, args ...any) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	})
}

// Rows returns how many rows table holds.
func (s *Store) Rows(ctx context.Context, table string) (int64, error) {
	var n int64
	err := s.db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n)
	return n, err
}

// EventsPlan returns SQLite's plan of the query that Events runs for q
// over all of q's times, one line per step.
func (s *Store) EventsPlan(ctx context.Context, q EventQuery) (string, error) {
	w, times, err := eventFilter(q)
	if err != nil {
		return "", err
	}
	types, err := s.mergeTypes(ctx, q)
	if err != nil {
		return "", err
	}
	query, args := eventSQL(w, times, DefaultLimit+1, types)
	return s.plan(ctx, query, args...)
}

// plan returns SQLite's plan of query, one line per step.
func (s *Store) plan(ctx context.Context, query string, args ...any) (string, error) {
	rows, err := s.db.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "\n"), rows.Err()
}

// JobsPlan returns SQLite's plan of the query that Jobs runs for q, one
// line per step.
func (s *Store) JobsPlan(ctx context.Context, q JobQuery) (string, error) {
	w, err := jobFilter(q)
	if err != nil {
		return "", err
	}
	return s.plan(ctx, jobsSQL(w), append(w.args, DefaultLimit+1)...)
}
