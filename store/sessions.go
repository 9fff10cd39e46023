package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AddSession keeps a session of the dashboard under mac until expires,
// and deletes the sessions that expired before now, so that the table
// holds the live sessions and those of at most the last logins. mac is
// what the dashboard derives from the session's id, never the id itself:
// whoever reads the store cannot use what it holds as a cookie.
func (s *Store) AddSession(ctx context.Context, mac string, now, expires time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM admin_sessions WHERE expires_ns < ?`, encodeTime(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_sessions (mac, expires_ns) VALUES (?, ?)`, mac, encodeTime(expires))
		return err
	})
	if err != nil {
		return fmt.Errorf("add session: %w", err)
	}
	return nil
}

// Session returns when the session under mac expires, and false when
// there is none (never added, or deleted). An expired session that no
// AddSession has deleted yet is returned with its past expiry: the caller
// compares it with its own clock.
func (s *Store) Session(ctx context.Context, mac string) (expires time.Time, ok bool, err error) {
	var ns int64
	err = s.db.read.QueryRowContext(ctx, `SELECT expires_ns FROM admin_sessions WHERE mac = ?`, mac).Scan(&ns)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("look up session: %w", err)
	}
	return decodeTime(ns), true, nil
}

// DeleteSession ends the session under mac, at every replica sharing the
// store; a session that is not there is not an error.
func (s *Store) DeleteSession(ctx context.Context, mac string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM admin_sessions WHERE mac = ?`, mac)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}
