package store_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/store"
)

// TestWALBounded commits one event at a time, as a projector without
// batches would, many times over the WAL's bound: the background
// checkpoints keep the WAL file small, truncate it once the store is idle,
// and lose nothing.
func TestWALBounded(t *testing.T) {
	sqliteOnly(t)
	const (
		maxWAL = 1 << 20
		events = 4000
	)
	ctx := context.Background()
	dir := t.TempDir()
	cfg := store.Config{Dir: dir, CheckpointInterval: time.Millisecond, MaxWAL: maxWAL}
	st, err := store.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db := filepath.Join(dir, store.FileName)
	var largest int64
	for i := range events {
		if err := st.Insert(ctx, ev(i, "open", "a@x.com", base.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
		largest = max(largest, testenv.WALSize(t, db))
	}
	t.Logf("largest WAL %.1f MB", float64(largest)/(1<<20))
	// Without checkpoints the WAL would hold every commit's pages, several
	// per event: over 130 MB. It usually stays within a few times maxWAL;
	// the bound, half of that, leaves room for a checkpointer slowed down
	// by a busy machine.
	if largest > 64*maxWAL {
		t.Errorf("WAL reached %d bytes; want it bounded near %d", largest, maxWAL)
	}
	for deadline := time.Now().Add(20 * time.Second); testenv.WALSize(t, db) > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("WAL still %d bytes after the store went idle, want it truncated", testenv.WALSize(t, db))
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openStore(t, dir)
	if n, err := st.Count(ctx); err != nil || n != events {
		t.Fatalf("Count after reopening = %d, %v; want %d", n, err, events)
	}
	want := ev(events-1, "open", "a@x.com", base.Add((events-1)*time.Second))
	if got, err := st.Event(ctx, want.ID); err != nil || !equalEvents(got, want) {
		t.Fatalf("Event after reopening = %+v, %v; want %+v", got, err, want)
	}
}

// TestCloseRemovesWAL closes a store whose WAL still holds commits the
// checkpointer has not copied, while its readers have connections open:
// Close copies them into store.db and removes the WAL, as the event log's
// Close does, so that a stopped hookd leaves no store.db-wal (up to
// MaxWAL) to be recovered at the next start, nor a store.db that holds
// less than the store without it.
func TestCloseRemovesWAL(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	dir := t.TempDir()
	// An interval longer than the test: no checkpoint before Close.
	st, err := store.Open(ctx, store.Config{Dir: dir, CheckpointInterval: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const events = 50
	for i := range events {
		if err := st.Insert(ctx, ev(i, "open", "a@x.com", base.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	// Queries leave the reader pool with open connections.
	if n, err := st.Count(ctx); err != nil || n != events {
		t.Fatalf("Count = %d, %v; want %d", n, err, events)
	}
	db := filepath.Join(dir, store.FileName)
	if testenv.WALSize(t, db) == 0 {
		t.Fatal("WAL empty before Close; the test needs commits left in it")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(db + suffix); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("store.db%s after Close: %v; want it removed", suffix, err)
		}
	}
	st = openStore(t, dir)
	if n, err := st.Count(ctx); err != nil || n != events {
		t.Fatalf("Count after reopening = %d, %v; want %d", n, err, events)
	}
}
