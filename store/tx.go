package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/event"
)

// Evaluator decides what a newly projected event triggers, inside the
// projector's transaction: the rules engine implements it.
//
// The projector (Run) calls Evaluate once for each event it stores for the
// first time, in log order, after storing the whole batch and before
// committing it; an event that was already in the store (a redelivery
// after a commit, a replay) is not evaluated again, since the decisions it
// led to were committed with it. What Evaluate writes through tx (once
// keys, cooldown firings, jobs) commits or rolls back with the events, so a
// crash between a decision and its jobs neither loses nor repeats them.
//
// An error rolls the whole batch back: its messages are delivered again and
// evaluated again, so it should mean that the answer is unknown (the
// database failed, ctx ended), not that the event is bad. Evaluate is
// called from one goroutine at a time; tx is valid only during the call.
// Events stored with Insert rather than by the projector are not
// evaluated, then or later.
type Evaluator interface {
	Evaluate(ctx context.Context, tx *Tx, e event.Event) error
}

// Tx is the projector's write transaction as an Evaluator sees it: rule
// state as of the event evaluated (it implements rules.State), once and
// cooldown bookkeeping, and the action queue. It is valid only during the
// Evaluate call it was passed to, and is not safe for concurrent use.
//
// Its answers are as of an event e: the events stored before e (a smaller
// seq: for the projector, earlier in the log) whose time is not after
// e.Time, never e itself. An event that is not in the store sees every
// stored event not later than it.
type Tx struct {
	s  *Store
	tx *sql.Tx

	// cur is the event being evaluated, whose seq the projector knows.
	cur struct {
		id  string
		seq int64
	}
	// stmts are the statements prepared in tx, by their SQL.
	stmts map[string]*sql.Stmt
	// enqueued counts the jobs inserted, so that a commit wakes runners.
	enqueued int
	// targets are those Enqueue made sure of in tx.
	targets map[string]bool
	// explain tells whether Explain records; sets are the rule sets it
	// wrote in tx.
	explain bool
	sets    map[string]bool
	// keepLedger makes Once and Cooldown answer from what is recorded
	// without recording anything (a rebuild re-explains, never re-decides).
	keepLedger bool
	// added are the jobs Enqueue inserted, kept when record is set (a
	// replay), and so are moved and taken (see ReplayResult). claimed
	// holds the keys of the jobs that the replay's jobs stand for: those
	// it added, and those already queued that it matched (replayed).
	record       bool
	added        []actions.Job
	moved, taken []actions.Job
	claimed      map[string]bool
	// failed are the rules that failed on the events, when record is set
	// (see ReplayResult.Failed).
	failed []RuleFailures
}

func (s *Store) newTx(tx *sql.Tx) *Tx { return &Tx{s: s, tx: tx} }

// The statements of Tx. lastSQL and countSQL hold one query per column
// that stateValue names.
var (
	seqOfSQL        = writeSQL(`SELECT seq FROM events WHERE id = ?`)
	lastSQL         = map[string]string{}
	countSQL        = map[string]string{}
	insertOnceSQL   = writeSQL(`INSERT INTO rule_once (rule, key, event_id) VALUES (?, ?, ?) ON CONFLICT (rule, key) DO NOTHING`)
	selectOnceSQL   = writeSQL(`SELECT event_id FROM rule_once WHERE rule = ? AND key = ?`)
	countFiringsSQL = writeSQL(`SELECT COUNT(*) FROM rule_firings
		WHERE rule = ? AND key = ? AND time_ns > ? AND time_ns < ? AND event_id <> ?`)
	insertFiringSQL = writeSQL(`INSERT INTO rule_firings (rule, key, time_ns, event_id) VALUES (?, ?, ?, ?)
		ON CONFLICT (rule, key, event_id) DO NOTHING`)
	insertTargetSQL = writeSQL(`INSERT INTO targets (target) VALUES (?) ON CONFLICT (target) DO NOTHING`)
	insertJobSQL    = writeSQL(`INSERT INTO jobs
		(key, rule, idx, action, target, params, retry, event_id, event, status, next_ns, created_ns, updated_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO NOTHING`)
	// A replay's checks for a rule whose actions moved or changed.
	sameJobSQL = writeSQL(`SELECT key FROM jobs
		WHERE event_id = ? AND rule = ? AND action = ? AND target = ? ORDER BY id`)
	keyJobSQL = writeSQL(`SELECT action, target FROM jobs WHERE key = ?`)
)

func init() {
	for _, col := range []string{"email", "domain", "message_id", "campaign", "source"} {
		lastSQL[col] = writeSQL(`SELECT ` + eventColumns + ` FROM events
			WHERE ` + col + ` = ? AND type = ? AND time_ns <= ? AND seq < ?
			ORDER BY time_ns DESC, seq DESC LIMIT 1`)
		countSQL[col] = writeSQL(`SELECT COUNT(*) FROM events
			WHERE ` + col + ` = ? AND type = ? AND time_ns > ? AND time_ns <= ? AND seq < ?`)
	}
}

// at makes the event id, stored at seq, the one evaluated.
func (t *Tx) at(id string, seq int64) {
	t.cur.id, t.cur.seq = id, seq
}

// stmt returns query as a statement of the transaction, once per
// transaction: a batch evaluates many events with the same few queries.
func (t *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	st, err := t.s.stmt(ctx, t.tx, query)
	if err != nil {
		return nil, err
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[query] = st
	return st, nil
}

// stateValue returns the column of field, one of the fields last and count
// compare (rules.State), and e's value of it as stored. Only these column
// names are ever written into the SQL text.
func stateValue(e event.Event, field string) (col, value string, err error) {
	switch field {
	case "email":
		return "email", strings.ToLower(e.Email), nil
	case "domain":
		return "domain", strings.ToLower(e.Domain), nil
	case "message_id":
		return "message_id", e.MessageID, nil
	case "campaign":
		return "campaign", e.Campaign, nil
	case "source":
		return "source", e.Source, nil
	}
	return "", "", fmt.Errorf("unknown field %q: want email, domain, message_id, campaign or source", field)
}

// seqOf returns the seq before which e's answers look: its own, or past
// every stored event when it is not stored.
func (t *Tx) seqOf(ctx context.Context, e event.Event) (int64, error) {
	if e.ID == t.cur.id && t.cur.id != "" {
		return t.cur.seq, nil
	}
	st, err := t.stmt(ctx, seqOfSQL)
	if err != nil {
		return 0, err
	}
	var seq int64
	err = st.QueryRowContext(ctx, e.ID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return math.MaxInt64, nil
	}
	return seq, err
}

// Last returns the latest event of type typ, stored before e and not later
// than e.Time, whose field equals e's, the later-stored of two with the
// same time; nil and no error when there is none. field is email, domain,
// message_id, campaign or source, compared exactly (email and domain
// lower-cased, as stored); an empty value matches nothing. It implements
// rules.State.
func (t *Tx) Last(ctx context.Context, e event.Event, typ, field string) (*event.Event, error) {
	col, v, err := stateValue(e, field)
	if err != nil {
		return nil, fmt.Errorf("last %s by %s: %w", typ, field, err)
	}
	if v == "" {
		return nil, nil
	}
	seq, err := t.seqOf(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("last %s by %s: %w", typ, field, err)
	}
	st, err := t.stmt(ctx, lastSQL[col])
	if err != nil {
		return nil, fmt.Errorf("last %s by %s: %w", typ, field, err)
	}
	last, _, err := scanEvent(st.QueryRowContext(ctx, v, typ, encodeTime(e.Time), seq))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last %s by %s: %w", typ, field, err)
	}
	return &last, nil
}

// Count returns how many events of type typ, stored before e, whose field
// equals e's, have a time in (e.Time-window, e.Time]. field is as for Last;
// window must be positive. It implements rules.State.
func (t *Tx) Count(ctx context.Context, e event.Event, typ, field string, window time.Duration) (int, error) {
	col, v, err := stateValue(e, field)
	if err == nil && window <= 0 {
		err = fmt.Errorf("window %s is not positive", window)
	}
	if err != nil {
		return 0, fmt.Errorf("count %s by %s: %w", typ, field, err)
	}
	if v == "" {
		return 0, nil
	}
	seq, err := t.seqOf(ctx, e)
	if err != nil {
		return 0, fmt.Errorf("count %s by %s: %w", typ, field, err)
	}
	st, err := t.stmt(ctx, countSQL[col])
	if err != nil {
		return 0, fmt.Errorf("count %s by %s: %w", typ, field, err)
	}
	var n int
	if err := st.QueryRowContext(ctx, v, typ, encodeTime(e.Time.Add(-window)), encodeTime(e.Time), seq).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s by %s: %w", typ, field, err)
	}
	return n, nil
}

// Once records that the rule fired for key, and reports whether this is
// the first time: true when no event recorded rule and key before, or when
// the one that did is eventID (the same event evaluated again), so that a
// rule with once fires at most once per key, forever.
func (t *Tx) Once(ctx context.Context, rule, key, eventID string) (first bool, err error) {
	var by string
	if t.keepLedger {
		sel, err := t.stmt(ctx, selectOnceSQL)
		if err == nil {
			err = sel.QueryRowContext(ctx, rule, key).Scan(&by)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("once %q of rule %q: %w", key, rule, err)
		}
		return by == eventID, nil
	}
	ins, err := t.stmt(ctx, insertOnceSQL)
	if err == nil {
		_, err = ins.ExecContext(ctx, rule, key, eventID)
	}
	if err == nil {
		var sel *sql.Stmt
		if sel, err = t.stmt(ctx, selectOnceSQL); err == nil {
			err = sel.QueryRowContext(ctx, rule, key).Scan(&by)
		}
	}
	if err != nil {
		return false, fmt.Errorf("once %q of rule %q: %w", key, rule, err)
	}
	return by == eventID, nil
}

// Cooldown reports whether the rule may fire for key (the once key, or ""
// for the whole rule) at time at, by event eventID, and records the firing
// when it may. It may when no other event fired it for key less than
// window before or after at, in event time: firings of one rule and key are
// at least window apart, whatever order their events arrive in, and events
// of the same time fire once. The same event evaluated again may fire
// again, without a second record.
func (t *Tx) Cooldown(ctx context.Context, rule, key string, at time.Time, window time.Duration, eventID string) (ok bool, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("cooldown of rule %q, key %q: %w", rule, key, err)
		}
	}()
	sel, err := t.stmt(ctx, countFiringsSQL)
	if err != nil {
		return false, err
	}
	var n int
	if err := sel.QueryRowContext(ctx, rule, key, encodeTime(at.Add(-window)), encodeTime(at.Add(window)), eventID).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if t.keepLedger {
		return true, nil
	}
	ins, err := t.stmt(ctx, insertFiringSQL)
	if err != nil {
		return false, err
	}
	if _, err := ins.ExecContext(ctx, rule, key, encodeTime(at), eventID); err != nil {
		return false, err
	}
	return true, nil
}

// Enqueue adds jobs to the action queue, Pending and due now, skipping any
// whose Key is already there (whatever its status: a key runs at most
// once, ever), and returns how many it added. In a replay it also skips a
// job whose event already has a job of the same rule, action and target
// under another key, whatever their parameters (replayed), and notes a job
// whose key belongs to another action or target (see ReplayResult). In a
// rebuild it adds none. Of each job it reads Key (required), Rule, Index,
// Action, Target, Params, Retry, EventID and Event. Runners are woken once
// the transaction commits.
func (t *Tx) Enqueue(ctx context.Context, jobs ...actions.Job) (inserted int, err error) {
	if len(jobs) == 0 || t.keepLedger {
		return 0, nil
	}
	target, err := t.stmt(ctx, insertTargetSQL)
	if err != nil {
		return 0, fmt.Errorf("enqueue jobs: %w", err)
	}
	job, err := t.stmt(ctx, insertJobSQL)
	if err != nil {
		return 0, fmt.Errorf("enqueue jobs: %w", err)
	}
	for _, j := range jobs {
		if j.Key == "" {
			return 0, fmt.Errorf("enqueue job of rule %q: no key", j.Rule)
		}
	}
	var skip []bool
	if t.record {
		if skip, err = t.replayed(ctx, jobs); err != nil {
			return 0, fmt.Errorf("enqueue jobs: %w", err)
		}
	}
	now := encodeTime(time.Now())
	for i, j := range jobs {
		if !t.targets[j.Target] {
			if _, err := target.ExecContext(ctx, j.Target); err != nil {
				return inserted, fmt.Errorf("enqueue job %s: %w", j.Key, err)
			}
			if t.targets == nil {
				t.targets = map[string]bool{}
			}
			t.targets[j.Target] = true
		}
		if skip != nil && skip[i] {
			continue
		}
		res, err := job.ExecContext(ctx, j.Key, j.Rule, j.Index, j.Action, j.Target, jsonText(j.Params), j.Retry,
			j.EventID, string(j.Event), actions.Pending, now, now, now)
		if err != nil {
			return inserted, fmt.Errorf("enqueue job %s: %w", j.Key, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return inserted, fmt.Errorf("enqueue job %s: %w", j.Key, err)
		}
		if n > 0 {
			inserted++
			t.enqueued++
			if t.record {
				t.added = append(t.added, j)
				t.claim(j.Key)
			}
		}
	}
	return inserted, nil
}

// replayed returns which of jobs a replay is to skip, as they would repeat
// a side effect or take another job's key. The identity of a side effect
// is the event, the rule, the action and its target (an email's recipient,
// an http request's method and URL): not the parameters, which change with
// a template, nor the key, which holds the action's index (it changes when
// actions are inserted or reordered) and the rule's once key (it changes
// with once). So a job is skipped when its key is already queued, and
// noted in taken when the job that holds it is of another action or target
// (then the job's action does not run for the event); or else when the
// event has a job of its rule, action and target that no other job of this
// replay stands for (movedJob), noted in moved. Jobs whose key is queued
// are matched first, so that a rule that holds the same action and target
// n times has at most n such jobs per event, and has n once replayed.
func (t *Tx) replayed(ctx context.Context, jobs []actions.Job) ([]bool, error) {
	st, err := t.stmt(ctx, keyJobSQL)
	if err != nil {
		return nil, err
	}
	skip := make([]bool, len(jobs))
	for i, j := range jobs {
		var action, target string
		switch err := st.QueryRowContext(ctx, j.Key).Scan(&action, &target); {
		case err == nil:
			skip[i] = true
			if action == j.Action && target == j.Target {
				t.claim(j.Key)
			} else {
				t.taken = append(t.taken, j)
			}
		case !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("job %s: %w", j.Key, err)
		}
	}
	for i, j := range jobs {
		if skip[i] {
			continue
		}
		key, err := t.movedJob(ctx, j)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", j.Key, err)
		}
		if key != "" {
			skip[i] = true
			t.claim(key)
			t.moved = append(t.moved, j)
		}
	}
	return skip, nil
}

// movedJob returns the key of a job of j's event, rule, action and target,
// under another key than j's (which has none), that no job of this replay
// stands for (claimed), or "" when there is none.
func (t *Tx) movedJob(ctx context.Context, j actions.Job) (string, error) {
	st, err := t.stmt(ctx, sameJobSQL)
	if err != nil {
		return "", err
	}
	rows, err := st.QueryContext(ctx, j.EventID, j.Rule, j.Action, j.Target)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			return "", err
		}
		if !t.claimed[key] {
			return key, nil
		}
	}
	return "", rows.Err()
}

// claim notes that a job of this replay stands for the queued job key.
func (t *Tx) claim(key string) {
	if t.claimed == nil {
		t.claimed = map[string]bool{}
	}
	t.claimed[key] = true
}

// jsonText returns raw as stored: "null" when empty.
func jsonText(raw []byte) string {
	if len(raw) == 0 {
		return "null"
	}
	return string(raw)
}
