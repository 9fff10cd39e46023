package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/event"
)

// Stored is an event with its place in the store.
type Stored struct {
	// Seq is its insertion order: for the projector, its order in the log.
	Seq int64
	// TimeNanos is its time in Unix nanoseconds as the store compares it
	// (the zero time is the smallest int64).
	TimeNanos int64
	Event     event.Event
}

// Scan calls fn with the stored events in batches of at most batch, in
// insertion (log) order, from one read snapshot: events stored while it runs
// are not seen. fn may keep the batch: each call gets a new slice. Scan
// stops at fn's first error, and returns it.
func (s *Store) Scan(ctx context.Context, batch int, fn func([]Stored) error) error {
	if batch <= 0 {
		batch = 1024
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("scan events: %w", err)
	}
	defer rows.Close()
	buf := make([]Stored, 0, batch)
	for rows.Next() {
		e, pos, err := scanEvent(rows)
		if err != nil {
			return fmt.Errorf("scan events: %w", err)
		}
		buf = append(buf, Stored{Seq: pos.seq, TimeNanos: pos.time, Event: e})
		if len(buf) == batch {
			if err := fn(buf); err != nil {
				return err
			}
			buf = make([]Stored, 0, batch)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan events: %w", err)
	}
	if len(buf) > 0 {
		return fn(buf)
	}
	return nil
}

// EventAt returns the event stored at seq, or an error wrapping
// ErrNotFound.
func (s *Store) EventAt(ctx context.Context, seq int64) (event.Event, error) {
	e, _, err := scanEvent(s.db.read.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE seq = ?`, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return event.Event{}, fmt.Errorf("get event at %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return event.Event{}, fmt.Errorf("get event at %d: %w", seq, err)
	}
	return e, nil
}

// CountEvents returns how many events are stored, and the largest seq.
func (s *Store) CountEvents(ctx context.Context) (n, maxSeq int64, err error) {
	err = s.db.read.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM events`).Scan(&n, &maxSeq)
	if err != nil {
		return 0, 0, fmt.Errorf("count events: %w", err)
	}
	return n, maxSeq, nil
}

// Firing is a rule that fired on a stored event: what the action jobs
// record.
type Firing struct {
	Rule    string
	EventID string
	Seq     int64
	// Actions are the types of the jobs the firing made, by action index.
	Actions []string
}

// Firings returns the firings the job queue records for the stored events
// whose time is in [since, until) (zero times for no bound), in event
// insertion order, then rule name.
func (s *Store) Firings(ctx context.Context, since, until time.Time) ([]Firing, error) {
	lo, hi := int64(zeroTimeNanos), int64(maxTimeNanos)
	if !since.IsZero() {
		lo = encodeTime(since)
	}
	if !until.IsZero() {
		hi = encodeTime(until)
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT j.rule, j.event_id, e.seq, j.action
		FROM jobs j JOIN events e ON e.id = j.event_id
		WHERE e.time_ns >= ? AND e.time_ns < ?
		ORDER BY e.seq, j.rule, j.idx`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("list firings: %w", err)
	}
	defer rows.Close()
	var out []Firing
	for rows.Next() {
		var (
			f      Firing
			action string
		)
		if err := rows.Scan(&f.Rule, &f.EventID, &f.Seq, &action); err != nil {
			return nil, fmt.Errorf("list firings: %w", err)
		}
		if n := len(out); n > 0 && out[n-1].Rule == f.Rule && out[n-1].EventID == f.EventID {
			out[n-1].Actions = append(out[n-1].Actions, action)
			continue
		}
		f.Actions = []string{action}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list firings: %w", err)
	}
	return out, nil
}
