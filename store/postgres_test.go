package store_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/internal/pgconf"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/store"
)

// TestPostgresOpen checks what is particular to opening a store on
// PostgreSQL: a read-only store needs the schema migrated, sees what the
// writer stored, and refuses writes; a bad connection string or server is
// an error that shows no password.
func TestPostgresOpen(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresSchema(t)
	if _, err := store.Open(ctx, store.Config{Driver: "postgres", DSN: dsn, ReadOnly: true}, nil); err == nil ||
		!strings.Contains(err.Error(), "schema") {
		t.Errorf("read-only Open of an empty schema = %v, want a schema error", err)
	}
	w, err := store.Open(ctx, store.Config{Driver: "postgres", DSN: dsn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	e := event.Event{ID: "e1", Source: "mailjet", Provider: "mailjet", Type: "open", Time: time.Unix(1700000000, 0).UTC(),
		Email: "A@Example.com", Domain: "example.com", Data: []byte(`{"x":1}`)}
	if err := w.Insert(ctx, e, e); err != nil {
		t.Fatal(err)
	}
	r, err := store.Open(ctx, store.Config{Driver: "postgres", DSN: dsn, ReadOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.Event(ctx, "e1")
	if err != nil || got.Email != "a@example.com" || !got.Time.Equal(e.Time) {
		t.Errorf("Event = %+v, %v", got, err)
	}
	if err := r.Insert(ctx, event.Event{ID: "e2"}); err == nil {
		t.Error("Insert on a read-only store succeeded")
	}

	for _, bad := range []string{
		"postgres://hookd:s3cret-pass@127.0.0.1:1/x?sslmode=disable&connect_timeout=2",
		"postgres://hookd:s3cret-pass@[::1", // unparsable
	} {
		_, err := store.Open(ctx, store.Config{Driver: "postgres", DSN: bad}, nil)
		if err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		} else if strings.Contains(err.Error(), "s3cret-pass") {
			t.Errorf("Open error shows the password: %v", err)
		}
	}
}

// TestPostgresNoSchema opens a store whose DSN's search_path names no
// schema that exists: Open says so, rather than PostgreSQL's "no schema
// has been selected to create in" from the migration.
func TestPostgresNoSchema(t *testing.T) {
	dsn := testenv.WithSearchPath(t, testenv.PostgresDSN(t), "hookd_test_none_"+testenv.Random())
	for _, readOnly := range []bool{false, true} {
		_, err := store.Open(context.Background(), store.Config{Driver: "postgres", DSN: dsn, ReadOnly: readOnly}, nil)
		if !errors.Is(err, pgconf.ErrNoSchema) {
			t.Errorf("Open (read-only: %v) = %v, want %v", readOnly, err, pgconf.ErrNoSchema)
		}
	}
}

// TestUnavailable: an error that says the database cannot be reached now
// is an outage, one that says it refused the query, or that the caller
// gave up, is not.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	_, refused := pgconn.Connect(ctx, "postgres://hookd@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if refused == nil {
		t.Fatal("connected to port 1")
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", fmt.Errorf("events: %w", refused), true},
		{"terminated by an administrator", &pgconn.PgError{Code: "57P01"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"bad connection", fmt.Errorf("events: %w", driver.ErrBadConn), true},
		{"connection cut", fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), true},
		{"network", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, true},
		{"deadline", fmt.Errorf("events: %w", context.DeadlineExceeded), true},
		{"caller gone", fmt.Errorf("events: %w", context.Canceled), false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"invalid parameter", &store.QueryError{Param: "limit", Problem: "too large"}, false},
		{"anything else", errors.New("boom"), false},
	} {
		if got := store.Unavailable(tc.err); got != tc.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
