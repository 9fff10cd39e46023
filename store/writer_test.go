package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/hookd/hookd/internal/testenv"
)

// TestPostgresWriterSession checks the writer's session settings on
// postgres: with AsyncCommit, commits without waiting for the disk (see
// asyncCommit); without, and always for readers, the server's default.
func TestPostgresWriterSession(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name                string
		async               bool
		wantWrite, wantRead string
	}{
		{"default", false, "on", "on"},
		{"async commit", true, "off", "on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, Config{Driver: "postgres", DSN: testenv.PostgresSchema(t), AsyncCommit: tc.async}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := show(t, s.db.write); got != tc.wantWrite {
				t.Errorf("writer synchronous_commit = %q, want %q", got, tc.wantWrite)
			}
			if got := show(t, s.db.read); got != tc.wantRead {
				t.Errorf("reader synchronous_commit = %q, want %q", got, tc.wantRead)
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
