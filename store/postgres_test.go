package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
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
