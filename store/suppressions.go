package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookd/hookd/actions"
)

// Suppression is an address on hookd's suppression list.
type Suppression struct {
	// Email is the address, lower-cased.
	Email string `json:"email"`
	// Reason says why it is there, as the suppress action rendered it.
	Reason string `json:"reason"`
	// Rule and EventID name the rule and the event that put it there.
	Rule    string `json:"rule"`
	EventID string `json:"event_id"`
	// Created is when it was put there.
	Created time.Time `json:"created"`
}

// SuppressionPage is one page of the suppression list.
type SuppressionPage struct {
	Suppressions []Suppression `json:"suppressions"`
	// Next is the cursor of the following page, empty on the last page.
	Next string `json:"next,omitempty"`
}

var _ actions.Suppressions = (*Store)(nil)

// Suppressed implements actions.Suppressions.
func (s *Store) Suppressed(ctx context.Context, email string) (bool, error) {
	var n int
	err := s.db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM suppressions WHERE email = ?`,
		strings.ToLower(email)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up suppression: %w", err)
	}
	return n > 0, nil
}

// Suppress implements actions.Suppressions: the first reason, rule and
// event to suppress an address are kept.
func (s *Store) Suppress(ctx context.Context, email, reason, rule, eventID string) (bool, error) {
	var added bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO suppressions (email, reason, rule, event_id, created_ns)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING`,
			strings.ToLower(email), reason, rule, eventID, encodeTime(time.Now()))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		added = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("suppress: %w", err)
	}
	return added, nil
}

// Unsuppress removes email from the suppression list; an address not on
// it gives an error wrapping ErrNotFound.
func (s *Store) Unsuppress(ctx context.Context, email string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM suppressions WHERE email = ?`, strings.ToLower(email))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("%s is not suppressed: %w", strings.ToLower(email), ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unsuppress: %w", err)
	}
	return nil
}

// cursorSuppressions is the cursor kind of Suppressions: its cursor holds
// the last address of the page, after the kind, so that another listing's
// cursor is refused rather than read as an address.
const cursorSuppressions byte = 's'

// Suppressions returns one page of the suppression list in address order:
// limit entries (DefaultLimit when 0, at most MaxLimit) after cursor, the
// Next of the previous page or empty for the first. Invalid parameters
// give an error wrapping a *QueryError.
func (s *Store) Suppressions(ctx context.Context, limit int, cursor string) (SuppressionPage, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return SuppressionPage{}, fmt.Errorf("list suppressions: %w", err)
	}
	var w where
	if cursor != "" {
		// Addresses are stored lower-cased, which makes them UTF-8: a
		// cursor that is not was not made by Next.
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(b) < 2 || b[0] != cursorSuppressions || !utf8.Valid(b[1:]) {
			return SuppressionPage{}, fmt.Errorf("list suppressions: %w", invalid("cursor", "%q is not a cursor this listing returned", cursor))
		}
		w.add("email > ?", string(b[1:]))
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT email, reason, rule, event_id, created_ns FROM suppressions`+
		w.sql()+` ORDER BY email LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return SuppressionPage{}, fmt.Errorf("list suppressions: %w", err)
	}
	defer rows.Close()
	page := SuppressionPage{Suppressions: []Suppression{}}
	for rows.Next() {
		if len(page.Suppressions) == limit {
			page.Next = base64.RawURLEncoding.EncodeToString(append([]byte{cursorSuppressions}, page.Suppressions[limit-1].Email...))
			break
		}
		var (
			sp Suppression
			ns int64
		)
		if err := rows.Scan(&sp.Email, &sp.Reason, &sp.Rule, &sp.EventID, &ns); err != nil {
			return SuppressionPage{}, fmt.Errorf("list suppressions: %w", err)
		}
		sp.Created = decodeTime(ns)
		page.Suppressions = append(page.Suppressions, sp)
	}
	if err := rows.Err(); err != nil {
		return SuppressionPage{}, fmt.Errorf("list suppressions: %w", err)
	}
	return page, nil
}
