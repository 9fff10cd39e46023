package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog/sqlite"
)

// consume acks the next n messages of topic in group, then closes the
// subscriber, which writes the group's offset.
func consume(t *testing.T, l *sqlite.Log, group, topic string, n int) {
	t.Helper()
	sub := newSubscriber(t, l, group)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		select {
		case m := <-ch:
			m.Ack()
		case <-ctx.Done():
			t.Fatal("timed out waiting for a message")
		}
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
}

func trimAll(t *testing.T, l *sqlite.Log, topic string, before time.Time) int {
	t.Helper()
	total := 0
	for {
		n, err := l.Trim(context.Background(), topic, before, 2)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if n < 2 {
			return total
		}
	}
}

func TestTrim(t *testing.T) {
	l := openLog(t, dbPath(t), sqlite.Config{})
	ctx := context.Background()
	ms, ids := msgs("e", 10)
	if _, err := l.Append(ctx, "events", ms); err != nil {
		t.Fatal(err)
	}
	other, _ := msgs("o", 2)
	if _, err := l.Append(ctx, "other", other); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if n := trimAll(t, l, "events", future); n != 0 {
		t.Errorf("trimmed %d messages no group has processed", n)
	}
	consume(t, l, "a", "events", 4)
	consume(t, l, "b", "events", 6)
	if n := trimAll(t, l, "events", time.Now().Add(-time.Hour)); n != 0 {
		t.Errorf("trimmed %d messages appended after the cut-off", n)
	}
	if n := trimAll(t, l, "events", future); n != 4 {
		t.Errorf("trimmed %d messages, want the 4 both groups processed", n)
	}
	recs, err := l.Read(ctx, "events", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 6 || recs[0].Message.UUID != ids[4] {
		t.Errorf("after trimming, %d messages from %v, want 6 from %s", len(recs), recs[0].Message.UUID, ids[4])
	}
	consume(t, l, "a", "events", 6)
	consume(t, l, "b", "events", 4)
	if n := trimAll(t, l, "events", future); n != 5 {
		t.Errorf("trimmed %d messages, want all processed but the newest: 5", n)
	}
	recs, err = l.Read(ctx, "events", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Message.UUID != ids[9] {
		t.Errorf("kept %d messages, want the newest", len(recs))
	}
	if recs, _ := l.Read(ctx, "other", 0, 100); len(recs) != 2 {
		t.Errorf("another topic lost messages: %d left", len(recs))
	}
}
