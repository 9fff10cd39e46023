package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/event"
)

// DeleteBefore deletes up to limit of the oldest events whose time is
// before before, with their explanations, and up to limit quarantined
// bodies received before it, in one short write transaction, and returns
// how many rows it deleted. An event dated after now (a sender's clock
// ahead, a made-up time) that was received before before is deleted too,
// up to limit more: its time would keep it in the store after the log,
// which keeps a message no longer than retention.log (at least
// retention.events) from when it was appended, deleted it, and hookd
// rebuild, which stores again what the log holds, would then refuse to
// run. The same transaction takes the deleted events off the count tables
// (see counts.go), so Stats and Deliverability no longer count them
// either. The newest event and body are never deleted, so that seqs are
// never handed out twice. Call it in a loop with a small limit: the
// projector waits for each transaction. last and count no longer see the
// deleted events. Up to limit jobs done before before whose event is no
// longer stored go too, with their attempts and the targets left without a
// job (see deleteDoneJobs); the jobs still to run, and the dead letters,
// stay whatever their age.
func (s *Store) DeleteBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	at := encodeTime(before)
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, old := range []struct {
			where string
			args  []any
		}{
			{`time_ns < ?`, []any{at, limit}},
			// Few events are dated in the future: the range of
			// events_time after now is short.
			{`time_ns > ? AND received_ns < ?`, []any{encodeTime(time.Now()), at, limit}},
		} {
			oldest := `FROM events WHERE ` + old.where + ` AND seq < (SELECT MAX(seq) FROM events) ORDER BY time_ns, seq LIMIT ?`
			// What the count tables counted of the events about to go.
			// The transaction holds the store's write lock, so the
			// deletes below see the same rows.
			gone, _, err := countedEvents(ctx, tx, `SELECT `+countedColumns+`, seq `+oldest, old.args...)
			if err != nil {
				return fmt.Errorf("read the events to delete: %w", err)
			}
			if len(gone) == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM explanations WHERE seq IN (SELECT seq `+oldest+`)`, old.args...); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE seq IN (SELECT seq `+oldest+`)`, old.args...)
			if err != nil {
				return err
			}
			d, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if d != int64(len(gone)) {
				return fmt.Errorf("deleted %d events where %d were selected", d, len(gone))
			}
			n += d
			if err := s.subtractCounts(ctx, tx, gone); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM quarantine WHERE seq IN (SELECT seq FROM quarantine
			WHERE received_ns < ? AND seq < (SELECT MAX(seq) FROM quarantine) ORDER BY received_ns, seq LIMIT ?)`, at, limit)
		if err != nil {
			return err
		}
		d, err := res.RowsAffected()
		if err != nil {
			return err
		}
		n += d
		d, err = deleteDoneJobs(ctx, tx, at, limit)
		n += d
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete rows before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	return int(n), nil
}

// DeleteFiringsBefore deletes up to limit of the oldest firings of rules
// with a cooldown (see Tx.Cooldown) dated before before, and returns how
// many it deleted. A firing holds back the firings of its rule and key
// within the cooldown on either side of it, so the store needs it only
// while it holds an event that close to it, which a replay may evaluate
// again: hookd serve's retention calls it with the events' horizon less
// the longest cooldown of the running rules. Without it the firings grew
// by a row per rule and key for every cooldown that passed, for ever: a
// rule with once: email and cooldown: 24h added a row a day for each
// recipient it fired for.
func (s *Store) DeleteFiringsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM rule_firings WHERE (rule, key, event_id) IN
			(SELECT rule, key, event_id FROM rule_firings WHERE time_ns < ? ORDER BY time_ns LIMIT ?)`, encodeTime(before), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete rule firings before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	return int(n), nil
}

// deleteDoneJobs deletes, in tx, up to limit of the oldest jobs that were
// done before at (encoded) and whose event the store no longer holds, with
// their attempts, and the targets that they leave without a job and that
// are not suspended, and returns how many jobs it deleted. Each such job
// holds a copy of its event, so keeping it would keep the event retention
// deleted, and the queue would grow by a job for every action taken, for
// ever. Its idempotency key goes with it: nothing evaluates the event
// again, since replay reads the stored events, rebuild enqueues nothing,
// and a provider's retry is recognised by the log, which keeps a message
// at least as long as the store keeps its event. Jobs to run and dead
// letters stay, whatever their age: they are work left to do. The newest
// job and the newest target are never deleted, so that their ids, which
// the API takes, are never handed out twice.
func deleteDoneJobs(ctx context.Context, tx *sql.Tx, at int64, limit int) (int64, error) {
	old := `SELECT id FROM jobs WHERE status = ? AND updated_ns < ? AND id < (SELECT MAX(id) FROM jobs)
		AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = jobs.event_id) ORDER BY updated_ns, id LIMIT ?`
	args := []any{actions.Done, at, limit}
	// The targets first, while the jobs about to go still say which. No
	// job can be enqueued at one between the check and the delete: the
	// store's write transactions run one at a time, on PostgreSQL those
	// of every replica too (see dialect.lockWrites).
	if _, err := tx.ExecContext(ctx, `DELETE FROM targets WHERE suspended = 0 AND id < (SELECT MAX(id) FROM targets)
		AND target IN (SELECT target FROM jobs WHERE id IN (`+old+`))
		AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.target = targets.target AND j.id NOT IN (`+old+`))`,
		slices.Concat(args, args)...); err != nil {
		return 0, fmt.Errorf("delete the targets of done jobs: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM job_attempts WHERE job_id IN (`+old+`)`, args...); err != nil {
		return 0, fmt.Errorf("delete the attempts of done jobs: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id IN (`+old+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("delete done jobs: %w", err)
	}
	return res.RowsAffected()
}

// countedColumns are the columns of the events table that the count
// tables read.
const countedColumns = `type, source, time_ns, domain, provider, category, bounce_class, email, data`

// scanCounted scans a row of countedColumns, then of extra, into an event
// with the fields that the count tables read.
func scanCounted(r *sql.Rows, extra ...any) (event.Event, error) {
	var (
		e       event.Event
		t       int64
		cat, bc string
		data    string
	)
	dest := append([]any{&e.Type, &e.Source, &t, &e.Domain, &e.Provider, &cat, &bc, &e.Email, &data}, extra...)
	if err := r.Scan(dest...); err != nil {
		return event.Event{}, err
	}
	e.Time = decodeTime(t)
	e.Category, e.BounceClass = event.Category(cat), event.BounceClass(bc)
	e.Data = json.RawMessage(data)
	return e, nil
}

// countedEvents runs query, which selects the countedColumns and the seq
// of events, and returns those events with the fields that the count
// tables read, and their seqs.
func countedEvents(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]event.Event, []int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		events []event.Event
		seqs   []int64
	)
	for rows.Next() {
		var seq int64
		e, err := scanCounted(rows, &seq)
		if err != nil {
			return nil, nil, err
		}
		events, seqs = append(events, e), append(seqs, seq)
	}
	return events, seqs, rows.Err()
}
