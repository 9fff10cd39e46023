// Package eventlogtest is the conformance suite that every event log backend
// runs: watermill's universal Pub/Sub suite (tests.TestPubSub) and hookd's
// own checks of the eventlog.Log contract (Append's deduplication, order per
// key, redelivery of what was not acked, consumer groups shared between
// processes, Trim). A backend's test calls Run with a Backend that opens its logs.
package eventlogtest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/hookd/hookd/eventlog"
)

// Wait bounds every single wait of the suite, so that a broken backend fails
// instead of hanging. It is not a timing assertion: nothing should come
// close to it.
const Wait = 30 * time.Second

// Backend is what the suite needs of a backend.
type Backend struct {
	// Name is the name the backend registers under with eventlog.Register.
	Name string
	// Open opens a Log on the storage that name identifies: the Logs of
	// one name share their messages as separate processes on one database
	// or server would, and those of different names share nothing. Names
	// repeat between runs of the suite, so the backend makes the storage
	// fresh per run (a temporary file, a schema, a stream prefix). Open
	// fails t itself and closes the Log when t ends.
	Open func(t *testing.T, name string) eventlog.Log
	// Features are the backend's watermill features. The suite's plain
	// constructor keeps one consumer group across calls, so leave
	// NewSubscriberReceivesOldMessages false: the suite tests it on its
	// own, with a new group per subscriber.
	Features tests.Features
	// TrimKeepsKeys tells that the DedupKey of a message Trim deleted is
	// still recognised (nats: JetStream's duplicates window); without it,
	// a message with that key is appended again (sqlite, postgres: the key
	// goes with its message).
	TrimKeepsKeys bool
}

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, b Backend) {
	t.Run("PubSub", func(t *testing.T) { PubSub(t, b) })
	t.Run("NewGroupReceivesOldMessages", func(t *testing.T) { NewGroupReceivesOldMessages(t, b) })
	t.Run("RoundTrip", func(t *testing.T) { RoundTrip(t, b) })
	t.Run("AppendDedup", func(t *testing.T) { AppendDedup(t, b) })
	t.Run("LargeAppend", func(t *testing.T) { LargeAppend(t, b) })
	t.Run("OrderPerKey", func(t *testing.T) { OrderPerKey(t, b) })
	t.Run("Redelivery", func(t *testing.T) { Redelivery(t, b) })
	t.Run("ConsumerGroups", func(t *testing.T) { ConsumerGroups(t, b) })
	t.Run("Ping", func(t *testing.T) { Ping(t, b) })
	t.Run("Lag", func(t *testing.T) { Lag(t, b) })
	t.Run("Registered", func(t *testing.T) { Registered(t, b) })
	t.Run("Trim", func(t *testing.T) { Trim(t, b) })
}

// Registered checks that the backend is registered under its name.
func Registered(t *testing.T, b Backend) {
	if !slices.Contains(eventlog.Backends(), b.Name) {
		t.Fatalf("no backend registered as %q (registered: %v)", b.Name, eventlog.Backends())
	}
}

// Trim checks that Trim deletes the old messages every group acked and
// keeps the others: those appended after its cut-off, those a group has not
// acked, and the newest; that two Logs (replicas) trimming at once delete
// each message once; that a topic no one used has nothing to trim; and
// what becomes of the dedup keys (see Backend.TrimKeepsKeys).
func Trim(t *testing.T, b Backend) {
	ctx := context.Background()
	name := t.Name()
	l1, l2 := b.Open(t, name), b.Open(t, name)
	// The messages are appended now: a cut-off an hour on is after all
	// of them, an hour ago before all of them.
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	appendIDs := func(ids ...string) {
		t.Helper()
		var ms []*message.Message
		for _, id := range ids {
			ms = append(ms, Msg(id, "key-"+id))
		}
		if _, err := l1.Append(ctx, "t", ms); err != nil {
			t.Fatal(err)
		}
	}
	// trimUntil trims with a limit of 1 from both Logs at once until they
	// deleted want messages in all, bounded by Wait: acks reach some
	// backends asynchronously. Then a further Trim deletes nothing.
	trimUntil := func(before time.Time, want int) {
		t.Helper()
		var (
			mu    sync.Mutex
			total int
			errs  []error
			wg    sync.WaitGroup
		)
		deadline := time.Now().Add(Wait)
		for _, l := range []eventlog.Log{l1, l2} {
			wg.Go(func() {
				for {
					n, err := l.Trim(ctx, "t", before, 1)
					mu.Lock()
					total += n
					if err != nil {
						errs = append(errs, err)
					}
					done := total >= want || err != nil || time.Now().After(deadline)
					mu.Unlock()
					if done {
						return
					}
					if n == 0 {
						time.Sleep(20 * time.Millisecond)
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			t.Fatal(err)
		}
		if total != want {
			t.Fatalf("Trim deleted %d messages, want %d", total, want)
		}
		for _, l := range []eventlog.Log{l1, l2} {
			if n, err := l.Trim(ctx, "t", before, 100); err != nil || n != 0 {
				t.Fatalf("Trim once all were trimmed = %d, %v; want 0", n, err)
			}
		}
	}

	if n, err := l1.Trim(ctx, "unused", future, 100); err != nil || n != 0 {
		t.Fatalf("Trim of a topic no one used = %d, %v; want 0, nil", n, err)
	}
	appendIDs("a0", "a1", "a2", "a3")
	g := Subscribe(t, l1, "g", "t")
	h := Subscribe(t, l2, "h", "t")
	ReceiveAck(t, g, 4)
	ReceiveAck(t, h, 4)
	appendIDs("b0", "b1", "b2", "b3")
	// g acks the b messages; h receives b0 and does not ack it yet.
	ReceiveAck(t, g, 4)
	m := Receive(t, h)
	if m.UUID != "b0" {
		t.Fatalf("group h got %s, want b0", m.UUID)
	}
	trimUntil(past, 0)   // too recent
	trimUntil(future, 4) // a0-a3; h holds the b messages back
	// Once h acks them too, all go but the newest.
	m.Ack()
	ReceiveAck(t, h, 3)
	trimUntil(future, 3)
	if got := stored(t, l1, "t"); !slices.Equal(got, []string{"b3"}) {
		t.Errorf("after trimming, the topic holds %v, want [b3]", got)
	}
	dup, err := l2.Append(ctx, "t", []*message.Message{Msg("retry-b3", "key-b3"), Msg("retry-a0", "key-a0")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, b.TrimKeepsKeys}; !slices.Equal(dup, want) {
		t.Errorf("a retry of a message kept and one of a message trimmed: dup = %v, want %v", dup, want)
	}
}

// PubSub runs watermill's universal suite. Every constructor call opens a
// new Log on the storage of the calling test, as another process would.
func PubSub(t *testing.T, b Backend) {
	tests.TestPubSub(t, b.Features,
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			return groupPubSub(t, b, "default")
		},
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return groupPubSub(t, b, group)
		})
}

func groupPubSub(t *testing.T, b Backend, group string) (message.Publisher, message.Subscriber) {
	l := b.Open(t, t.Name())
	sub, err := l.Subscriber(group)
	if err != nil {
		t.Fatal(err)
	}
	return publisher{l}, sub
}

// publisher is a Log's Publisher whose Close leaves the Log open: the suite
// closes publishers before it subscribes.
type publisher struct{ l eventlog.Log }

func (p publisher) Publish(topic string, msgs ...*message.Message) error {
	return p.l.Publish(topic, msgs...)
}

func (publisher) Close() error { return nil }

// NewGroupReceivesOldMessages runs watermill's test of the feature with a
// new consumer group per subscriber: a new group starts at the first
// message.
func NewGroupReceivesOldMessages(t *testing.T, b Backend) {
	f := b.Features
	f.NewSubscriberReceivesOldMessages = true
	tests.TestNewSubscriberReceivesOldMessages(t, tests.TestContext{TestID: tests.NewTestID(), Features: f},
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			return groupPubSub(t, b, "group_"+watermill.NewShortUUID())
		})
}

// Msg returns a message with id as UUID and payload and, unless key is
// empty, key as its eventlog.DedupKey.
func Msg(id, key string) *message.Message {
	m := message.NewMessage(id, []byte("payload of "+id))
	if key != "" {
		m.Metadata.Set(eventlog.DedupKey, key)
	}
	return m
}

// Subscribe subscribes a new subscriber of l in group to topic; both end
// with t.
func Subscribe(t *testing.T, l eventlog.Log, group, topic string) <-chan *message.Message {
	t.Helper()
	sub, err := l.Subscriber(group)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		_ = sub.Close()
	})
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// Receive returns the next message of ch, failing t after Wait.
func Receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed, want a message")
		}
		return m
	case <-time.After(Wait):
		t.Fatalf("no message within %s", Wait)
	}
	return nil
}

// ReceiveAck receives n messages, acks each and returns their UUIDs.
func ReceiveAck(t *testing.T, ch <-chan *message.Message, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for range n {
		m := Receive(t, ch)
		ids = append(ids, m.UUID)
		m.Ack()
	}
	return ids
}

// stored reads the UUIDs of every message of topic through a new consumer
// group, up to a sentinel it appends.
func stored(t *testing.T, l eventlog.Log, topic string) []string {
	t.Helper()
	sentinel := "sentinel-" + watermill.NewShortUUID()
	if err := l.Publish(topic, Msg(sentinel, "")); err != nil {
		t.Fatal(err)
	}
	ch := Subscribe(t, l, "read_"+watermill.NewShortUUID(), topic)
	var ids []string
	for {
		m := Receive(t, ch)
		m.Ack()
		if m.UUID == sentinel {
			return ids
		}
		ids = append(ids, m.UUID)
	}
}

// RoundTrip checks that a message comes back as it was appended: a UUID as
// long as hookd's event ids, a payload of any bytes, metadata.
func RoundTrip(t *testing.T, b Backend) {
	l := b.Open(t, t.Name())
	id := "mailjet-" + strings.Repeat("0123456789abcdef", 12)
	payload := []byte{0, 1, 2, 0xff, 0xfe, '{', '"', '\n'}
	m := message.NewMessage(id, payload)
	m.Metadata.Set(eventlog.DedupKey, id)
	m.Metadata.Set("source", "mailjet")
	if _, err := l.Append(context.Background(), "t", []*message.Message{m}); err != nil {
		t.Fatal(err)
	}
	got := Receive(t, Subscribe(t, l, "g", "t"))
	got.Ack()
	if got.UUID != id || !bytes.Equal(got.Payload, payload) ||
		got.Metadata.Get("source") != "mailjet" || got.Metadata.Get(eventlog.DedupKey) != id {
		t.Errorf("got %q %q %v, want %q %q with its metadata", got.UUID, got.Payload, got.Metadata, id, payload)
	}
}

// Ping checks that the backend is an eventlog.Pinger whose Ping answers nil
// while the Log is open, also while another Log on the same storage holds
// messages, and an error once it is closed.
func Ping(t *testing.T, b Backend) {
	l := b.Open(t, t.Name())
	p, ok := l.(eventlog.Pinger)
	if !ok {
		t.Fatalf("%T is not an eventlog.Pinger", l)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("Ping of an open log: %v", err)
	}
	other := b.Open(t, t.Name())
	if _, err := other.Append(ctx, "t", []*message.Message{Msg("a", "a")}); err != nil {
		t.Fatal(err)
	}
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("Ping beside another log: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Ping(ctx); err == nil {
		t.Fatal("Ping of a closed log answered nil")
	}
}

// Lag checks that the backend is an eventlog.Lagger that counts, per topic
// and consumer group, the messages after the last one the group acked: a
// message delivered and not acked yet counts (on PostgreSQL, until the
// subscriber's batch is all acked). A Log on the storage that has used no
// topic yet, as hookd serve at start-up, reports the groups of
// eventlog.Topics with the last message they acked.
func Lag(t *testing.T, b Backend) {
	l := b.Open(t, t.Name())
	lg, ok := l.(eventlog.Lagger)
	if !ok {
		t.Fatalf("%T is not an eventlog.Lagger", l)
	}
	ctx := context.Background()
	appendN := func(topic, prefix string, n int) {
		t.Helper()
		msgs := make([]*message.Message, n)
		for i := range msgs {
			id := fmt.Sprintf("%s%d", prefix, i)
			msgs[i] = Msg(id, id)
		}
		if _, err := l.Append(ctx, topic, msgs); err != nil {
			t.Fatal(err)
		}
	}
	// Acks reach the backend asynchronously: wait for the lag expected
	// of topic's groups.
	waitLag := func(lg eventlog.Lagger, topic, want, when string) {
		t.Helper()
		var got string
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			lags, err := lg.Lag(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, g := range lags {
				if g.Topic != topic {
					continue
				}
				part := fmt.Sprintf("%s/%s=%d", g.Topic, g.Group, g.Messages)
				if g.Acked <= 0 {
					part += "(none acked)"
				}
				parts = append(parts, part)
			}
			slices.Sort(parts)
			if got = strings.Join(parts, " "); got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: lag %q, want %q", when, got, want)
			}
		}
	}
	appendN(eventlog.TopicEvents, "e", 3)
	ReceiveAck(t, Subscribe(t, l, "fast", eventlog.TopicEvents), 3)
	waitLag(lg, eventlog.TopicEvents, eventlog.TopicEvents+"/fast=0", "3 events acked")
	fresh, ok := b.Open(t, t.Name()).(eventlog.Lagger)
	if !ok {
		t.Fatal("a second Log is not an eventlog.Lagger")
	}
	waitLag(fresh, eventlog.TopicEvents, eventlog.TopicEvents+"/fast=0", "a Log that has not used the topic")
	waitLag(fresh, eventlog.TopicQuarantine, "", "a topic no Log has used")

	// Another topic's messages appended after a group's ack are not its
	// lag. The last is acked after, since on PostgreSQL a message in
	// flight holds back what other subscribers read next.
	appendN("v", "p", 2)
	lone := Subscribe(t, l, "lone", "v")
	ReceiveAck(t, lone, 2)
	waitLag(lg, "v", "v/lone=0", "2 acked")
	appendN("w", "x", 4)
	appendN("v", "q", 1)
	waitLag(lg, "v", "v/lone=1", "another topic's messages in between")
	ReceiveAck(t, lone, 1)

	appendN("t", "m", 5)
	fast, slow := Subscribe(t, l, "fast", "t"), Subscribe(t, l, "slow", "t")
	ReceiveAck(t, fast, 5)
	ReceiveAck(t, slow, 5)
	waitLag(lg, "t", "t/fast=0 t/slow=0", "both acked all 5")

	appendN("t", "n", 3)
	ReceiveAck(t, fast, 3)
	waitLag(lg, "t", "t/fast=0 t/slow=3", "3 more, acked by one group")
}

// LargeAppend checks that one Append of more messages than one statement
// of a backend can bind (PostgreSQL's protocol takes at most 65,535
// parameters) commits them all: a group commit of a large max_events body,
// or of many requests, is one Append. Appending them again reports each a
// duplicate, which it is only if the first Append committed it.
func LargeAppend(t *testing.T, b Backend) {
	if testing.Short() {
		t.Skip("25,000 messages; the full run checks it")
	}
	l := b.Open(t, t.Name())
	msgs := make([]*message.Message, 25000)
	for i := range msgs {
		msgs[i] = Msg(fmt.Sprintf("m%d", i), fmt.Sprintf("k%d", i))
	}
	for round, want := range []bool{false, true} {
		dup, err := l.Append(context.Background(), "t", msgs)
		if err != nil {
			t.Fatalf("Append %d of %d messages: %v", round+1, len(msgs), err)
		}
		if i := slices.Index(dup, !want); i >= 0 {
			t.Fatalf("Append %d: message %d duplicate = %v, want %v", round+1, i, dup[i], want)
		}
	}
}

// AppendDedup checks that Append skips and reports the messages whose
// DedupKey its topic already holds, within a batch, across batches and
// across Logs (processes) on one storage.
func AppendDedup(t *testing.T, b Backend) {
	type batch struct {
		other   bool // append through a second Log on the storage
		topic   string
		msgs    []*message.Message
		wantDup []bool
	}
	// A batch long enough to span several statements of a backend that
	// inserts many rows at once: message 140 repeats the key of message 3,
	// message 149 has none.
	var long batch
	var longStored []string
	long.topic = "t"
	for i := range 150 {
		id, key := fmt.Sprintf("m%d", i), fmt.Sprintf("k%d", i)
		switch i {
		case 140:
			key = "k3"
		case 149:
			key = ""
		}
		long.msgs = append(long.msgs, Msg(id, key))
		long.wantDup = append(long.wantDup, i == 140)
		if i != 140 {
			longStored = append(longStored, id)
		}
	}
	for _, tc := range []struct {
		name    string
		batches []batch
		want    map[string][]string // UUIDs stored, by topic
	}{
		{
			name:    "within a long batch",
			batches: []batch{long},
			want:    map[string][]string{"t": longStored},
		},
		{
			name: "within a batch",
			batches: []batch{
				{topic: "t", msgs: []*message.Message{Msg("a1", "a"), Msg("b1", "b"), Msg("a2", "a")}, wantDup: []bool{false, false, true}},
			},
			want: map[string][]string{"t": {"a1", "b1"}},
		},
		{
			name: "across batches",
			batches: []batch{
				{topic: "t", msgs: []*message.Message{Msg("a1", "a"), Msg("b1", "b")}, wantDup: []bool{false, false}},
				{topic: "t", msgs: []*message.Message{Msg("b2", "b"), Msg("c1", "c")}, wantDup: []bool{true, false}},
			},
			want: map[string][]string{"t": {"a1", "b1", "c1"}},
		},
		{
			name: "across processes",
			batches: []batch{
				{topic: "t", msgs: []*message.Message{Msg("a1", "a")}, wantDup: []bool{false}},
				{other: true, topic: "t", msgs: []*message.Message{Msg("a2", "a"), Msg("b1", "b")}, wantDup: []bool{true, false}},
				{topic: "t", msgs: []*message.Message{Msg("b2", "b")}, wantDup: []bool{true}},
			},
			want: map[string][]string{"t": {"a1", "b1"}},
		},
		{
			name: "earlier batch and own batch at once",
			batches: []batch{
				{topic: "t", msgs: []*message.Message{Msg("a1", "a")}, wantDup: []bool{false}},
				{topic: "t", msgs: []*message.Message{Msg("a2", "a"), Msg("b1", "b"), Msg("b2", "b")}, wantDup: []bool{true, false, true}},
			},
			want: map[string][]string{"t": {"a1", "b1"}},
		},
		{
			name: "no key is never a duplicate",
			batches: []batch{
				{topic: "t", msgs: []*message.Message{Msg("n1", ""), Msg("n1", "")}, wantDup: []bool{false, false}},
				{other: true, topic: "t", msgs: []*message.Message{Msg("n1", "")}, wantDup: []bool{false}},
			},
			want: map[string][]string{"t": {"n1", "n1", "n1"}},
		},
		{
			name: "same key in another topic",
			batches: []batch{
				{topic: "t1", msgs: []*message.Message{Msg("a1", "a")}, wantDup: []bool{false}},
				{topic: "t2", msgs: []*message.Message{Msg("a2", "a")}, wantDup: []bool{false}},
			},
			want: map[string][]string{"t1": {"a1"}, "t2": {"a2"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := t.Name()
			l := b.Open(t, name)
			var other eventlog.Log
			for i, bt := range tc.batches {
				on := l
				if bt.other {
					if other == nil {
						other = b.Open(t, name)
					}
					on = other
				}
				dup, err := on.Append(context.Background(), bt.topic, bt.msgs)
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				if !slices.Equal(dup, bt.wantDup) {
					t.Errorf("batch %d: dup = %v, want %v", i, dup, bt.wantDup)
				}
			}
			for topic, want := range tc.want {
				if got := stored(t, l, topic); !slices.Equal(got, want) {
					t.Errorf("topic %s holds %v, want %v", topic, got, want)
				}
			}
		})
	}
}

// OrderPerKey checks that messages appended one after another reach a
// consumer group in that order, while several appenders (the listener's
// concurrent requests, each its own key) append at once, and that each
// arrives once.
func OrderPerKey(t *testing.T, b Backend) {
	l := b.Open(t, t.Name())
	const keys, batches, per = 4, 20, 3
	ch := Subscribe(t, l, "g", "t")
	var wg sync.WaitGroup
	errs := make(chan error, keys)
	for k := range keys {
		wg.Go(func() {
			for i := range batches {
				var ms []*message.Message
				for j := range per {
					id := fmt.Sprintf("k%d-%03d", k, i*per+j)
					ms = append(ms, Msg(id, id))
				}
				if _, err := l.Append(context.Background(), "t", ms); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := ReceiveAck(t, ch, keys*batches*per)
	seen := map[string]bool{}
	next := make([]int, keys)
	for _, id := range got {
		if seen[id] {
			t.Errorf("%s delivered twice", id)
		}
		seen[id] = true
		var k, n int
		if _, err := fmt.Sscanf(id, "k%d-%d", &k, &n); err != nil || k < 0 || k >= keys {
			t.Fatalf("unexpected message %q", id)
		}
		if n != next[k] {
			t.Errorf("key k%d: got %s, want number %d next", k, id, next[k])
		}
		next[k] = n + 1
	}
}

// Redelivery checks that a nacked message comes again, and that a message
// not acked when its Log closes (a replica stopping or dying) comes again
// to the group's subscriber in another Log, before the messages after it,
// while an acked one does not.
func Redelivery(t *testing.T, b Backend) {
	name := t.Name()
	l1 := b.Open(t, name)
	ms := []*message.Message{Msg("m1", "m1"), Msg("m2", "m2"), Msg("m3", "m3")}
	if _, err := l1.Append(context.Background(), "t", ms); err != nil {
		t.Fatal(err)
	}
	ch := Subscribe(t, l1, "g", "t")
	if got := ReceiveAck(t, ch, 1); got[0] != "m1" {
		t.Fatalf("first delivery %v, want m1", got)
	}
	m := Receive(t, ch)
	if m.UUID != "m2" {
		t.Fatalf("second delivery %s, want m2", m.UUID)
	}
	m.Nack()
	if m = Receive(t, ch); m.UUID != "m2" {
		t.Fatalf("after Nack got %s, want m2 again", m.UUID)
	}
	// m2 stays unacked while its Log closes.
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := b.Open(t, name)
	if got := ReceiveAck(t, Subscribe(t, l2, "g", "t"), 2); !slices.Equal(got, []string{"m2", "m3"}) {
		t.Errorf("after Close without ack the group got %v, want [m2 m3]", got)
	}
}

// ConsumerGroups checks that the subscribers of one group in two Logs
// (two replicas) share the messages, each message going to one of them,
// while another group receives every message.
func ConsumerGroups(t *testing.T, b Backend) {
	name := t.Name()
	l1, l2 := b.Open(t, name), b.Open(t, name)
	var (
		mu   sync.Mutex
		got  []string
		per  = map[int]int{}
		done = make(chan struct{})
	)
	const n = 100
	for i, l := range []eventlog.Log{l1, l2} {
		ch := Subscribe(t, l, "g", "t")
		go func() {
			for m := range ch {
				mu.Lock()
				got = append(got, m.UUID)
				per[i]++
				if len(got) == n {
					close(done)
				}
				mu.Unlock()
				m.Ack()
			}
		}()
	}
	// Group h reads at the same time: on some backends (postgres) a
	// message left unacked holds back what was appended after it.
	other := make(chan []string, 1)
	hch := Subscribe(t, l2, "h", "t")
	go func() {
		var h []string
		for m := range hch {
			h = append(h, m.UUID)
			m.Ack()
			if len(h) == n {
				break
			}
		}
		other <- h
	}()
	var ids []string
	for i := range n / 10 {
		var ms []*message.Message
		for j := range 10 {
			id := fmt.Sprintf("m%03d", i*10+j)
			ms = append(ms, Msg(id, id))
			ids = append(ids, id)
		}
		l := l1
		if i%2 == 1 {
			l = l2
		}
		if _, err := l.Append(context.Background(), "t", ms); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(Wait):
		mu.Lock()
		t.Fatalf("group g got %d of %d messages", len(got), n)
	}
	select {
	case h := <-other:
		if !slices.Equal(h, ids) {
			t.Errorf("group h got %v, want %v", h, ids)
		}
	case <-time.After(Wait):
		t.Errorf("group h did not get all %d messages", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if b.Features.GuaranteedOrder {
		if !slices.Equal(got, ids) {
			t.Errorf("group g got %v, want %v", got, ids)
		}
	} else {
		sorted := slices.Sorted(slices.Values(got))
		if !slices.Equal(sorted, ids) {
			t.Errorf("group g got %v, want each of %v once", got, ids)
		}
	}
	t.Logf("group g split between the two logs: %v", per)
}
