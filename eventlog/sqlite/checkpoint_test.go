package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/sqlite"
)

// walSize returns the size of the WAL file of the database at path.
func walSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path + "-wal")
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestWALBounded appends many times the WAL's bound while a consumer group
// reads: the background checkpoints keep the WAL file small, truncate it
// once the log is idle, and lose nothing.
func TestWALBounded(t *testing.T) {
	const (
		maxWAL  = 1 << 20
		appends = 2000
		batch   = 10
	)
	path := dbPath(t)
	cfg := sqlite.Config{CheckpointInterval: time.Millisecond, MaxWAL: maxWAL}
	l := openLog(t, path, cfg)
	sub, err := l.Subscriber("g", eventlog.InFlight(100))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := sub.Subscribe(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	all := make(chan struct{})
	go func() {
		n := 0
		for m := range ch {
			m.Ack()
			if n++; n == appends*batch {
				close(all)
			}
		}
	}()

	payload := []byte(strings.Repeat("p", 1000))
	var ids []string
	var largest int64
	for i := range appends {
		msgs := make([]*message.Message, batch)
		for j := range msgs {
			id := fmt.Sprintf("m%05d-%02d", i, j)
			msgs[j] = message.NewMessage(id, payload)
			msgs[j].Metadata.Set(eventlog.DedupKey, id)
			ids = append(ids, id)
		}
		if _, err := l.Append(context.Background(), "t", msgs); err != nil {
			t.Fatal(err)
		}
		largest = max(largest, walSize(t, path))
	}
	appended := int64(appends * batch * len(payload))
	t.Logf("appended %d MB, largest WAL %.1f MB", appended>>20, float64(largest)/(1<<20))
	// Without checkpoints the WAL would hold all of it and more (index
	// pages): about 75 MB. It usually stays within a few times maxWAL; the
	// bound leaves room for a checkpointer slowed down by a busy machine.
	if largest > 32*maxWAL {
		t.Errorf("WAL reached %d bytes appending %d; want it bounded near %d", largest, appended, maxWAL)
	}
	select {
	case <-all:
	case <-time.After(wait):
		t.Fatal("the group did not get every message")
	}
	for deadline := time.Now().Add(wait); walSize(t, path) > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("WAL still %d bytes after the log went idle, want it truncated", walSize(t, path))
		}
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, path, cfg)
	if got := stored(t, l, "t"); !slices.Equal(got, ids) {
		t.Fatalf("after reopening the log holds %d messages, want the %d appended", len(got), len(ids))
	}
}
