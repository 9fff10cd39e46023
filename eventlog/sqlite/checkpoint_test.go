package sqlite_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/eventlogtest"
	"github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/internal/testenv"
)

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
		largest = max(largest, testenv.WALSize(t, path))
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
	for deadline := time.Now().Add(wait); testenv.WALSize(t, path) > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("WAL still %d bytes after the log went idle, want it truncated", testenv.WALSize(t, path))
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

// TestIdleWAL keeps a consumer group subscribed to an idle log: its lease
// renewals are commits too, and the checkpoints after them keep the WAL
// from growing by a renewal's pages each time.
func TestIdleWAL(t *testing.T) {
	const (
		leaseTTL = 60 * time.Millisecond // a renewal every 20 ms
		idleFor  = 2 * time.Second
	)
	path := dbPath(t)
	l := openLog(t, path, sqlite.Config{CheckpointInterval: time.Millisecond, LeaseTTL: leaseTTL})
	ch := subscribe(t, l, "g", "t")
	if err := l.Publish("t", msg("m", "m")); err != nil {
		t.Fatal(err)
	}
	eventlogtest.ReceiveAck(t, ch, 1)

	var largest int64
	for end := time.Now().Add(idleFor); time.Now().Before(end); time.Sleep(time.Millisecond) {
		largest = max(largest, testenv.WALSize(t, path))
	}
	t.Logf("largest WAL while idle: %d bytes", largest)
	// Unchecked, the WAL would grow by a page a renewal: about 400 KB in
	// idleFor. Checkpointed, it holds one renewal's page, or a few when a
	// busy machine holds the checkpointer up.
	if largest > 128<<10 {
		t.Errorf("WAL reached %d bytes while the log was idle; want it bounded", largest)
	}
	for deadline := time.Now().Add(wait); testenv.WALSize(t, path) > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("WAL still %d bytes while the log is idle, want it truncated between renewals", testenv.WALSize(t, path))
		}
	}
}
