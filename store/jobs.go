package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookd/hookd/actions"
)

// The store is the durable queue of the action runner: jobs are written by
// the projector's Evaluator in the transaction of the event that decided
// them (Tx.Enqueue), and claimed, completed and failed here.
var _ actions.Queue = (*Store)(nil)

// ErrNotHeld is actions.ErrNotHeld, which the errors of Finish and Renew
// wrap for jobs not Running under the caller's claim.
var ErrNotHeld = actions.ErrNotHeld

// jobColumns are the columns scanJob reads, in its order.
const jobColumns = `id, key, rule, idx, action, target, params, retry, event_id, event, status, attempts,
	retried_after, next_ns, last_error, created_ns, updated_ns`

func scanJob(r scanner) (actions.Job, error) {
	var (
		j                      actions.Job
		params, event          string
		next, created, updated int64
	)
	if err := r.Scan(&j.ID, &j.Key, &j.Rule, &j.Index, &j.Action, &j.Target, &params, &j.Retry, &j.EventID, &event,
		&j.Status, &j.Attempts, &j.RetriedAfter, &next, &j.LastError, &created, &updated); err != nil {
		return actions.Job{}, err
	}
	j.Params = json.RawMessage(params)
	if event != "" {
		j.Event = json.RawMessage(event)
	}
	j.NextAt, j.Created, j.Updated = decodeTime(next), decodeTime(created), decodeTime(updated)
	return j, nil
}

// queuedSQL tells whether any job is Pending or Running.
const queuedSQL = `SELECT EXISTS (SELECT 1 FROM jobs WHERE status IN (?, ?))`

// The job queue's statements.
var (
	// Running jobs whose lease expired, other than the claimer's own,
	// their targets' in order, oldest lease first, with the owner of the
	// lease.
	expiredJobsSQL = writeSQL(`SELECT ` + jobColumns + `, lease_owner FROM jobs WHERE status = ? AND lease_ns <= ?
		AND lease_owner <> ? ORDER BY lease_ns, next_ns, id`)
	// Targets that are not suspended, have no job Running and have a due
	// Pending one, oldest due first; unless the third parameter is empty,
	// not those whose jobs are of the action it names (a target's jobs
	// are all of one action: its first Pending job tells which).
	dueTargetsSQL = writeSQL(`SELECT target FROM (
			SELECT t.target AS target,
				(SELECT MIN(j.next_ns) FROM jobs j WHERE j.target = t.target AND j.status = ?) AS due
			FROM targets t
			WHERE t.suspended = 0
			AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.target = t.target AND r.status = ?)
			AND (? = '' OR (SELECT k.action FROM jobs k WHERE k.target = t.target AND k.status = ? LIMIT 1) <> ?)
		) AS d
		WHERE due <= ? ORDER BY due, target LIMIT ?`)
	// One target's due jobs, in the order they run.
	dueJobsSQL = writeSQL(`SELECT ` + jobColumns + ` FROM jobs WHERE target = ? AND status = ? AND next_ns <= ?
		ORDER BY next_ns, id LIMIT ?`)
	// The condition is the claim's: in a database that lets another runner
	// claim meanwhile, the job is then left to it. Not UPDATE ...
	// RETURNING: SQLite would write a statement journal for it.
	claimJobSQL = writeSQL(`UPDATE jobs
		SET status = ?, lease_owner = ?, lease_ns = ?, attempts = attempts + 1, updated_ns = ?
		WHERE id = ? AND (status = ? OR (status = ? AND lease_ns <= ?))`)
	// A renewal moves the lease of a job its owner holds, and nothing else:
	// not updated_ns, which the index jobs_status holds.
	renewJobSQL = writeSQL(`UPDATE jobs SET lease_ns = ? WHERE id = ? AND status = ? AND lease_owner = ?`)
	// Outcomes: each ends the claim of its owner, which the condition checks.
	unrunJobSQL = writeSQL(`UPDATE jobs SET status = ?, attempts = attempts - 1,
		lease_owner = '', lease_ns = 0, updated_ns = ?
		WHERE id = ? AND status = ? AND lease_owner = ?`)
	// A job done has no last error: the errors of its failed attempts
	// stay in its history.
	doneJobSQL = writeSQL(`UPDATE jobs SET status = ?, last_error = '', lease_owner = '', lease_ns = 0, updated_ns = ?
		WHERE id = ? AND status = ? AND lease_owner = ?`)
	failJobSQL = writeSQL(`UPDATE jobs SET status = ?, next_ns = ?, last_error = ?,
		lease_owner = '', lease_ns = 0, updated_ns = ?
		WHERE id = ? AND status = ? AND lease_owner = ?`)
	deadJobSQL = writeSQL(`UPDATE jobs SET status = ?, last_error = ?,
		lease_owner = '', lease_ns = 0, updated_ns = ?
		WHERE id = ? AND status = ? AND lease_owner = ?`)
	insertAttemptSQL = writeSQL(`INSERT INTO job_attempts (job_id, attempt, started_ns, took_ns, error, note)
		VALUES (?, ?, ?, ?, ?, ?)`)
	suspendTargetSQL = writeSQL(`UPDATE targets SET suspended = 1, suspended_ns = ?, reason = ?
		WHERE target = (SELECT target FROM jobs WHERE id = ?)`)
	// holdTargetSQL puts off the pending jobs of a job's target due
	// before a time to that time (actions.Outcome.Hold).
	holdTargetSQL = writeSQL(`UPDATE jobs SET next_ns = ?
		WHERE target = (SELECT target FROM jobs WHERE id = ?) AND status = ? AND next_ns < ?`)
)

// Claim implements actions.Queue: it marks as Running, for owner until
// now+lease, the due jobs of up to targets targets, up to batch jobs of
// each, and returns them grouped by target, in the order they are to run,
// with Attempts counting this attempt. First come the jobs of targets
// whose Running jobs' lease expired (their runner died), which are claimed
// again, oldest lease first, with LapsedOwner naming the owner whose lease
// lapsed and their lapsed attempt recorded in their history as
// interrupted, its outcome unknown (its runner may have acted before it
// was lost); those of owner itself are not: it is alive, and runs them or
// records their outcomes once the store is back (see actions.Queue).
// Then, for each target that is not suspended and has no job Running, its
// Pending jobs with NextAt not after now, oldest first, targets in the
// order of their oldest such job, but those of the action except when it
// is not empty (the jobs of one target are all of one action). So a
// target's jobs never run in two batches at once.
func (s *Store) Claim(ctx context.Context, owner string, now time.Time, targets, batch int, lease time.Duration, except string) ([]actions.Job, error) {
	if targets <= 0 || batch <= 0 {
		return nil, nil
	}
	if s.queued == nil {
		return nil, fmt.Errorf("claim jobs: %w", errReadOnly)
	}
	// An idle queue, the usual case between bursts, costs a read rather
	// than a write transaction per poll.
	var busy bool
	err := s.queued.QueryRowContext(ctx, actions.Pending, actions.Running).Scan(&busy)
	if err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	if !busy {
		return nil, nil
	}
	nowNS, until := encodeTime(now), encodeTime(now.Add(lease))
	var jobs []actions.Job
	err = s.write(ctx, func(tx *sql.Tx) error {
		jobs = jobs[:0]
		expired, err := s.expiredJobs(ctx, tx, owner, nowNS)
		if err != nil {
			return err
		}
		// Grouped by target, in the order of each target's first.
		var order []string
		byTarget := map[string][]actions.Job{}
		for _, j := range expired {
			if _, ok := byTarget[j.Target]; !ok {
				if len(order) == targets {
					continue
				}
				order = append(order, j.Target)
			}
			if len(byTarget[j.Target]) < batch {
				byTarget[j.Target] = append(byTarget[j.Target], j)
			}
		}
		if len(order) < targets {
			due, err := s.stmt(ctx, tx, dueTargetsSQL)
			if err != nil {
				return err
			}
			rows, err := due.QueryContext(ctx, actions.Pending, actions.Running, except, actions.Pending, except, nowNS, targets-len(order))
			if err != nil {
				return err
			}
			var names []string
			for rows.Next() {
				var t string
				if err := rows.Scan(&t); err != nil {
					rows.Close()
					return err
				}
				names = append(names, t)
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
			for _, t := range names {
				js, err := s.queryJobs(ctx, tx, dueJobsSQL, t, actions.Pending, nowNS, batch)
				if err != nil {
					return err
				}
				order = append(order, t)
				byTarget[t] = js
			}
		}
		claim, err := s.stmt(ctx, tx, claimJobSQL)
		if err != nil {
			return err
		}
		for _, t := range order {
			for _, j := range byTarget[t] {
				res, err := claim.ExecContext(ctx, actions.Running, owner, until, nowNS,
					j.ID, actions.Pending, actions.Running, nowNS)
				if err != nil {
					return err
				}
				if n, err := res.RowsAffected(); err != nil {
					return err
				} else if n == 0 {
					continue
				}
				if j.LapsedOwner != "" {
					if err := s.interrupted(ctx, tx, j.ID, j.Attempts, encodeTime(j.Updated),
						fmt.Sprintf("interrupted: the claim of runner %s lapsed (it died, hung or lost the queue for a whole lease); the outcome of this attempt is unknown", j.LapsedOwner)); err != nil {
						return err
					}
				}
				j.Status, j.Attempts, j.Updated = actions.Running, j.Attempts+1, decodeTime(nowNS)
				jobs = append(jobs, j)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	return jobs, nil
}

// interrupted records, in tx, attempt of job id, which started at started
// (unix ns) and whose runner was lost before it recorded its outcome, with
// why as its error. Its Took is zero: nobody saw it end.
func (s *Store) interrupted(ctx context.Context, tx *sql.Tx, id int64, attempt int, started int64, why string) error {
	st, err := s.stmt(ctx, tx, insertAttemptSQL)
	if err != nil {
		return err
	}
	if _, err := st.ExecContext(ctx, id, attempt, started, 0, why, ""); err != nil {
		return fmt.Errorf("job %d: record interrupted attempt %d: %w", id, attempt, err)
	}
	return nil
}

// queryJobs returns the jobs a registered query selects in tx.
func (s *Store) queryJobs(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]actions.Job, error) {
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var jobs []actions.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// expiredJobs returns the jobs Running under a lease expired at now, but
// those of owner, as expiredJobsSQL orders them, each with LapsedOwner set.
func (s *Store) expiredJobs(ctx context.Context, tx *sql.Tx, owner string, now int64) ([]actions.Job, error) {
	st, err := s.stmt(ctx, tx, expiredJobsSQL)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, actions.Running, now, owner)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var jobs []actions.Job
	for rows.Next() {
		var owner string
		j, err := scanJob(ownerRow{rows, &owner})
		if err != nil {
			return nil, err
		}
		j.LapsedOwner = owner
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// ownerRow reads a row of jobColumns followed by lease_owner, which it
// puts in owner.
type ownerRow struct {
	scanner
	owner *string
}

func (r ownerRow) Scan(dest ...any) error { return r.scanner.Scan(append(dest, r.owner)...) }

// Renew implements actions.Queue: in one transaction, it moves to
// now+lease the lease of each job of ids that owner holds (Running under
// its claim, whether or not the lease expired), and nothing else. Jobs
// owner does not hold are left alone, and the error then wraps ErrNotHeld
// and names them.
func (s *Store) Renew(ctx context.Context, owner string, ids []int64, now time.Time, lease time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	until := encodeTime(now.Add(lease))
	var notHeld []int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		notHeld = notHeld[:0]
		st, err := s.stmt(ctx, tx, renewJobSQL)
		if err != nil {
			return err
		}
		for _, id := range ids {
			res, err := st.ExecContext(ctx, until, id, actions.Running, owner)
			if err != nil {
				return fmt.Errorf("job %d: %w", id, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("job %d: %w", id, err)
			} else if n == 0 {
				notHeld = append(notHeld, id)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("renew job claims: %w", err)
	}
	if len(notHeld) > 0 {
		return fmt.Errorf("renew job claims: jobs %v: %w", notHeld, ErrNotHeld)
	}
	return nil
}

// Finish implements actions.Queue: in one transaction, for each outcome of
// a job owner holds, the job becomes Done, Pending again (due at Next), or
// Dead with its target suspended until ResumeTarget (unless the outcome is
// Refused: its target's other jobs run on), and the attempt is
// recorded; an Unrun job is Pending again as it was, its attempt uncounted.
// Then the target of each Pending outcome with a Hold has its Pending jobs
// due before the Hold put off to it (its answer's Retry-After). Outcomes
// of jobs owner does not hold are left out, and the error wraps
// ErrNotHeld.
func (s *Store) Finish(ctx context.Context, owner string, outcomes []actions.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	now := time.Now()
	nowNS := encodeTime(now)
	var notHeld []int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		notHeld = notHeld[:0]
		for _, o := range outcomes {
			var (
				query string
				args  []any
			)
			switch {
			case o.Unrun:
				query, args = unrunJobSQL, []any{actions.Pending, nowNS}
			case o.Status == actions.Done:
				query, args = doneJobSQL, []any{actions.Done, nowNS}
			case o.Status == actions.Pending:
				query, args = failJobSQL, []any{actions.Pending, encodeTime(o.Next), o.Error, nowNS}
			case o.Status == actions.Dead:
				query, args = deadJobSQL, []any{actions.Dead, o.Error, nowNS}
			default:
				return fmt.Errorf("job %d: outcome status %q is not one of %s, %s, %s", o.ID, o.Status,
					actions.Done, actions.Pending, actions.Dead)
			}
			st, err := s.stmt(ctx, tx, query)
			if err != nil {
				return err
			}
			res, err := st.ExecContext(ctx, append(args, o.ID, actions.Running, owner)...)
			if err != nil {
				return fmt.Errorf("job %d: %w", o.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("job %d: %w", o.ID, err)
			} else if n == 0 {
				notHeld = append(notHeld, o.ID)
				continue
			}
			if o.Unrun {
				continue
			}
			if st, err = s.stmt(ctx, tx, insertAttemptSQL); err == nil {
				_, err = st.ExecContext(ctx, o.ID, o.Attempt, encodeTime(now.Add(-o.Took)), int64(o.Took), o.Error, o.Note)
			}
			if err == nil && o.Status == actions.Dead && !o.Refused {
				if st, err = s.stmt(ctx, tx, suspendTargetSQL); err == nil {
					_, err = st.ExecContext(ctx, nowNS, fmt.Sprintf("job %d is dead: %s", o.ID, o.Error), o.ID)
				}
			}
			if err != nil {
				return fmt.Errorf("job %d: %w", o.ID, err)
			}
		}
		// After every outcome, so that the jobs of the batch left unrun
		// are pending again and put off too.
		for _, o := range outcomes {
			if o.Unrun || o.Status != actions.Pending || o.Hold.IsZero() || slices.Contains(notHeld, o.ID) {
				continue
			}
			st, err := s.stmt(ctx, tx, holdTargetSQL)
			if err == nil {
				hold := encodeTime(o.Hold)
				_, err = st.ExecContext(ctx, hold, o.ID, actions.Pending, hold)
			}
			if err != nil {
				return fmt.Errorf("job %d: hold its target: %w", o.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record job outcomes: %w", err)
	}
	if len(notHeld) > 0 {
		return fmt.Errorf("record job outcomes: jobs %v: %w", notHeld, ErrNotHeld)
	}
	return nil
}

// Wake implements actions.Queue: the channel receives after a commit that
// enqueued jobs, and after targets were resumed or dead letters retried. It has a
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
	// Attempt counts the job's attempts from 1, on across RetryDeadLetter:
	// a job dead after 21 attempts and retried has its 22nd next.
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

// JobPage is one page of jobs: at most its query's limit, and fewer when
// their events would pass PageBytes (see Jobs).
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
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit. A
	// page of jobs with large events holds fewer (see Jobs).
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
// (highest ID) first: at most q.Limit jobs, and fewer when their Event and
// Params would pass PageBytes. Since every job holds the whole JSON of its
// event, data included, the page ends before the job that would take its
// total past PageBytes, though it always holds one job, however large;
// Next continues right after the last job returned, so following the
// cursors lists every job once. Invalid parameters give an error wrapping
// a *QueryError.
func (s *Store) Jobs(ctx context.Context, q JobQuery) (JobPage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return JobPage{}, fmt.Errorf("list jobs: %w", err)
	}
	w, err := jobFilter(q)
	if err != nil {
		return JobPage{}, fmt.Errorf("list jobs: %w", err)
	}
	page, err := s.jobPage(ctx, jobsSQL(w),
		append(w.args, limit+1), limit, func(j actions.Job) string {
			return encodeCursor(cursorJobs, position{seq: j.ID})
		})
	if err != nil {
		return JobPage{}, fmt.Errorf("list jobs: %w", err)
	}
	return page, nil
}

// jobFilter returns the conditions of the jobs q selects. Invalid
// parameters give an error wrapping a *QueryError.
func jobFilter(q JobQuery) (where, error) {
	var w where
	// Which index to read, where SQLite, which keeps no statistics here,
	// cannot tell: done jobs are nearly all of a store's (they stay until
	// retention deletes them), the others few. By status done, the jobs
	// are read newest first, by id or through jobs_rule, and those not
	// done skipped, where jobs_status would give every done job to sort
	// (1.4 s for 1,000,000); by another status, through jobs_status and
	// sorted, where jobs_rule would give every job of the rule to skip.
	// Written col || '', a column matches no index, in SQLite and
	// PostgreSQL alike. An event's jobs are few: jobs_event reads them.
	statusCol, ruleCol := "status", "rule"
	if q.EventID == "" && q.Target == "" {
		if q.Status == actions.Done {
			statusCol = "status || ''"
		} else if q.Status != "" {
			ruleCol = "rule || ''"
		}
	}
	if q.EventID != "" {
		w.add("event_id = ?", q.EventID)
	}
	if q.Rule != "" {
		w.add(ruleCol+" = ?", q.Rule)
	}
	if q.Target != "" {
		w.add("target = ?", q.Target)
	}
	switch q.Status {
	case "":
	case actions.Pending, actions.Running, actions.Done, actions.Dead:
		w.add(statusCol+" = ?", q.Status)
	default:
		return where{}, invalid("status", "%q is not one of %s, %s, %s, %s",
			q.Status, actions.Pending, actions.Running, actions.Done, actions.Dead)
	}
	if q.Cursor != "" {
		c, err := decodeCursor(cursorJobs, q.Cursor)
		if err != nil {
			return where{}, err
		}
		w.add("id < ?", c.seq)
	}
	return w, nil
}

// jobsSQL is the query of the jobs w selects, newest first, whose
// arguments are w's and the limit.
func jobsSQL(w where) string {
	return `SELECT ` + jobColumns + ` FROM jobs` + w.sql() + ` ORDER BY id DESC LIMIT ?`
}

// DeadLetters returns one page of the dead jobs with their attempts, the
// most recently dead first: limit jobs (DefaultLimit when 0, at most
// MaxLimit) after cursor, the Next of the previous page or empty for the
// first, and fewer when their Event and Params would pass PageBytes, as
// in Jobs: a page may hold fewer than limit jobs while more follow, and
// following Next lists every dead job once. Invalid parameters give an
// error wrapping a *QueryError.
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
// the first limit with their attempts, or fewer: the page ends before the
// job whose Event and Params would take the page's total past PageBytes,
// keeping the first job however large. When more jobs follow, Next is the
// cursor after the last job returned, made by next.
func (s *Store) jobPage(ctx context.Context, query string, args []any, limit int, next func(actions.Job) string) (JobPage, error) {
	rows, err := s.db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return JobPage{}, err
	}
	defer rows.Close()
	page := JobPage{Jobs: make([]JobRecord, 0, min(limit, 64))}
	size := 0
	for rows.Next() {
		if len(page.Jobs) == limit {
			page.Next = next(page.Jobs[limit-1].Job)
			break
		}
		j, err := scanJob(rows)
		if err != nil {
			return JobPage{}, err
		}
		// The job that does not fit was read only to learn that more
		// follow, as the one past limit is.
		if !fits(&size, len(j.Event)+len(j.Params), len(page.Jobs)) {
			page.Next = next(page.Jobs[len(page.Jobs)-1].Job)
			break
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

// Retried is what a retry of dead letters did.
type Retried struct {
	// Jobs counts the dead jobs made Pending again.
	Jobs int `json:"retried"`
	// Targets counts the suspended targets of those jobs that were
	// resumed.
	Targets int `json:"targets_resumed"`
}

// DeadFilter selects dead jobs for RetryDeadLetters. Each field set must
// match; the zero DeadFilter selects every dead job.
type DeadFilter struct {
	// Rule is the name of the jobs' rule.
	Rule string
	// Action is the jobs' action kind, such as "email".
	Action string
	// Since selects the jobs that died at or after it: those of an
	// outage that began then.
	Since time.Time
}

// RetryDeadLetter makes the dead job id Pending again, due now, with its
// retry policy starting over, resumes its target if it is suspended, and
// wakes the runners. Its attempts go on being numbered where they stopped
// (a job dead after 21 attempts has its 22nd next): RetriedAfter takes its
// Attempts, and the policy counts only the failures after them.
//
// The target is resumed because a retry is meant to run: the target's
// suspension exists to hold its jobs while it fails, and whoever retries
// its dead job says it works again. Its other pending jobs then run too;
// its other dead jobs stay dead. Should the retried job die again, the
// target is suspended again. It returns an error wrapping ErrNotFound when
// there is no dead job id.
func (s *Store) RetryDeadLetter(ctx context.Context, id int64) (Retried, error) {
	r, err := s.retry(ctx, "id = ?", id)
	if err == nil && r.Jobs == 0 {
		err = fmt.Errorf("no dead job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Retried{}, fmt.Errorf("retry dead letter %d: %w", id, err)
	}
	return r, nil
}

// RetryDeadLetters does what RetryDeadLetter does to every dead job f
// selects, in one transaction: they are all Pending again, and the
// suspended targets among theirs resumed, or none is. It is safe to
// repeat: a second call finds no dead job left, unless some died again
// meanwhile. A target whose dead jobs f does not select stays as it is,
// even when suspended by the same outage; a target resumed because one of
// its dead jobs was retried keeps its other dead jobs dead.
//
// The zero filter retries every dead job, those that died of another
// cause too: a job with a permanent error (parameters its action refuses,
// a missing program) dies again at once, and suspends its target again.
// Narrow the filter to the outage's action kind and start to leave them
// alone.
func (s *Store) RetryDeadLetters(ctx context.Context, f DeadFilter) (Retried, error) {
	var w where
	if f.Rule != "" {
		w.add("rule = ?", f.Rule)
	}
	if f.Action != "" {
		w.add("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		w.add("updated_ns >= ?", encodeTime(f.Since))
	}
	cond := "1 = 1"
	if len(w.conds) > 0 {
		cond = strings.Join(w.conds, " AND ")
	}
	r, err := s.retry(ctx, cond, w.args...)
	if err != nil {
		return Retried{}, fmt.Errorf("retry dead letters: %w", err)
	}
	return r, nil
}

// resumeSQL lifts the suspension of the targets its WHERE clause selects.
const resumeSQL = `UPDATE targets SET suspended = 0, suspended_ns = 0, reason = ''`

// retry makes Pending again, in one transaction, the dead jobs that the
// SQL condition cond on jobs selects, resumes their suspended targets
// and, when it retried any, wakes the runners.
func (s *Store) retry(ctx context.Context, cond string, args ...any) (Retried, error) {
	now := encodeTime(time.Now())
	var r Retried
	err := s.write(ctx, func(tx *sql.Tx) error {
		r = Retried{}
		res, err := tx.ExecContext(ctx, resumeSQL+` WHERE suspended = 1 AND target IN (SELECT target FROM jobs WHERE status = ? AND `+cond+`)`,
			append([]any{actions.Dead}, args...)...)
		if err != nil {
			return fmt.Errorf("resume targets: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("resume targets: %w", err)
		}
		r.Targets = int(n)
		res, err = tx.ExecContext(ctx, `UPDATE jobs SET status = ?, retried_after = attempts, next_ns = ?, updated_ns = ?
			WHERE status = ? AND `+cond, append([]any{actions.Pending, now, now, actions.Dead}, args...)...)
		if err != nil {
			return fmt.Errorf("retry jobs: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("retry jobs: %w", err)
		}
		r.Jobs = int(n)
		return nil
	})
	if err != nil {
		return Retried{}, err
	}
	if r.Jobs > 0 {
		s.wakeRunners()
	}
	return r, nil
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

// TargetQuery selects targets for ListTargets. Empty fields do not filter.
type TargetQuery struct {
	// Name is the exact name of the one target wanted.
	Name string
	// ID is the id of the one target wanted.
	ID int64
	// Suspended, when set, keeps the targets whose Suspended is *Suspended.
	Suspended *bool
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit.
	Limit int
	// Cursor is the Next of the previous page, or empty for the first.
	Cursor string
}

// TargetPage is one page of ListTargets.
type TargetPage struct {
	Targets []Target
	// Next is the cursor of the page after this one, empty on the last.
	Next string
}

// cursorTargets is the cursor kind of ListTargets: its cursor holds the
// name of the last target of the page, after the kind.
const cursorTargets byte = 't'

// ListTargets returns one page of the targets q selects, by name: at most
// q.Limit, and Next to continue after the last one returned, so that
// following the cursors lists every target once. Only the targets of the
// page are counted, so that a page costs the same however many targets
// there are. Invalid parameters give an error wrapping a *QueryError.
func (s *Store) ListTargets(ctx context.Context, q TargetQuery) (TargetPage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return TargetPage{}, fmt.Errorf("list targets: %w", err)
	}
	var w where
	if q.Name != "" {
		w.add("t.target = ?", q.Name)
	}
	if q.ID != 0 {
		w.add("t.id = ?", q.ID)
	}
	if q.Suspended != nil {
		suspended := 0
		if *q.Suspended {
			suspended = 1
		}
		w.add("t.suspended = ?", suspended)
	}
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(b) < 2 || b[0] != cursorTargets || !utf8.Valid(b[1:]) {
			return TargetPage{}, fmt.Errorf("list targets: %w", invalid("cursor", "%q is not a cursor this listing returned", q.Cursor))
		}
		w.add("t.target > ?", string(b[1:]))
	}
	targets, err := s.targets(ctx, w, limit+1)
	if err != nil {
		return TargetPage{}, err
	}
	page := TargetPage{Targets: targets}
	if len(targets) > limit {
		page.Targets = targets[:limit]
		page.Next = base64.RawURLEncoding.EncodeToString(append([]byte{cursorTargets}, targets[limit-1].Name...))
	}
	return page, nil
}

// Targets returns every target jobs were enqueued for, by name.
func (s *Store) Targets(ctx context.Context) ([]Target, error) {
	return s.targets(ctx, where{}, 0)
}

// targets lists the targets w selects by name, at most limit of them
// unless limit is 0, each with the counts of its jobs.
func (s *Store) targets(ctx context.Context, w where, limit int) ([]Target, error) {
	count := func(status string) string {
		return `(SELECT COUNT(*) FROM jobs j WHERE j.target = t.target AND j.status = '` + status + `')`
	}
	query := `SELECT t.id, t.target, t.suspended, t.suspended_ns, t.reason, ` +
		count(actions.Pending) + `, ` + count(actions.Running) + `, ` + count(actions.Dead) + `
		FROM targets t` + w.sql() + ` ORDER BY t.target`
	args := w.args
	if limit > 0 {
		query += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.read.QueryContext(ctx, query, args...)
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

// Target returns the target named name, as Targets lists it, or an error
// wrapping ErrNotFound when no job was enqueued for it.
func (s *Store) Target(ctx context.Context, name string) (Target, error) {
	page, err := s.ListTargets(ctx, TargetQuery{Name: name, Limit: 1})
	if err != nil {
		return Target{}, err
	}
	if len(page.Targets) == 0 {
		return Target{}, fmt.Errorf("target %q: %w", name, ErrNotFound)
	}
	return page.Targets[0], nil
}

// ResumeTarget lifts the suspension of target id, so that its waiting jobs
// run, and wakes the runners. Its dead jobs stay dead (see
// RetryDeadLetter). Resuming a target that is not suspended does nothing;
// an unknown id gives an error wrapping ErrNotFound.
func (s *Store) ResumeTarget(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, resumeSQL+` WHERE id = ?`, id)
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

// TargetFilter selects suspended targets for ResumeTargets. Each field
// set must match; the zero TargetFilter selects every suspended target.
type TargetFilter struct {
	// Action is an action kind, such as "email": a target matches when
	// jobs of that kind were enqueued for it.
	Action string
	// Since selects the targets suspended at or after it (by their
	// latest dead job): those of an outage that began then.
	Since time.Time
}

// ResumeTargets does what ResumeTarget does to every suspended target f
// selects, in one transaction, and returns how many it resumed; it is
// safe to repeat. Their dead jobs stay dead: RetryDeadLetters retries
// them and resumes their targets at once.
func (s *Store) ResumeTargets(ctx context.Context, f TargetFilter) (int, error) {
	var w where
	w.add("suspended = 1")
	if f.Action != "" {
		w.add("EXISTS (SELECT 1 FROM jobs j WHERE j.target = targets.target AND j.action = ?)", f.Action)
	}
	if !f.Since.IsZero() {
		w.add("suspended_ns >= ?", encodeTime(f.Since))
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, resumeSQL+w.sql(), w.args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("resume targets: %w", err)
	}
	if n > 0 {
		s.wakeRunners()
	}
	return int(n), nil
}

// ReleaseClaims makes the jobs that owner holds Pending again and due now,
// and returns how many there were. A runner calls it once at start, before
// it claims anything, with the owner name it had before a crash: the jobs
// that were in flight when that process died then run again at once
// instead of after their lease expires. Never call it for an owner that may
// still be running.
//
// The attempt each job was making is recorded in its history as
// interrupted, its outcome unknown (the action may have acted before the
// crash), and keeps its number: the job's next attempt is numbered after
// it, and it counts against the job's retry policy as a failure would.
func (s *Store) ReleaseClaims(ctx context.Context, owner string) (int, error) {
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `SELECT id, attempts, updated_ns FROM jobs WHERE status = ? AND lease_owner = ? ORDER BY id`,
			actions.Running, owner)
		if err != nil {
			return err
		}
		type held struct {
			id      int64
			attempt int
			claimed int64
		}
		var jobs []held
		for rows.Next() {
			var h held
			if err := rows.Scan(&h.id, &h.attempt, &h.claimed); err != nil {
				rows.Close()
				return err
			}
			jobs = append(jobs, h)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		now := encodeTime(time.Now())
		for _, h := range jobs {
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, next_ns = ?, lease_owner = '', lease_ns = 0, updated_ns = ?
				WHERE id = ?`, actions.Pending, now, now, h.id); err != nil {
				return fmt.Errorf("job %d: %w", h.id, err)
			}
			if err := s.interrupted(ctx, tx, h.id, h.attempt, h.claimed,
				"interrupted: hookd stopped while this attempt ran (killed or crashed); the outcome of this attempt is unknown"); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("release claims of %s: %w", owner, err)
	}
	if n > 0 {
		s.wakeRunners()
	}
	return n, nil
}
