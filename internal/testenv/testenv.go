// Package testenv gives tests the real servers the environment names:
// PostgreSQL through HOOKD_TEST_POSTGRES_DSN and NATS JetStream through
// HOOKD_TEST_NATS_URL. A test skips, saying how to enable it, when its
// variable is unset, and fails when the variable is set and the server does
// not answer, so that CI, which sets both, never passes by skipping. Each
// test gets storage of its own (a schema, a stream prefix), removed when it
// ends. It also holds the few helpers that tests of several packages share,
// such as WALSize for the SQLite files.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	natsgo "github.com/nats-io/nats.go"
)

// Variables that name the servers.
const (
	PostgresVar = "HOOKD_TEST_POSTGRES_DSN"
	NATSVar     = "HOOKD_TEST_NATS_URL"
)

// PostgresDSN returns the DSN of HOOKD_TEST_POSTGRES_DSN, skipping t when
// it is unset and failing it when the server does not answer.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresVar)
	if dsn == "" {
		t.Skipf("PostgreSQL tests skipped: set %s, e.g. %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable", PostgresVar, PostgresVar)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("%s is set but PostgreSQL does not answer: %v", PostgresVar, err)
	}
	conn.Close(ctx)
	return dsn
}

// PostgresSchema creates a new schema on the server of HOOKD_TEST_POSTGRES_DSN
// (skipping or failing t as PostgresDSN does), drops it when t ends, and
// returns a DSN whose connections work in it.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	dsn := PostgresDSN(t)
	schema := "hookd_test_" + Random()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(t, dsn, schema)
}

// WithSearchPath returns dsn, a URL, with search_path set to schema.
func WithSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		t.Fatalf("%s must be a URL (postgres://...)", PostgresVar)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// NATSURL returns the URL of HOOKD_TEST_NATS_URL, skipping t when it is
// unset and failing it when the server or its JetStream does not answer.
func NATSURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(NATSVar)
	if u == "" {
		t.Skipf("NATS tests skipped: set %s, e.g. %s=nats://127.0.0.1:4222 (nats-server -js)", NATSVar, NATSVar)
	}
	nc, err := natsgo.Connect(u, natsgo.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("%s is set but NATS does not answer: %v", NATSVar, err)
	}
	defer nc.Close()
	js, err := nc.JetStream(natsgo.MaxWait(5 * time.Second))
	if err == nil {
		_, err = js.AccountInfo()
	}
	if err != nil {
		t.Fatalf("%s is set but JetStream does not answer (run nats-server with -js): %v", NATSVar, err)
	}
	// A stream that is never deleted: when the account's last stream is
	// deleted, nats-server removes the account's storage directory, and a
	// stream another test creates at that moment fails with "could not
	// create storage directory" (seen in CI with tests of two packages at
	// once).
	_, err = js.AddStream(&natsgo.StreamConfig{Name: anchorStream, Subjects: []string{anchorStream}, MaxMsgs: 1})
	if err != nil && !errors.Is(err, natsgo.ErrStreamNameAlreadyInUse) {
		t.Fatalf("create the test anchor stream on %s: %v", NATSVar, err)
	}
	return u
}

// anchorStream keeps the test account's JetStream storage in place.
const anchorStream = "hookd_test_anchor"

// NATSPrefix returns a new stream prefix on the server of
// HOOKD_TEST_NATS_URL (skipping or failing t as NATSURL does) and deletes
// the streams that start with it when t ends, those of a longer prefix
// that starts with it included.
func NATSPrefix(t testing.TB) (natsURL, prefix string) {
	t.Helper()
	natsURL = NATSURL(t)
	prefix = "t" + Random()
	t.Cleanup(func() {
		nc, err := natsgo.Connect(natsURL, natsgo.Timeout(5*time.Second))
		if err != nil {
			t.Errorf("delete streams %s*: %v", prefix, err)
			return
		}
		defer nc.Close()
		js, err := nc.JetStream(natsgo.MaxWait(10 * time.Second))
		if err != nil {
			t.Errorf("delete streams %s*: %v", prefix, err)
			return
		}
		var names []string
		for name := range js.StreamNames() {
			if strings.HasPrefix(name, prefix) {
				names = append(names, name)
			}
		}
		for _, name := range names {
			if err := js.DeleteStream(name); err != nil {
				t.Errorf("delete stream %s: %v", name, err)
			}
		}
	})
	return natsURL, prefix
}

// Random returns 12 random hex digits, for names no other run uses.
func Random() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("random: %v", err))
	}
	return hex.EncodeToString(b)
}

// WALSize returns the size in bytes of the write-ahead log of the SQLite
// database file db, 0 when it has none, and fails t when it cannot tell.
func WALSize(t testing.TB, db string) int64 {
	t.Helper()
	st, err := os.Stat(db + "-wal")
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// Buffer is a bytes.Buffer that goroutines may write concurrently while a
// test reads it: the destination of a logger under test.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Silent returns the address of a server that takes every connection and
// never answers, as a database that hangs does, until the test ends.
func Silent(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// LockSQLite takes the write lock of the SQLite database at path on a
// connection of its own, as another process could, and returns what lets
// it go; the test's end lets it go too. The caller imports a package that
// registers the "sqlite" driver.
func LockSQLite(t testing.TB, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
	}
}
