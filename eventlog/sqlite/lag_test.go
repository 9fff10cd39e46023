package sqlite_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/eventlogtest"
	"github.com/hookd/hookd/eventlog/sqlite"
)

// TestLag checks that Lag counts, per topic and consumer group, the
// messages after the last one acked, and gives that one's offset: from the
// acks in memory while the group runs here, and from the offsets table for
// a group another Log (here, the one before a restart) left.
func TestLag(t *testing.T) {
	ctx := context.Background()
	path := dbPath(t)
	l := openLog(t, path, sqlite.Config{})
	lagOf := func(l *sqlite.Log) string {
		t.Helper()
		lags, err := l.Lag(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range lags {
			out = append(out, fmt.Sprintf("%s/%s=%d@%d", g.Topic, g.Group, g.Messages, g.Acked))
		}
		sort.Strings(out)
		return fmt.Sprint(out)
	}
	// Acks reach the cursor asynchronously: wait for the lag expected.
	waitLag := func(l *sqlite.Log, want, when string) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for got := lagOf(l); got != want; got = lagOf(l) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: lag %s, want %s", when, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got := lagOf(l); got != "[]" {
		t.Fatalf("new log: lag %s, want none", got)
	}
	ms, _ := msgs("m", 5)
	if _, err := l.Append(ctx, eventlog.TopicEvents, ms); err != nil {
		t.Fatal(err)
	}
	fast := subscribe(t, l, "fast", eventlog.TopicEvents)
	slow := subscribe(t, l, "slow", eventlog.TopicEvents)
	eventlogtest.ReceiveAck(t, fast, 5)
	eventlogtest.ReceiveAck(t, slow, 2)
	waitLag(l, "[events/fast=0@5 events/slow=3@2]", "acked 5 and 2")
	more, _ := msgs("n", 2)
	if _, err := l.Append(ctx, eventlog.TopicEvents, more); err != nil {
		t.Fatal(err)
	}
	waitLag(l, "[events/fast=2@5 events/slow=5@2]", "2 more appended")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened: no subscriber here, the lag comes from the offsets written.
	l = openLog(t, path, sqlite.Config{})
	waitLag(l, "[events/fast=2@5 events/slow=5@2]", "reopened")
}
