package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/hookd/hookd/internal/testenv"
)

// TestPostgresWriterSession checks the writer's session settings on
// postgres: commits without waiting for the disk (see writerParams),
// while readers keep the server's default.
func TestPostgresWriterSession(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{Driver: "postgres", DSN: testenv.PostgresSchema(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		name string
		pool func() string
		want string
	}{
		{"writer", func() string { return show(t, s.db.write) }, "off"},
		{"reader", func() string { return show(t, s.db.read) }, "on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.pool(); got != tc.want {
				t.Errorf("synchronous_commit = %q, want %q", got, tc.want)
			}
		})
	}
}

func show(t *testing.T, db *sql.DB) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(context.Background(), `SHOW synchronous_commit`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
