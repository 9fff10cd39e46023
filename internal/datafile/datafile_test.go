package datafile_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/hookd/hookd/internal/datafile"
)

// TestDSN opens, through DSN, a database in a directory whose name holds
// what a URI would parse ('?', '#', '%', a space): SQLite creates the file
// at that path, with the PRAGMAs applied.
func TestDSN(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20 d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x.db")
	db, err := sql.Open("sqlite", datafile.DSN(path, "journal_mode(WAL)"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not at %s: %v", path, err)
	}
}
