package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookd/hookd/actions"
)

// The store is the durable queue of the action runner: jobs are written by
// the projector's Evaluator in the transaction of the event that decided
// them (Tx.Enqueue), and claimed, completed and failed here.
var _ actions.Queue = (*Store)(nil)

// ErrNotHeld is returned by Succeed and Fail when the job is not Running
// under the caller's claim: another runner took it over after its lease
// expired, or it was never claimed.
var ErrNotHeld = errors.New("job not held by this owner")

// jobColumns are the columns scanJob reads, in its order.
const jobColumns = `id, key, rule, idx, action, target, params, retry, event_id, event, status, attempts,
	next_ns, last_error, created_ns, updated_ns`

func scanJob(r scanner) (actions.Job, error) {
	var (
		j                      actions.Job
		params, event          string
		next, created, updated int64
	)
	if err := r.Scan(&j.ID, &j.Key, &j.Rule, &j.Index, &j.Action, &j.Target, &params, &j.Retry, &j.EventID, &event,
		&j.Status, &j.Attempts, &next, &j.LastError, &created, &updated); err != nil {
		return actions.Job{}, err
	}
	j.Params = json.RawMessage(params)
	if event != "" {
		j.Event = json.RawMessage(event)
	}
	j.NextAt, j.Created, j.Updated = decodeTime(next), decodeTime(created), decodeTime(updated)
	return j, nil
}

// Claim implements actions.Queue: it marks as Running, for owner until
// now+lease, up to limit jobs, and returns them with Attempts counting
// this attempt. First come Running jobs whose lease expired (their runner
// died), oldest lease first; then, for each target that is not suspended
// and has no job Running (even one whose lease expired, which is claimed
// again first), its Pending job with the oldest NextAt not after now,
// targets in the order of those NextAt. So a target never has two jobs
// Running at once.
func (s *Store) Claim(ctx context.Context, owner string, now time.Time, limit int, lease time.Duration) ([]actions.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	// An idle queue, the usual case between bursts, costs a read rather
	// than a write transaction per poll.
	var busy bool
	err := s.db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE status IN (?, ?))`,
		actions.Pending, actions.Running).Scan(&busy)
	if err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	if !busy {
		return nil, nil
	}
	nowNS, until := encodeTime(now), encodeTime(now.Add(lease))
	var jobs []actions.Job
	err = s.write(ctx, func(tx *sql.Tx) error {
		ids, err := queryIDs(ctx, tx, `SELECT id FROM jobs WHERE status = ? AND lease_ns <= ?
			ORDER BY lease_ns, id LIMIT ?`, actions.Running, nowNS, limit)
		if err != nil {
			return err
		}
		// Each target's oldest due job, for targets with nothing running.
		rows, err := tx.QueryContext(ctx, `SELECT target FROM (
				SELECT t.target AS target,
					(SELECT MIN(j.next_ns) FROM jobs j WHERE j.target = t.target AND j.status = ?) AS due
				FROM targets t
				WHERE t.suspended = 0
				AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.target = t.target AND r.status = ?)
			) AS d
			WHERE due <= ? ORDER BY due, target LIMIT ?`,
			actions.Pending, actions.Running, nowNS, limit-len(ids))
		if err != nil {
			return err
		}
		var targets []string
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return err
			}
			targets = append(targets, t)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, t := range targets {
			var id int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE target = ? AND status = ?
				ORDER BY next_ns, id LIMIT 1`, t, actions.Pending).Scan(&id)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		// The condition is the claim's: in a database that lets another
		// runner claim meanwhile, the job is then left to it. Not UPDATE
		// ... RETURNING: SQLite would write a statement journal for it.
		for _, id := range ids {
			res, err := tx.ExecContext(ctx, `UPDATE jobs
				SET status = ?, lease_owner = ?, lease_ns = ?, attempts = attempts + 1, updated_ns = ?
				WHERE id = ? AND (status = ? OR (status = ? AND lease_ns <= ?))`,
				actions.Running, owner, until, nowNS, id, actions.Pending, actions.Running, nowNS)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				continue
			}
			j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	return jobs, nil
}

// queryIDs returns the ids a query selects.
func queryIDs(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Succeed implements actions.Queue: the job is Done, if owner holds its
// claim (else the error wraps ErrNotHeld), and the attempt is recorded
// with note.
func (s *Store) Succeed(ctx context.Context, id int64, owner string, took time.Duration, note string) error {
	now := time.Now()
	err := s.write(ctx, func(tx *sql.Tx) error {
		return finish(ctx, tx, id, owner, now, took, "", note, `status = ?`, actions.Done)
	})
	if err != nil {
		return fmt.Errorf("record job %d done: %w", id, err)
	}
	return nil
}

// Fail implements actions.Queue: if owner holds the job's claim (else the
// error wraps ErrNotHeld), the attempt is recorded with errText, and the
// job is Pending again, due at next, or, when dead, Dead, with its target
// suspended until ResumeTarget.
func (s *Store) Fail(ctx context.Context, id int64, owner string, took time.Duration, errText string, next time.Time, dead bool) error {
	now := time.Now()
	err := s.write(ctx, func(tx *sql.Tx) error {
		if !dead {
			return finish(ctx, tx, id, owner, now, took, errText, "", `status = ?, next_ns = ?, last_error = ?`,
				actions.Pending, encodeTime(next), errText)
		}
		if err := finish(ctx, tx, id, owner, now, took, errText, "", `status = ?, last_error = ?`, actions.Dead, errText); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE targets SET suspended = 1, suspended_ns = ?, reason = ?
			WHERE target = (SELECT target FROM jobs WHERE id = ?)`,
			encodeTime(now), fmt.Sprintf("job %d is dead: %s", id, errText), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("record job %d failed: %w", id, err)
	}
	return nil
}

// finish ends owner's claim on job id with set (an SQL assignment list and
// its args) and records the attempt with its error text or note.
func finish(ctx context.Context, tx *sql.Tx, id int64, owner string, now time.Time, took time.Duration, errText, note, set string, args ...any) error {
	var attempt int
	err := tx.QueryRowContext(ctx, `SELECT attempts FROM jobs WHERE id = ? AND status = ? AND lease_owner = ?`,
		id, actions.Running, owner).Scan(&attempt)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotHeld
	}
	if err != nil {
		return err
	}
	args = append(args, encodeTime(now), id)
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET `+set+`, lease_owner = '', lease_ns = 0, updated_ns = ?
		WHERE id = ?`, args...); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO job_attempts (job_id, attempt, started_ns, took_ns, error, note)
		VALUES (?, ?, ?, ?, ?, ?)`, id, attempt, encodeTime(now.Add(-took)), int64(took), errText, note)
	return err
}

// Wake implements actions.Queue: the channel receives after a commit that
// enqueued jobs, and after ResumeTarget and RetryDeadLetter. It has a
// buffer of one, so a signal is kept until received, and signals coming
// meanwhile merge with it. All callers share one channel.
func (s *Store) Wake() <-chan struct{} { return s.wake }

// wakeRunners signals Wake's channel.
func (s *Store) wakeRunners() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Attempt is one attempt at a job, as recorded.
type Attempt struct {
	// Attempt counts the job's attempts from 1; RetryDeadLetter starts the
	// count over.
	Attempt int `json:"attempt"`
	// Started is when the attempt began, and Took how long it ran.
	Started time.Time     `json:"started"`
	Took    time.Duration `json:"took_ns"`
	// Error is why it failed; empty when it succeeded.
	Error string `json:"error,omitempty"`
	// Note says how a successful attempt ended when the action chose not
	// to act, e.g. "skipped: recipient a@example.com is suppressed".
	Note string `json:"note,omitempty"`
}

// JobRecord is a job with its attempts.
type JobRecord struct {
	actions.Job
	// History lists the attempts recorded, oldest first. A job's Attempts
	// counts one more while an attempt runs.
	History []Attempt `json:"history"`
}

// JobPage is one page of jobs.
type JobPage struct {
	Jobs []JobRecord `json:"jobs"`
	// Next is the cursor of the following page, empty on the last page.
	Next string `json:"next,omitempty"`
}

// JobQuery selects jobs. Empty fields do not filter.
type JobQuery struct {
	// EventID is the id of the event that fired the rule.
	EventID string
	// Rule is the rule's name.
	Rule string
	// Status is actions.Pending, Running, Done or Dead.
	Status string
	// Target is the exact target.
	Target string
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit.
	Limit int
	// Cursor is the Next of the previous page, or empty for the first.
	Cursor string
}

// Cursor kinds of the job listings.
const (
	cursorJobs        byte = 'j'
	cursorDeadLetters byte = 'd'
)

// Jobs returns one page of the jobs q selects with their attempts, newest
// (highest ID) first. Invalid parameters give an error wrapping a
// *QueryError.
func (s *Store) Jobs(ctx context.Context, q JobQuery) (JobPage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return JobPage{}, fmt.Errorf("list jobs: %w", err)
	}
	var w where
	if q.EventID != "" {
		w.add("event_id = ?", q.EventID)
	}
	if q.Rule != "" {
		w.add("rule = ?", q.Rule)
	}
	if q.Target != "" {
		w.add("target = ?", q.Target)
	}
	switch q.Status {
	case "":
	case actions.Pending, actions.Running, actions.Done, actions.Dead:
		w.add("status = ?", q.Status)
	default:
		return JobPage{}, fmt.Errorf("list jobs: %w", invalid("status", "%q is not one of %s, %s, %s, %s",
			q.Status, actions.Pending, actions.Running, actions.Done, actions.Dead))
	}
	if q.Cursor != "" {
		c, err := decodeCursor(cursorJobs, q.Cursor)
		if err != nil {
			return JobPage{}, fmt.Errorf("list jobs: %w", err)
		}
		w.add("id < ?", c.seq)
	}
	page, err := s.jobPage(ctx, `SELECT `+jobColumns+` FROM jobs`+w.sql()+` ORDER BY id DESC LIMIT ?`,
		append(w.args, limit+1), limit, func(j actions.Job) string {
			return encodeCursor(cursorJobs, position{seq: j.ID})
		})
	if err != nil {
		return JobPage{}, fmt.Errorf("list jobs: %w", err)
	}
	return page, nil
}

// DeadLetters returns one page of the dead jobs with their attempts, the
// most recently dead first: limit jobs (DefaultLimit when 0, at most
// MaxLimit) after cursor, the Next of the previous page or empty for the
// first. Invalid parameters give an error wrapping a *QueryError.
func (s *Store) DeadLetters(ctx context.Context, limit int, cursor string) (JobPage, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return JobPage{}, fmt.Errorf("list dead letters: %w", err)
	}
	var w where
	w.add("status = ?", actions.Dead)
	if cursor != "" {
		c, err := decodeCursor(cursorDeadLetters, cursor)
		if err != nil {
			return JobPage{}, fmt.Errorf("list dead letters: %w", err)
		}
		w.add("(updated_ns < ? OR (updated_ns = ? AND id < ?))", c.time, c.time, c.seq)
	}
	page, err := s.jobPage(ctx, `SELECT `+jobColumns+` FROM jobs`+w.sql()+` ORDER BY updated_ns DESC, id DESC LIMIT ?`,
		append(w.args, limit+1), limit, func(j actions.Job) string {
			return encodeCursor(cursorDeadLetters, position{time: encodeTime(j.Updated), seq: j.ID})
		})
	if err != nil {
		return JobPage{}, fmt.Errorf("list dead letters: %w", err)
	}
	return page, nil
}

// jobPage runs a listing query that asks for limit+1 jobs, and returns
// the first limit with their attempts and, when there are more, the cursor
// after the last, made by next.
func (s *Store) jobPage(ctx context.Context, query string, args []any, limit int, next func(actions.Job) string) (JobPage, error) {
	rows, err := s.db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return JobPage{}, err
	}
	defer rows.Close()
	page := JobPage{Jobs: make([]JobRecord, 0, min(limit, 64))}
	for rows.Next() {
		if len(page.Jobs) == limit {
			page.Next = next(page.Jobs[limit-1].Job)
			break
		}
		j, err := scanJob(rows)
		if err != nil {
			return JobPage{}, err
		}
		page.Jobs = append(page.Jobs, JobRecord{Job: j, History: []Attempt{}})
	}
	if err := rows.Err(); err != nil {
		return JobPage{}, err
	}
	rows.Close()
	if err := s.history(ctx, page.Jobs); err != nil {
		return JobPage{}, err
	}
	return page, nil
}

// history fills in the attempts of jobs.
func (s *Store) history(ctx context.Context, jobs []JobRecord) error {
	if len(jobs) == 0 {
		return nil
	}
	byID := make(map[int64]*JobRecord, len(jobs))
	args := make([]any, len(jobs))
	for i := range jobs {
		byID[jobs[i].ID] = &jobs[i]
		args[i] = jobs[i].ID
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT job_id, attempt, started_ns, took_ns, error, note FROM job_attempts
		WHERE job_id IN (?`+strings.Repeat(", ?", len(jobs)-1)+`) ORDER BY job_id, id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id        int64
			a         Attempt
			start, ns int64
		)
		if err := rows.Scan(&id, &a.Attempt, &start, &ns, &a.Error, &a.Note); err != nil {
			return err
		}
		a.Started, a.Took = decodeTime(start), time.Duration(ns)
		j := byID[id]
		j.History = append(j.History, a)
	}
	return rows.Err()
}

// Job returns the job with the given id and its attempts, or an error
// wrapping ErrNotFound.
func (s *Store) Job(ctx context.Context, id int64) (JobRecord, error) {
	j, err := scanJob(s.db.read.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return JobRecord{}, fmt.Errorf("get job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return JobRecord{}, fmt.Errorf("get job %d: %w", id, err)
	}
	rec := []JobRecord{{Job: j, History: []Attempt{}}}
	if err := s.history(ctx, rec); err != nil {
		return JobRecord{}, fmt.Errorf("get job %d: %w", id, err)
	}
	return rec[0], nil
}

// RetryDeadLetter makes the dead job id Pending again, due now, with its
// attempts counted from zero and its retry policy starting over, and wakes
// the runners. It does not resume the job's target: while the target is
// suspended the job waits like the target's others. It returns an error
// wrapping ErrNotFound when there is no dead job id.
func (s *Store) RetryDeadLetter(ctx context.Context, id int64) error {
	now := encodeTime(time.Now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, attempts = 0, next_ns = ?, updated_ns = ?
			WHERE id = ? AND status = ?`, actions.Pending, now, now, id, actions.Dead)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("no dead job %d: %w", id, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("retry dead letter %d: %w", id, err)
	}
	s.wakeRunners()
	return nil
}

// Target is what action jobs act on, with the state of its jobs.
type Target struct {
	// ID identifies the target in ResumeTarget.
	ID int64 `json:"id"`
	// Name is the action kind's Target, such as "http POST https://...".
	Name string `json:"name"`
	// Suspended tells that a job of the target is dead: its other jobs
	// wait until ResumeTarget. SuspendedAt is when, Reason why.
	Suspended   bool      `json:"suspended"`
	SuspendedAt time.Time `json:"suspended_at,omitzero"`
	Reason      string    `json:"reason,omitempty"`
	// Pending, Running and Dead count its jobs in each state.
	Pending int `json:"pending"`
	Running int `json:"running"`
	Dead    int `json:"dead"`
}

// Targets returns every target jobs were enqueued for, by name.
func (s *Store) Targets(ctx context.Context) ([]Target, error) {
	count := func(status string) string {
		return `(SELECT COUNT(*) FROM jobs j WHERE j.target = t.target AND j.status = '` + status + `')`
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT t.id, t.target, t.suspended, t.suspended_ns, t.reason, `+
		count(actions.Pending)+`, `+count(actions.Running)+`, `+count(actions.Dead)+`
		FROM targets t ORDER BY t.target`)
	if err != nil {
		return nil, fmt.Errorf("list targets: %w", err)
	}
	defer rows.Close()
	targets := []Target{}
	for rows.Next() {
		var (
			t         Target
			suspended int
			at        int64
		)
		if err := rows.Scan(&t.ID, &t.Name, &suspended, &at, &t.Reason, &t.Pending, &t.Running, &t.Dead); err != nil {
			return nil, fmt.Errorf("list targets: %w", err)
		}
		if t.Suspended = suspended != 0; t.Suspended {
			t.SuspendedAt = decodeTime(at)
		}
		targets = append(targets, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list targets: %w", err)
	}
	return targets, nil
}

// ResumeTarget lifts the suspension of target id, so that its waiting jobs
// run, and wakes the runners. Its dead jobs stay dead (see
// RetryDeadLetter). Resuming a target that is not suspended does nothing;
// an unknown id gives an error wrapping ErrNotFound.
func (s *Store) ResumeTarget(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE targets SET suspended = 0, suspended_ns = 0, reason = '' WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("no target %d: %w", id, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("resume target %d: %w", id, err)
	}
	s.wakeRunners()
	return nil
}

// ReleaseClaims makes the jobs that owner holds Pending again and due now,
// and returns how many there were. A runner calls it once at start, before
// it claims anything, with the owner name it had before a crash: the jobs
// that were in flight when that process died then run again at once
// instead of after their lease expires. Never call it for an owner that may
// still be running.
func (s *Store) ReleaseClaims(ctx context.Context, owner string) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := encodeTime(time.Now())
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, next_ns = ?, lease_owner = '', lease_ns = 0, updated_ns = ?
			WHERE status = ? AND lease_owner = ?`, actions.Pending, now, now, actions.Running, owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("release claims of %s: %w", owner, err)
	}
	if n > 0 {
		s.wakeRunners()
	}
	return int(n), nil
}
