package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/eventlogtest"
	"github.com/hookd/hookd/eventlog/sqlite"
)

// TestRewind moves a consumer group back after a restart: the group
// receives again the messages after the offset it was given, each with
// its offset in its metadata. A group that is behind, or has no offset,
// is left alone, and a group consumed in this process or another is
// refused.
func TestRewind(t *testing.T) {
	ctx := context.Background()
	path := dbPath(t)
	l := openLog(t, path, sqlite.Config{})
	ms, ids := msgs("m", 5)
	if _, err := l.Append(ctx, eventlog.TopicEvents, ms); err != nil {
		t.Fatal(err)
	}
	ch := subscribe(t, l, "g", eventlog.TopicEvents)
	var offsets []int64
	for i := range 5 {
		m := eventlogtest.Receive(t, ch)
		off, err := strconv.ParseInt(m.Metadata.Get(eventlog.OffsetKey), 10, 64)
		if err != nil || m.UUID != ids[i] {
			t.Fatalf("message %d: %s with offset %q, want %s with a number", i, m.UUID, m.Metadata.Get(eventlog.OffsetKey), ids[i])
		}
		offsets = append(offsets, off)
		m.Ack()
	}
	recs, err := l.Read(ctx, eventlog.TopicEvents, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Offset != offsets[i] {
			t.Fatalf("message %d delivered with offset %d, read at %d", i, offsets[i], r.Offset)
		}
	}
	if _, err := l.Rewind(ctx, eventlog.TopicEvents, "g", offsets[1]); !errors.Is(err, sqlite.ErrGroupActive) {
		t.Fatalf("Rewind of a group subscribed here = %v, want ErrGroupActive", err)
	}
	if err := l.Close(); err != nil { // writes the offset, releases the lease
		t.Fatal(err)
	}

	short := sqlite.Config{LeaseTTL: 300 * time.Millisecond}
	l = openLog(t, path, short)
	other := openLog(t, path, short)
	eventlogtest.ReceiveAck(t, subscribe(t, other, "busy", eventlog.TopicEvents), 5)
	// A copy of the file holds the lease of other, which nobody renews
	// there: Rewind waits it out. The acks are written within
	// FlushInterval (10 ms).
	time.Sleep(100 * time.Millisecond)
	copied := filepath.Join(t.TempDir(), sqlite.FileName)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`VACUUM INTO ?`, copied); err != nil {
		t.Fatal(err)
	}
	db.Close()
	start := time.Now()
	if from, err := openLog(t, copied, short).Rewind(ctx, eventlog.TopicEvents, "busy", offsets[1]); err != nil || from != offsets[4] {
		t.Fatalf("Rewind on a copy with a lease nobody renews = %d, %v; want %d", from, err, offsets[4])
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("Rewind on a copy returned after %s, before the copied lease expired", waited)
	}
	for _, tc := range []struct {
		name     string
		group    string
		to, from int64
		err      error
	}{
		{name: "back", group: "g", to: offsets[1], from: offsets[4]},
		{name: "already behind", group: "g", to: offsets[3], from: offsets[1]},
		{name: "no offset", group: "new", to: offsets[1], from: 0},
		{name: "consumed by another process", group: "busy", to: offsets[1], err: sqlite.ErrGroupActive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, err := l.Rewind(ctx, eventlog.TopicEvents, tc.group, tc.to)
			if !errors.Is(err, tc.err) || from != tc.from {
				t.Fatalf("Rewind(%s, %d) = %d, %v; want %d, %v", tc.group, tc.to, from, err, tc.from, tc.err)
			}
		})
	}
	// From the offset it was rewound to, not the one "already behind"
	// asked for.
	got := eventlogtest.ReceiveAck(t, subscribe(t, l, "g", eventlog.TopicEvents), 3)
	if want := ids[2:]; !slices.Equal(got, want) {
		t.Fatalf("after Rewind: %v, want %v", got, want)
	}
	lags, err := l.Lag(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range lags {
		if g.Group == "new" {
			t.Errorf("Rewind of a group without an offset made one: %+v", g)
		}
	}
}
