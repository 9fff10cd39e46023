package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hookd/hookd/internal/pgconf"
)

// openPostgres opens the database cfg.DSN names: a writer pool of one
// connection, as with sqlite, so that the writes of this process queue in
// Go, and a pool of readers. Across processes, write transactions take
// the dialect's lock (see postgresDialect). Commits are durable as the
// server makes them.
func openPostgres(ctx context.Context, cfg Config) (*db, error) {
	if cfg.DSN == "" {
		return nil, errors.New("postgres: no dsn")
	}
	pc, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid dsn: %s", pgconf.Reason(err))
	}
	pgconf.Defaults(&pc.Config)
	open := func(n int, params map[string]string) (*sql.DB, error) {
		cc := pc.Copy()
		for k, v := range params {
			cc.RuntimeParams[k] = v
		}
		d := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cc)})
		d.SetMaxOpenConns(n)
		d.SetMaxIdleConns(n)
		var schema *string
		if err := d.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			d.Close()
			return nil, fmt.Errorf("postgres: connect to %s: %w", pgconf.Addr(&pc.Config), err)
		}
		if schema == nil {
			d.Close()
			return nil, fmt.Errorf("postgres: %s: %w", pgconf.Addr(&pc.Config), pgconf.ErrNoSchema)
		}
		return d, nil
	}
	d := &db{dialect: postgresDialect}
	if !cfg.ReadOnly {
		var params map[string]string
		if cfg.AsyncCommit {
			params = asyncCommit
		}
		if d.write, err = open(1, params); err != nil {
			return nil, err
		}
	}
	if d.read, err = open(max(4, runtime.GOMAXPROCS(0)), nil); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// rebindConnector makes connections that take the store's ? placeholders:
// it rewrites them to PostgreSQL's $1, $2, ... before pgx sees the query.
type rebindConnector struct{ driver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &rebindConn{conn.(*stdlib.Conn)}, nil
}

// rebindConn is pgx's connection with its query methods rebinding.
type rebindConn struct{ *stdlib.Conn }

func (c *rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c *rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c *rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c *rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

// CheckNamedValue makes a string argument one that PostgreSQL's text
// holds: text can hold neither a NUL character nor bytes that are not
// UTF-8, and a statement given one fails. An event field may hold NUL (a
// JSON sender's "\u0000"), a header may hold any byte, and a query
// parameter may hold either; each such character or run of bytes becomes
// U+FFFD, in what is stored and in what is looked up alike, so that the
// event is stored (a projector that could not store it would retry it for
// ever, and store nothing after it) and a lookup with the value as sent
// finds it. SQLite keeps such text as it is.
func (c *rebindConn) CheckNamedValue(nv *driver.NamedValue) error {
	if s, ok := nv.Value.(string); ok {
		nv.Value = pgText(s)
	}
	return c.Conn.CheckNamedValue(nv)
}

// pgText returns s with each NUL character and each run of bytes that are
// not UTF-8 replaced by U+FFFD.
func pgText(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// rebound caches rebind's answers: the store runs a few queries many times.
var rebound sync.Map

// rebind replaces each ? placeholder of query with $1, $2, ..., leaving
// string literals, quoted identifiers and comments alone.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	if q, ok := rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(query) && query[j] != c {
				j++
			}
			b.WriteString(query[i:min(j+1, len(query))])
			i = j
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i
			}
			b.WriteString(query[i : i+j])
			i += j - 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	q := b.String()
	rebound.Store(query, q)
	return q
}

// asyncCommit are the writer's session settings with Config.AsyncCommit:
// a commit returns before its WAL reaches the disk, and the projector's
// commit per event costs no fsync. It is safe when the event log is in the same server: the log's
// consumer offsets, committed synchronously after the store's commits,
// flush the WAL that holds them, so a crash of the server never keeps an
// offset without the store's writes before it.
var asyncCommit = map[string]string{"synchronous_commit": "off"}
