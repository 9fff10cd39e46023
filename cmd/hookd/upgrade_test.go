package main

import (
	"compress/gzip"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/store"
)

// oldStore writes into a new data directory the store.db that the hookd of
// commit c331d1f (store schema version 6) left after taking the Mailjet
// fixtures of every type, with one job dead-lettered and its target
// suspended, and returns the directory.
func oldStore(t *testing.T) string {
	t.Helper()
	in, err := os.Open(filepath.Join("testdata", "upgrade", "store-c331d1f.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	out, err := os.OpenFile(filepath.Join(data, store.FileName), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return data
}

func schemaVersion(t *testing.T, data string) int {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(data, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOlderStoreBesideServer runs the commands that write to the store
// beside a running server on a store an older hookd made: that hookd may be
// the one running, so they refuse to migrate it (which would make its every
// write fail, and rule out going back to it) and say what to do, where a
// dry run migrated it. serve's open migrates it, and they work from then on.
func TestOlderStoreBesideServer(t *testing.T) {
	data := oldStore(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hookd.yaml")
	files := map[string]string{
		cfg: "data: " + data + "\nsources: [{ name: mailjet, provider: mailjet }]\nrules: [rules.yaml]\n",
		filepath.Join(dir, "rules.yaml"): `rules:
  - name: opens
    when: type == "open"
    actions:
      - log: { message: "{{ .email }}" }
`,
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	commands := []struct {
		name string
		args []string
	}{
		{"replay dry run", []string{"replay", "--since", "2015-01-01", "--dry-run"}},
		{"replay", []string{"replay", "--since", "2015-01-01"}},
		{"retry all", []string{"deadletters", "retry", "--all"}},
		{"resume all", []string{"deadletters", "resume", "--all"}},
		{"remove suppression", []string{"suppressions", "remove", "ann@example.com"}},
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runHookd(t, append(c.args, "--config", cfg)...)
			if err == nil || !strings.Contains(err.Error(), "store has version 6, this hookd needs") ||
				!strings.Contains(err.Error(), "run hookd serve once to migrate it") {
				t.Fatalf("%v: err = %v, want a refusal to migrate that says to run hookd serve", c.args, err)
			}
			if v := schemaVersion(t, data); v != 6 {
				t.Fatalf("%v migrated the store to schema version %d", c.args, v)
			}
		})
	}

	// As hookd serve opens it.
	st, err := store.Open(context.Background(), store.Config{Dir: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.Count(context.Background())
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err != nil || n != 7 {
		t.Fatalf("Count = %d, %v after the migration; want the 7 events of the old store", n, err)
	}
	out, _, err := runHookd(t, "replay", "--since", "2015-01-01", "--dry-run", "--config", cfg)
	if err != nil || !strings.Contains(out, "replayed 7 events") {
		t.Fatalf("replay --dry-run after the migration: %q, %v", out, err)
	}
}
