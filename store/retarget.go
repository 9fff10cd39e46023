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
	type rename struct{ from, to string }
	var renames []rename
	var kind actions.Kind
	for rows.Next() {
		var (
			target string
			raw    []byte
		)
		if err := rows.Scan(&target, &raw); err != nil {
			rows.Close()
			return fmt.Errorf("retarget: %w", err)
		}
		if kind == nil {
			if kind, err = actions.Lookup(retargetAction); err != nil {
				rows.Close()
				return fmt.Errorf("retarget: %w", err)
			}
		}
		var params map[string]any
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if err := dec.Decode(&params); err != nil {
			// hookd never stores parameters that do not decode; such a
			// job keeps its target.
			continue
		}
		if to := kind.Target(params); to != target {
			renames = append(renames, rename{target, to})
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("retarget: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("retarget: %w", err)
	}
	for _, r := range renames {
		if err := renameTarget(ctx, tx, r.from, r.to); err != nil {
			return fmt.Errorf("retarget: %w", err)
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
