package walcheckpoint_test

import (
	"context"
	"database/sql"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/internal/walcheckpoint"
)

// wait bounds every wait of these tests, so that a broken test fails
// instead of hanging.
const wait = 15 * time.Second

// openDB opens the SQLite file at path on one connection running pragmas.
func openDB(t *testing.T, path string, pragmas ...string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?"+url.Values{"_pragma": pragmas}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return db
}

// messages is a slog.Handler that sends the message of every record.
type messages chan string

func (m messages) Enabled(context.Context, slog.Level) bool { return true }
func (m messages) WithAttrs([]slog.Attr) slog.Handler       { return m }
func (m messages) WithGroup(string) slog.Handler            { return m }
func (m messages) Handle(_ context.Context, r slog.Record) error {
	select {
	case m <- r.Message:
	default:
	}
	return nil
}

// TestTruncateAfterReader keeps a reader in the WAL when the writer goes
// idle: the TRUNCATE checkpoint cannot finish then, and must be tried again
// once the reader has left, not wait for the next commit.
func TestTruncateAfterReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	w := openDB(t, path, "journal_mode(WAL)", "wal_autocheckpoint(0)", "busy_timeout(5000)")
	r := openDB(t, path, "busy_timeout(5000)")
	for _, q := range []string{`CREATE TABLE t (x TEXT)`, `INSERT INTO t VALUES ('` + strings.Repeat("x", 10000) + `')`} {
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	rtx, err := r.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("count = %d, %v; want 1", n, err)
	}

	// The Checkpointer starts once the reader is in the WAL: started
	// before, it could empty the WAL first on a slow machine, and then
	// have nothing left to retry.
	var writer sync.Mutex
	logs := make(messages, 16)
	c := walcheckpoint.Start(openDB(t, path, "busy_timeout(50)"), walcheckpoint.Config{
		Interval: time.Millisecond, MaxWAL: 1 << 20, FrameBytes: 4096 + 24, LastPassBytes: 1 << 20,
		Writer: &writer, Logger: slog.New(logs),
	})
	defer c.Stop()
	c.Kick()
	for deadline := time.After(wait); ; {
		select {
		case msg := <-logs:
			if !strings.Contains(msg, "not truncated") {
				continue
			}
		case <-deadline:
			t.Fatal("no TRUNCATE checkpoint found the reader in the WAL")
		}
		break
	}
	if size := testenv.WALSize(t, path); size == 0 {
		t.Fatal("the WAL was truncated under a reader")
	}
	if err := rtx.Rollback(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(wait); testenv.WALSize(t, path) > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("WAL still %d bytes after the reader left, want it truncated", testenv.WALSize(t, path))
		}
	}
}

// TestFailuresCounted closes the Checkpointer's connection under it: each
// checkpoint after a commit fails, is logged, and counted in Failures.
func TestFailuresCounted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	w := openDB(t, path, "journal_mode(WAL)", "wal_autocheckpoint(0)")
	if _, err := w.Exec(`CREATE TABLE t (x TEXT)`); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, path, "busy_timeout(50)")
	var writer sync.Mutex
	logs := make(messages, 16)
	c := walcheckpoint.Start(db, walcheckpoint.Config{
		Interval: time.Millisecond, MaxWAL: 1 << 20, FrameBytes: 4096 + 24, LastPassBytes: 1 << 20,
		Writer: &writer, Logger: slog.New(logs),
	})
	defer c.Stop()
	if n := c.Failures(); n != 0 {
		t.Fatalf("Failures() = %d before any checkpoint", n)
	}
	db.Close()
	for range 2 {
		before := c.Failures()
		c.Kick()
		for deadline := time.Now().Add(wait); c.Failures() == before; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("Failures() stays %d after a checkpoint on a closed connection", before)
			}
		}
	}
	select {
	case msg := <-logs:
		if msg != "sqlite checkpoint failed" {
			t.Errorf("logged %q, want the outage", msg)
		}
	default:
		t.Error("the failure was not logged")
	}
}
