package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hookd/hookd/actions"
)

// ReplayQuery selects the stored events Replay evaluates again.
type ReplayQuery struct {
	// Since and Until bound the events by time: Since included, Until
	// excluded; a zero Until is no bound.
	Since, Until time.Time
	// DryRun evaluates in one transaction that is rolled back: nothing is
	// written, and Replay returns the jobs it would have added.
	DryRun bool
	// Batch is how many events one transaction evaluates; default Batch.
	Batch int
}

// ReplayResult is what Replay did.
type ReplayResult struct {
	// Events is how many events were evaluated.
	Events int
	// Jobs are the jobs added to the queue (or, in a dry run, that would
	// have been), in order: those whose key was already there are not.
	Jobs []actions.Job
	// Moved are jobs not added because the event already has a job of the
	// same rule, action and target (whatever its parameters) under
	// another key, that no other job of the replay stands for: since the
	// event was evaluated, the rule's actions were reordered or one was
	// inserted before them (the key holds the index), or the rule's once
	// changed (the key holds the once key), and maybe a template was
	// edited too. Queuing them would repeat a side effect.
	Moved []actions.Job
	// Taken are jobs not added because their key belongs to a job of
	// another action or target, for the same reason: the action now at
	// that index does not run for the event. A job whose key belongs to a
	// job of the same action and target is the same job, whatever its
	// parameters now, and is in none of the lists.
	Taken []actions.Job
	// Failed are the rules that failed on events (an expression or a
	// template that does not work on the event's data), in the order of
	// their first failure: no job was made for those events, as when they
	// came in.
	Failed []RuleFailures
}

// RuleFailures are the failures of one rule on the events of a replay.
type RuleFailures struct {
	Rule string
	// Events is how many events it failed on; FirstEvent and FirstError
	// are the first of them, in log order, and its error.
	Events     int
	FirstEvent string
	FirstError string
}

// Replay evaluates the stored events in q's range again with ev, in the
// order they were stored, each as of itself exactly as the projector did
// (Tx answers as of the event), and keeps what ev enqueues. Since every job
// has an idempotency key, once keys and cooldown firings are recorded per
// event, and an event evaluated again finds its own records, replaying a
// range that was already evaluated with the same rules adds nothing;
// with a fixed rule it adds only the jobs of the firings the fix adds.
// Explanations are left as recorded when the events were first evaluated.
//
// Events are evaluated Batch at a time, one transaction each, so that a
// server writing to the same store waits for one batch at most; a dry run
// is one transaction, so that its decisions build on each other as a real
// run's would. Runners of this process are woken; others find the jobs
// at their next poll.
func (s *Store) Replay(ctx context.Context, q ReplayQuery, ev Evaluator) (ReplayResult, error) {
	var res ReplayResult
	if s.db.write == nil {
		return res, fmt.Errorf("replay: %w", errReadOnly)
	}
	if q.Batch <= 0 {
		q.Batch = Batch
	}
	lo, hi := encodeTime(q.Since), int64(maxTimeNanos)
	if !q.Until.IsZero() {
		hi = encodeTime(q.Until)
	}
	var after int64
	evaluate := func(tx *sql.Tx) (bool, error) {
		batch, err := s.replayBatch(ctx, after, lo, hi, q.Batch)
		if err != nil || len(batch) == 0 {
			return false, err
		}
		t := s.newTx(tx)
		t.record = true
		for _, b := range batch {
			t.at(b.Event.ID, b.Seq)
			if err := ev.Evaluate(ctx, t, b.Event); err != nil {
				return false, fmt.Errorf("evaluate event %s: %w", b.Event.ID, err)
			}
		}
		after = batch[len(batch)-1].Seq
		res.Events += len(batch)
		res.Jobs = append(res.Jobs, t.added...)
		res.Moved = append(res.Moved, t.moved...)
		res.Taken = append(res.Taken, t.taken...)
		res.Failed = addFailures(res.Failed, t.failed...)
		return len(batch) == q.Batch, nil
	}
	if q.DryRun {
		errDry := errors.New("dry run")
		err := s.write(ctx, func(tx *sql.Tx) error {
			for {
				more, err := evaluate(tx)
				if err != nil {
					return err
				}
				if !more {
					return errDry
				}
			}
		})
		if !errors.Is(err, errDry) {
			return ReplayResult{}, fmt.Errorf("replay: %w", err)
		}
		return res, nil
	}
	for more := true; more; {
		n := len(res.Jobs)
		err := s.write(ctx, func(tx *sql.Tx) error {
			var err error
			more, err = evaluate(tx)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("replay: %w", err)
		}
		if len(res.Jobs) > n {
			s.wakeRunners()
		}
	}
	return res, nil
}

// replayBatch reads the next limit events after seq with a time in
// [lo, hi), from the read pool: events are never updated, so what it reads
// is what the write transaction sees.
func (s *Store) replayBatch(ctx context.Context, after, lo, hi int64, limit int) ([]Stored, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE seq > ? AND time_ns >= ? AND time_ns < ? ORDER BY seq LIMIT ?`, after, lo, hi, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Stored
	for rows.Next() {
		e, pos, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, Stored{Seq: pos.seq, TimeNanos: pos.time, Event: e})
	}
	return out, rows.Err()
}

// addFailures adds failed to list and returns it: the failures of a rule
// already in list count to its, whose first failure stays the first.
func addFailures(list []RuleFailures, failed ...RuleFailures) []RuleFailures {
	for _, f := range failed {
		i := slices.IndexFunc(list, func(g RuleFailures) bool { return g.Rule == f.Rule })
		if i < 0 {
			list = append(list, f)
			continue
		}
		list[i].Events += f.Events
	}
	return list
}
