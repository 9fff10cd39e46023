package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hookd/hookd/event"
)

// Insert stores events that are not in the store yet, in one transaction,
// and skips those whose ID is already there: inserting the same event twice
// is harmless, which is what makes redelivery and replay safe. Email is stored
// lower-cased. A Mailjet event without a category, from a log written
// before events had one, is stored with the category and bounce class the
// mailjet adapter gives it now (see countedAs). Every event must have an
// ID.
func (s *Store) Insert(ctx context.Context, events ...event.Event) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		if events[i].ID == "" {
			return fmt.Errorf("insert events: event %d has no id", i)
		}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := s.insertEvents(ctx, tx, events)
		return err
	})
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	return nil
}

// insertEvents inserts events in tx, skipping those already stored, and
// returns the seq of each event it inserted, 0 for those it skipped.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, events []event.Event) ([]int64, error) {
	if len(events) == 0 {
		return nil, nil
	}
	seqs := make([]int64, len(events))
	query := insertEventSQL
	if s.db.dialect.returning {
		query = insertEventReturningSQL
	}
	insert, err := s.stmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	for i, e := range events {
		data := string(e.Data)
		if len(data) == 0 {
			data = "null"
		}
		cat, class := countedAs(&e)
		args := []any{e.ID, e.Source, e.Provider, e.Type,
			encodeTime(e.Time), encodeTime(e.Received), strings.ToLower(e.Email), strings.ToLower(e.Domain),
			e.MessageID, e.Campaign, data, string(cat), string(class)}
		if s.db.dialect.returning {
			err = insert.QueryRowContext(ctx, args...).Scan(&seqs[i])
			if errors.Is(err, sql.ErrNoRows) {
				err = nil // already stored: seq 0
			}
		} else {
			var res sql.Result
			if res, err = insert.ExecContext(ctx, args...); err == nil {
				seqs[i], err = insertedSeq(res)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", e.ID, err)
		}
	}
	if err := s.addCounts(ctx, tx, events, seqs); err != nil {
		return nil, err
	}
	return seqs, nil
}

// InsertQuarantined stores quarantined bodies like Insert stores events:
// in one transaction, skipping IDs already there. Every item must have an ID.
func (s *Store) InsertQuarantined(ctx context.Context, items ...event.Quarantined) error {
	if len(items) == 0 {
		return nil
	}
	for i := range items {
		if items[i].ID == "" {
			return fmt.Errorf("insert quarantined: item %d has no id", i)
		}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := s.insertQuarantined(ctx, tx, items)
		return err
	})
	if err != nil {
		return fmt.Errorf("insert quarantined: %w", err)
	}
	return nil
}

// insertQuarantined inserts items in tx, skipping those already stored,
// and returns how many it inserted.
func (s *Store) insertQuarantined(ctx context.Context, tx *sql.Tx, items []event.Quarantined) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	stmt, err := s.stmt(ctx, tx, insertQuarantinedSQL)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, q := range items {
		body := q.Body
		if body == nil {
			body = []byte{}
		}
		res, err := stmt.ExecContext(ctx, q.ID, q.Source, encodeTime(q.Received), q.Error, q.ContentType, body)
		if err != nil {
			return n, fmt.Errorf("item %s: %w", q.ID, err)
		}
		if k, err := res.RowsAffected(); err == nil {
			n += int(k)
		}
	}
	return n, nil
}

// The projector's inserts. PostgreSQL reports the seq it gave with
// RETURNING; SQLite reads it from the result instead (see insertedSeq).
var (
	insertEventSQL = writeSQL(`INSERT INTO events
		(id, source, provider, type, time_ns, received_ns, email, domain, message_id, campaign, data, category, bounce_class)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`)
	insertEventReturningSQL = writeSQL(insertEventSQL + ` RETURNING seq`)
	insertQuarantinedSQL    = writeSQL(`INSERT INTO quarantine
		(id, source, received_ns, error, content_type, body)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`)
)

// write runs fn in a transaction on the writer connection, one at a time.
// It returns ctx's error, having run nothing, when ctx ends while it waits
// for the transaction before it.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.db.write == nil {
		return errReadOnly
	}
	// A request of the admin API waits here within its query timeout:
	// the projector may hold the writer for a large batch.
	if err := s.wmu.lock(ctx); err != nil {
		return fmt.Errorf("wait for the store's writer: %w", err)
	}
	defer s.wmu.Unlock()
	tx, err := s.db.dialect.begin(ctx, s.db.write)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if s.db.ckpt != nil {
		s.db.ckpt.Kick()
	}
	return nil
}

// Times are stored as unix nanoseconds, which int64 holds from 1677 to
// 2262. The zero time (a provider that sent none) is kept as the smallest
// value, so it reads back as the zero time and sorts first; other times
// outside the range are clamped to it.
const (
	zeroTimeNanos = math.MinInt64
	minTimeNanos  = math.MinInt64 + 1
	maxTimeNanos  = math.MaxInt64
)

var (
	minTime = time.Unix(0, minTimeNanos)
	maxTime = time.Unix(0, maxTimeNanos)
)

func encodeTime(t time.Time) int64 {
	switch {
	case t.IsZero():
		return zeroTimeNanos
	case t.Before(minTime):
		return minTimeNanos
	case t.After(maxTime):
		return maxTimeNanos
	}
	return t.UnixNano()
}

func decodeTime(ns int64) time.Time {
	if ns == zeroTimeNanos {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// writeLock is the store's writer, held by one write transaction at a time
// and handed on in the order they asked. Unlike a sync.Mutex, a wait for it
// ends with the waiter's context; Lock and Unlock make it the sync.Locker
// that the WAL checkpointer takes.
type writeLock chan struct{}

// lock takes l, or returns ctx's error when ctx ends first.
func (l writeLock) lock(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Lock takes l, waiting as long as it takes.
func (l writeLock) Lock() { l <- struct{}{} }

// Unlock lets l go; it must be held.
func (l writeLock) Unlock() { <-l }
