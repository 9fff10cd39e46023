package listener

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// NonceFile is the file in the data directory where OpenNonces keeps used
// nonces.
const NonceFile = "nonces.db"

// SQLiteNonces is a Nonces kept in an SQLite file with synchronous=FULL, so
// a used token is remembered across restarts and crashes: a replay is
// refused even right after hookd restarted. Rows are deleted once they
// expire (the provider's timestamp tolerance makes an older token stale
// anyway).
type SQLiteNonces struct {
	db *sql.DB

	mu        sync.Mutex
	lastPrune time.Time
}

var _ Nonces = (*SQLiteNonces)(nil)

// OpenNonces opens (creating if needed) the nonce file in dir.
func OpenNonces(ctx context.Context, dir string) (*SQLiteNonces, error) {
	abs, err := filepath.Abs(filepath.Join(dir, NonceFile))
	if err != nil {
		return nil, fmt.Errorf("open nonces: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(5000)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+abs+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open nonces: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS nonces (
		scope      TEXT   NOT NULL,
		nonce      TEXT   NOT NULL,
		binding    TEXT   NOT NULL,
		expires_ns BIGINT NOT NULL,
		PRIMARY KEY (scope, nonce)
	)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("open nonces: %w", err)
	}
	return &SQLiteNonces{db: db}, nil
}

// Use implements Nonces.
func (n *SQLiteNonces) Use(ctx context.Context, scope, nonce, binding string, expires time.Time) (bool, error) {
	n.prune(ctx)
	if _, err := n.db.ExecContext(ctx, `INSERT INTO nonces (scope, nonce, binding, expires_ns) VALUES (?, ?, ?, ?)
		ON CONFLICT (scope, nonce) DO NOTHING`, scope, nonce, binding, expires.UnixNano()); err != nil {
		return false, fmt.Errorf("use nonce: %w", err)
	}
	var got string
	if err := n.db.QueryRowContext(ctx, `SELECT binding FROM nonces WHERE scope = ? AND nonce = ?`, scope, nonce).Scan(&got); err != nil {
		return false, fmt.Errorf("use nonce: %w", err)
	}
	return got != binding, nil
}

// prune deletes expired nonces, at most once a minute.
func (n *SQLiteNonces) prune(ctx context.Context) {
	n.mu.Lock()
	now := time.Now()
	due := now.Sub(n.lastPrune) > time.Minute
	if due {
		n.lastPrune = now
	}
	n.mu.Unlock()
	if due {
		_, _ = n.db.ExecContext(ctx, `DELETE FROM nonces WHERE expires_ns < ?`, now.UnixNano())
	}
}

// Close closes the file.
func (n *SQLiteNonces) Close() error { return n.db.Close() }

// memNonces is the Nonces of a listener without a data directory: in
// memory, so forgotten on restart.
type memNonces struct {
	mu   sync.Mutex
	used map[[2]string]memNonce
}

type memNonce struct {
	binding string
	expires time.Time
}

func newMemNonces() *memNonces { return &memNonces{used: map[[2]string]memNonce{}} }

func (m *memNonces) Use(_ context.Context, scope, nonce, binding string, expires time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if len(m.used) > 4096 {
		for k, v := range m.used {
			if v.expires.Before(now) {
				delete(m.used, k)
			}
		}
	}
	k := [2]string{scope, nonce}
	if u, ok := m.used[k]; ok && !u.expires.Before(now) {
		return u.binding != binding, nil
	}
	m.used[k] = memNonce{binding, expires}
	return false, nil
}
