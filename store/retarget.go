package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hookd/hookd/actions"
)

// retargetAction is the action whose stored targets retarget renames: the
// http action's targets showed the URL's path, which may hold a token,
// until schema version 12.
const retargetAction = "http"

// retarget renames, in tx, each target of the http action's jobs to the
// target that the registered http kind names for their parameters now,
// so that jobs enqueued after the upgrade share the targets (and so the
// suspensions) of the jobs enqueued before it, and no stored target shows
// what the action no longer shows. The errors of those jobs (their last
// error, their attempts' errors) and the targets' reasons named the old
// target: each naming of it, after the action's name as the action's
// errors write it ("POST https://..."), becomes the new one.
//
// Jobs of one target have one URL and one method, so the target of the
// first of them stands for all. Should two old targets come to one new
// name, their rows become one, suspended if either was, since when and
// why the later was. A store holding http jobs cannot be migrated by a
// build of hookd without the http action; without http jobs the step
// does nothing.
func retarget(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT j.target, j.params FROM jobs j
		WHERE j.id IN (SELECT MIN(id) FROM jobs WHERE action = ? GROUP BY target) ORDER BY j.id`, retargetAction)
	if err != nil {
		return fmt.Errorf("retarget: %w", err)
	}
	var r renames
	for rows.Next() {
		var (
			target string
			raw    []byte
		)
		if err := rows.Scan(&target, &raw); err != nil {
			rows.Close()
			return fmt.Errorf("retarget: %w", err)
		}
		if err := r.add(target, raw); err != nil {
			rows.Close()
			return fmt.Errorf("retarget: %w", err)
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("retarget: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("retarget: %w", err)
	}
	if err := r.apply(ctx, tx); err != nil {
		return fmt.Errorf("retarget: %w", err)
	}
	return nil
}

// leftoverTargetsSQL lists the targets of the jobs table that begin with
// "http " and are not in the form the http action names a URL with a path
// now ("http METHOD SCHEME://HOST/[redacted] (path F)"; a URL never holds
// a space, so no target of an older hookd has that form). It visits each
// distinct target once, by an index probe of jobs_target per target (a
// loose index scan written as a recursive query, which neither SQLite nor
// PostgreSQL does of its own accord), so its cost grows with the number of
// the http action's targets, not with the number of jobs. The bounds are
// letters, not "http " and "http!", so that the range is the same in a
// PostgreSQL collation that orders spaces and punctuation after letters:
// only the http action's targets begin with "http".
const leftoverTargetsSQL = `WITH RECURSIVE t (target) AS (
		SELECT MIN(target) FROM jobs WHERE target >= 'http' AND target < 'httq'
		UNION ALL
		SELECT (SELECT MIN(j.target) FROM jobs j WHERE j.target > t.target AND j.target < 'httq')
		FROM t WHERE t.target IS NOT NULL
	)
	SELECT target FROM t WHERE substr(target, 1, 5) = 'http ' AND target NOT LIKE '%/` + actions.Redacted + ` (path %)'`

// retargetLeftovers renames, in tx, as retarget does, the targets of the
// http action's jobs that are not in the form the action names them now:
// those that replicas of a hookd older than schema version 12, sharing a
// PostgreSQL store with one that migrated it, enqueued after the
// migration. Open runs it in the transaction that checks the schema
// version, so it costs a store with nothing to rename one query that
// reads an index entry per http target, and a read of one job per
// target whose URL has no path (its name did not change). It returns the
// number of targets renamed.
func retargetLeftovers(ctx context.Context, tx *sql.Tx) (int, error) {
	rows, err := tx.QueryContext(ctx, leftoverTargetsSQL)
	if err != nil {
		return 0, fmt.Errorf("retarget leftovers: %w", err)
	}
	var targets []string
	for rows.Next() {
		var target string
		if err := rows.Scan(&target); err != nil {
			rows.Close()
			return 0, fmt.Errorf("retarget leftovers: %w", err)
		}
		targets = append(targets, target)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("retarget leftovers: %w", err)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("retarget leftovers: %w", err)
	}
	var r renames
	for _, target := range targets {
		var raw []byte
		// Any job of the target stands for all (see retarget).
		err := tx.QueryRowContext(ctx, `SELECT params FROM jobs WHERE target = ? AND action = ? LIMIT 1`,
			target, retargetAction).Scan(&raw)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		} else if err != nil {
			return 0, fmt.Errorf("retarget leftovers: %w", err)
		}
		if err := r.add(target, raw); err != nil {
			return 0, fmt.Errorf("retarget leftovers: %w", err)
		}
	}
	if err := r.apply(ctx, tx); err != nil {
		return 0, fmt.Errorf("retarget leftovers: %w", err)
	}
	return len(r.list), nil
}

// renames collects the targets of the http action's jobs to rename.
type renames struct {
	// kind is the http kind, looked up with the first target, so that a
	// store without http jobs needs no http action.
	kind actions.Kind
	list []rename
}

type rename struct{ from, to string }

// add adds the rename of target, whose jobs have the parameters raw, to
// the target the http kind names for them now, if it differs.
func (r *renames) add(target string, raw []byte) error {
	if r.kind == nil {
		kind, err := actions.Lookup(retargetAction)
		if err != nil {
			return err
		}
		r.kind = kind
	}
	var params map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil || r.kind.Validate(params) != nil {
		// hookd never stores parameters that do not decode, nor that the
		// action refuses; such a job keeps its target, whose name did not
		// come from them (renamed, every such target would become one,
		// "http (invalid parameters)").
		return nil
	}
	if to := r.kind.Target(params); to != target {
		r.list = append(r.list, rename{target, to})
	}
	return nil
}

// apply renames each target that add collected, in tx.
func (r *renames) apply(ctx context.Context, tx *sql.Tx) error {
	for _, rn := range r.list {
		if err := renameTarget(ctx, tx, rn.from, rn.to); err != nil {
			return err
		}
	}
	return nil
}

// renameTarget renames the target from, of the http action's jobs, to to.
func renameTarget(ctx context.Context, tx *sql.Tx, from, to string) error {
	prefix := retargetAction + " "
	oldText, newText := strings.TrimPrefix(from, prefix), strings.TrimPrefix(to, prefix)
	if _, err := tx.ExecContext(ctx, `UPDATE job_attempts SET error = REPLACE(error, ?, ?)
		WHERE error <> '' AND job_id IN (SELECT id FROM jobs WHERE target = ? AND action = ?)`,
		oldText, newText, from, retargetAction); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET target = ?, last_error = REPLACE(last_error, ?, ?)
		WHERE target = ? AND action = ?`, to, oldText, newText, from, retargetAction); err != nil {
		return err
	}
	var (
		suspended int
		at        int64
		reason    string
	)
	err := tx.QueryRowContext(ctx, `SELECT suspended, suspended_ns, reason FROM targets WHERE target = ?`, from).Scan(&suspended, &at, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	reason = strings.ReplaceAll(reason, oldText, newText)
	var (
		toSuspended int
		toAt        int64
	)
	err = tx.QueryRowContext(ctx, `SELECT suspended, suspended_ns FROM targets WHERE target = ?`, to).Scan(&toSuspended, &toAt)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = tx.ExecContext(ctx, `UPDATE targets SET target = ?, reason = ? WHERE target = ?`, to, reason, from)
		return err
	} else if err != nil {
		return err
	}
	if suspended != 0 && (toSuspended == 0 || at > toAt) {
		if _, err := tx.ExecContext(ctx, `UPDATE targets SET suspended = 1, suspended_ns = ?, reason = ? WHERE target = ?`, at, reason, to); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM targets WHERE target = ?`, from)
	return err
}
