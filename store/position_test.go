package store_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/store"
)

// evaluated records the ids of the events it is asked to evaluate.
type evaluated struct {
	mu  sync.Mutex
	ids []string
}

func (e *evaluated) Evaluate(_ context.Context, _ *store.Tx, ev event.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ids = append(e.ids, ev.ID)
	return nil
}

func (e *evaluated) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := e.ids
	e.ids = nil
	return ids
}

// TestCatchUp restores store.db from a copy taken before the log's last
// events were projected, the log staying as it is: the store knows the
// offset it got to, CatchUp rewinds the store's group there, and the
// projector stores the missing events, evaluating each once and none that
// the copy held.
func TestCatchUp(t *testing.T) {
	ctx := context.Background()
	logDir, storeDir, copyDir := t.TempDir(), t.TempDir(), t.TempDir()
	openLog := func() eventlog.Log {
		t.Helper()
		log, err := eventlog.Open(ctx, eventlog.Config{Backend: "sqlite", Dir: logDir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return log
	}
	openStore := func() *store.Store {
		t.Helper()
		st, err := store.Open(ctx, store.Config{Driver: "sqlite", Dir: storeDir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	var events []event.Event
	for i := range 30 {
		events = append(events, ev(i, "open", fmt.Sprintf("u%d@x.com", i%3), base.Add(time.Duration(i)*time.Minute)))
	}
	var ev evaluated
	// project appends events to the log and runs the projector until the
	// store holds want events, then stops both; hookd serve stopped.
	project := func(events []event.Event, want int64) {
		t.Helper()
		log, st := openLog(), openStore()
		defer log.Close()
		defer st.Close()
		if behind, err := st.CatchUp(ctx, log); err != nil || len(behind) > 0 {
			t.Fatalf("CatchUp before projecting = %+v, %v; want nothing behind", behind, err)
		}
		for _, e := range events {
			if _, err := log.Append(ctx, eventlog.TopicEvents, []*message.Message{eventMessage(t, e)}); err != nil {
				t.Fatal(err)
			}
		}
		sub, err := log.Subscriber(store.Group, eventlog.InFlight(store.Batch))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- st.Run(runCtx, sub, &ev) }()
		waitFor(t, fmt.Sprintf("%d events stored", want), countIs(t, st, want))
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		sub.Close()
	}
	project(events[:20], 20)
	if got := ev.take(); !slices.Equal(got, ids(events[:20])) {
		t.Fatalf("evaluated %v, want the first 20 events", got)
	}
	copyFiles(t, storeDir, copyDir)
	project(events[20:], 30)
	ev.take()

	// Restore the copy: the store lacks the last 10 events, which the
	// log's consumer group has acked.
	copyFiles(t, copyDir, storeDir)
	log, st := openLog(), openStore()
	defer log.Close()
	defer st.Close()
	recs, err := log.(eventlog.Reader).Read(ctx, eventlog.TopicEvents, 0, 100)
	if err != nil || len(recs) != 30 {
		t.Fatalf("log holds %d events, %v; want 30", len(recs), err)
	}
	offsets, err := st.LogOffsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{eventlog.TopicEvents: recs[19].Offset}; fmt.Sprint(offsets) != fmt.Sprint(want) {
		t.Fatalf("LogOffsets of the copy = %v, want %v", offsets, want)
	}
	behind, err := st.CatchUp(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Behind{{Topic: eventlog.TopicEvents, Stored: recs[19].Offset, Acked: recs[29].Offset, Rewound: true}}
	if !slices.Equal(behind, want) {
		t.Fatalf("CatchUp = %+v, want %+v", behind, want)
	}
	log.Close()
	st.Close()
	project(nil, 30)
	if got := ev.take(); !slices.Equal(got, ids(events[20:])) {
		t.Fatalf("after catching up, evaluated %v, want the 10 events the copy lacked", got)
	}
}

// copyFiles replaces the store's files in to, store.db and its -wal and
// -shm files, by those in from, as a copy of hookd's stopped data
// directory would.
func copyFiles(t *testing.T, from, to string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		name := store.FileName + suffix
		if err := os.Remove(filepath.Join(to, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(from, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
