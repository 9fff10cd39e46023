package listener

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/hookd/hookd/internal/datafile"
	"github.com/hookd/hookd/internal/pgconf"
)

// NonceFile is the file in the data directory where OpenNonces keeps used
// nonces.
const NonceFile = "nonces.db"

// NonceTable is the PostgreSQL table where OpenPostgresNonces keeps used
// nonces.
const NonceTable = "hookd_nonces"

// SQLNonces is a Nonces kept in a database table, so that a used token is
// remembered across restarts and crashes: a replay is refused even right
// after hookd restarted. OpenNonces keeps the table in an SQLite file of
// the data directory; OpenPostgresNonces in PostgreSQL, where every replica
// that shares the database refuses a token that another one saw with
// another body. Rows are deleted once they expire (the provider's
// timestamp tolerance makes an older token stale anyway).
type SQLNonces struct {
	db *sql.DB
	// The statements, in the database's placeholders: use records a
	// nonce unless it is recorded and unexpired, get reads its binding,
	// prune deletes the expired.
	use, get, prune string

	mu        sync.Mutex
	lastPrune time.Time
}

var _ Nonces = (*SQLNonces)(nil)

const nonceColumns = `(
	scope      TEXT   NOT NULL,
	nonce      TEXT   NOT NULL,
	binding    TEXT   NOT NULL,
	expires_ns BIGINT NOT NULL,
	PRIMARY KEY (scope, nonce)
)`

// OpenNonces opens the nonce file in dir, an SQLite database with
// synchronous=FULL, creating it readable by its owner only when it does
// not exist (see datafile.Create).
func OpenNonces(ctx context.Context, dir string) (*SQLNonces, error) {
	abs, err := filepath.Abs(filepath.Join(dir, NonceFile))
	if err != nil {
		return nil, fmt.Errorf("open nonces: %w", err)
	}
	if err := datafile.Create(abs); err != nil {
		return nil, fmt.Errorf("open nonces: %w", err)
	}
	db, err := sql.Open("sqlite", datafile.DSN(abs, "journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(5000)"))
	if err != nil {
		return nil, fmt.Errorf("open nonces: %w", err)
	}
	db.SetMaxOpenConns(1)
	return newSQLNonces(ctx, db, "nonces", false, "")
}

// OpenPostgresNonces opens the nonce table NonceTable in the PostgreSQL
// database of dsn, creating it if needed. Its commits are synchronous
// whatever the server's default.
func OpenPostgresNonces(ctx context.Context, dsn string) (*SQLNonces, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open nonces: postgres: invalid dsn: %s", pgconf.Reason(err))
	}
	cfg.RuntimeParams["synchronous_commit"] = "on"
	pgconf.Defaults(&cfg.Config)
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open nonces: postgres: connect to %s: %w", pgconf.Addr(&cfg.Config), err)
	}
	return newSQLNonces(ctx, db, NonceTable, true, `SELECT pg_advisory_xact_lock(`+nonceLockKey+`)`)
}

// nonceLockKey is the advisory lock key under which OpenPostgresNonces
// creates its table: an arbitrary constant, not the store's. Replicas
// started together would otherwise create it at once, and PostgreSQL's
// CREATE TABLE IF NOT EXISTS fails all but one of them on its catalog's
// unique index rather than waiting.
const nonceLockKey = "6881685301262"

// newSQLNonces creates table on db if needed, in a transaction that runs
// lock first when it is set; numbered tells that the database's
// placeholders are $1, $2, ... (PostgreSQL), not ? (SQLite).
func newSQLNonces(ctx context.Context, db *sql.DB, table string, numbered bool, lock string) (*SQLNonces, error) {
	p := func(i int) string {
		if numbered {
			return fmt.Sprintf("$%d", i)
		}
		return "?"
	}
	if err := createNonceTable(ctx, db, table, lock); err != nil {
		db.Close()
		return nil, fmt.Errorf("open nonces: %w", err)
	}
	return &SQLNonces{
		db: db,
		// A recorded nonce that expired, but was not pruned yet, is
		// recorded anew.
		use: fmt.Sprintf(`INSERT INTO %[1]s (scope, nonce, binding, expires_ns) VALUES (%s, %s, %s, %s)
			ON CONFLICT (scope, nonce) DO UPDATE SET binding = excluded.binding, expires_ns = excluded.expires_ns
			WHERE %[1]s.expires_ns < %[6]s`, table, p(1), p(2), p(3), p(4), p(5)),
		get:   fmt.Sprintf(`SELECT binding FROM %s WHERE scope = %s AND nonce = %s`, table, p(1), p(2)),
		prune: fmt.Sprintf(`DELETE FROM %s WHERE expires_ns < %s`, table, p(1)),
	}, nil
}

func createNonceTable(ctx context.Context, db *sql.DB, table, lock string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if lock != "" {
		if _, err := tx.ExecContext(ctx, lock); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` `+nonceColumns); err != nil {
		return err
	}
	return tx.Commit()
}

// Use implements Nonces. Of two uses of one nonce at once, in this process
// or in two sharing the database, the first to commit records its binding
// and the other is told whether its own is the same.
func (n *SQLNonces) Use(ctx context.Context, scope, nonce, binding string, expires time.Time) (bool, error) {
	now := time.Now()
	n.pruneExpired(ctx, now)
	if _, err := n.db.ExecContext(ctx, n.use, scope, nonce, binding, expires.UnixNano(), now.UnixNano()); err != nil {
		return false, fmt.Errorf("use nonce: %w", err)
	}
	var got string
	if err := n.db.QueryRowContext(ctx, n.get, scope, nonce).Scan(&got); err != nil {
		return false, fmt.Errorf("use nonce: %w", err)
	}
	return got != binding, nil
}

// pruneExpired deletes expired nonces, at most once a minute.
func (n *SQLNonces) pruneExpired(ctx context.Context, now time.Time) {
	n.mu.Lock()
	due := now.Sub(n.lastPrune) > time.Minute
	if due {
		n.lastPrune = now
	}
	n.mu.Unlock()
	if due {
		_, _ = n.db.ExecContext(ctx, n.prune, now.UnixNano())
	}
}

// Close closes the database.
func (n *SQLNonces) Close() error { return n.db.Close() }

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
