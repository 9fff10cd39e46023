package sqlite_test

import (
	"bufio"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/eventlogtest"
	"github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/internal/testenv"
)

// wait bounds every single wait of these tests, so that a broken test fails
// instead of hanging. It is not a timing assertion: nothing here should come
// close to it.
const wait = 15 * time.Second

func dbPath(t *testing.T) string { return filepath.Join(t.TempDir(), sqlite.FileName) }

func openLog(t *testing.T, path string, cfg sqlite.Config) *sqlite.Log {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = warnLogger()
	}
	l, err := sqlite.Open(context.Background(), path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() }) // Close twice is fine
	return l
}

// msg returns a message with a payload derived from id and, unless key is
// empty, a dedup key.
func msg(id, key string) *message.Message {
	m := message.NewMessage(id, []byte("payload of "+id))
	if key != "" {
		m.Metadata.Set(eventlog.DedupKey, key)
	}
	return m
}

func msgs(prefix string, n int) ([]*message.Message, []string) {
	var ms []*message.Message
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		ms = append(ms, msg(id, id))
		ids = append(ids, id)
	}
	return ms, ids
}

func newSubscriber(t *testing.T, l *sqlite.Log, group string) *sqlite.Subscriber {
	t.Helper()
	sub, err := sqlite.NewSubscriber(l, sqlite.SubscriberConfig{ConsumerGroup: group, NackBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func subscribe(t *testing.T, l *sqlite.Log, group, topic string) <-chan *message.Message {
	t.Helper()
	ch, err := newSubscriber(t, l, group).Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func closed(t *testing.T, ch <-chan *message.Message) {
	t.Helper()
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return
			}
			t.Errorf("got %s, want the channel closed", m.UUID)
		case <-time.After(wait):
			t.Fatalf("channel not closed within %s", wait)
		}
	}
}

// stored returns the ids of the messages in topic, in log order, as a new
// consumer group sees them: it appends a sentinel and reads up to it.
func stored(t *testing.T, l *sqlite.Log, topic string) []string {
	t.Helper()
	sentinel := "sentinel-" + watermill.NewShortUUID()
	if err := l.Publish(topic, message.NewMessage(sentinel, nil)); err != nil {
		t.Fatal(err)
	}
	ch := subscribe(t, l, "inspect-"+watermill.NewShortUUID(), topic)
	ids := []string{}
	for {
		m := eventlogtest.Receive(t, ch)
		m.Ack()
		switch {
		case m.UUID == sentinel:
			return ids
		case !strings.HasPrefix(m.UUID, "sentinel-"):
			ids = append(ids, m.UUID)
		}
	}
}

// cancelAfter is a context whose Err turns to Canceled after n calls, to
// fail an Append after some of its inserts ran.
type cancelAfter struct {
	context.Context
	mu sync.Mutex
	n  int
}

func (c *cancelAfter) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n <= 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

func TestAppendAtomic(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ctx     func() context.Context
		close   bool
		msgs    int // in the batch; 3 if 0
		wantErr error
	}{
		{
			name: "ctx canceled before",
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			wantErr: context.Canceled,
		},
		{
			// Two of the three INSERT statements of the batch have run
			// when ctx ends (the writer's lock checks it first).
			name:    "ctx canceled midway",
			ctx:     func() context.Context { return &cancelAfter{Context: context.Background(), n: 3} },
			msgs:    2*sqlite.InsertRows + 1,
			wantErr: context.Canceled,
		},
		{
			name:    "closed log",
			ctx:     context.Background,
			close:   true,
			wantErr: sqlite.ErrClosed,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := dbPath(t)
			l := openLog(t, path, sqlite.Config{})
			if tc.close {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			n := cmp.Or(tc.msgs, 3)
			batch := make([]*message.Message, n)
			for i := range batch {
				batch[i] = msg(fmt.Sprintf("m%d-1", i), fmt.Sprintf("k%d", i))
			}
			dup, err := l.Append(tc.ctx(), "t", batch)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Append error = %v, want %v", err, tc.wantErr)
			}
			if dup != nil {
				t.Errorf("dup = %v on error, want nil", dup)
			}
			// Another Log on the file: nothing was appended, and the
			// keys of the failed batch are free.
			l2 := openLog(t, path, sqlite.Config{})
			if got := stored(t, l2, "t"); len(got) != 0 {
				t.Errorf("topic holds %v after a failed Append, want nothing", got)
			}
			for i := range batch {
				batch[i] = msg(fmt.Sprintf("m%d-2", i), fmt.Sprintf("k%d", i))
			}
			dup, err = l2.Append(context.Background(), "t", batch)
			if err != nil {
				t.Fatal(err)
			}
			if want := make([]bool, n); !slices.Equal(dup, want) {
				t.Errorf("dup after a failed Append = %v, want %v", dup, want)
			}
		})
	}
}

// TestMetadataRoundTrip publishes a message with the metadata of each case
// and checks what a subscription and Read give back, and the metadata column
// as stored: a non-empty dedup key is kept in its own column only.
func TestMetadataRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		md     message.Metadata
		want   message.Metadata
		column any // the metadata column: nil for NULL, else its JSON
	}{
		{name: "none", md: message.Metadata{}, want: message.Metadata{}},
		{name: "plain", md: message.Metadata{"a": "1", "b": "two"}, column: `{"a":"1","b":"two"}`},
		{name: "empty value", md: message.Metadata{"a": ""}, column: `{"a":""}`},
		{name: "quotes and backslashes", md: message.Metadata{`k"\`: `say "hi" \ \n`}, column: `{"k\"\\":"say \"hi\" \\ \\n"}`},
		{name: "control characters", md: message.Metadata{"c": "\x00\x01\x1f\n\r\t\x7f"}, column: `{"c":"\u0000\u0001\u001f\n\r\t` + "\x7f" + `"}`},
		{name: "unicode", md: message.Metadata{"ключ": "héllo ✓ 😀 \u2028\u2029 <>&"}, column: `{"ключ":"héllo ✓ 😀 \u2028\u2029 \u003c\u003e\u0026"}`},
		{name: "invalid utf-8", md: message.Metadata{"bad": "a\xffb\xc3"}, want: message.Metadata{"bad": "a\ufffdb\ufffd"}, column: `{"bad":"a\ufffdb\ufffd"}`},
		{name: "dedup key only", md: message.Metadata{eventlog.DedupKey: "mailjet:k"}},
		{name: "with dedup key", md: message.Metadata{eventlog.DedupKey: "k", "x": "y"}, column: `{"x":"y"}`},
		{name: "empty dedup key", md: message.Metadata{eventlog.DedupKey: ""}, column: `{"` + eventlog.DedupKey + `":""}`},
		{name: "dedup key of invalid utf-8", md: message.Metadata{eventlog.DedupKey: "k\xff"}},
		// Set on delivery, never stored.
		{name: "offset", md: message.Metadata{eventlog.OffsetKey: "77", "x": "y"}, want: message.Metadata{"x": "y"}, column: `{"x":"y"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == nil {
				tc.want = tc.md
			}
			want := message.Metadata{eventlog.OffsetKey: "1"} // the only message of a new log
			for k, v := range tc.want {
				want[k] = v
			}
			path := dbPath(t)
			l := openLog(t, path, sqlite.Config{})
			m := message.NewMessage("m", []byte("p"))
			m.Metadata = tc.md
			if err := l.Publish("t", m); err != nil {
				t.Fatal(err)
			}
			got := eventlogtest.Receive(t, subscribe(t, l, "g", "t"))
			got.Ack()
			if !maps(got.Metadata, want) {
				t.Errorf("subscription: metadata = %q, want %q", got.Metadata, want)
			}
			recs, err := l.Read(context.Background(), "t", 0, 10)
			if err != nil || len(recs) != 1 {
				t.Fatalf("Read = %d records, %v; want 1", len(recs), err)
			}
			if !maps(recs[0].Message.Metadata, want) {
				t.Errorf("Read: metadata = %q, want %q", recs[0].Message.Metadata, want)
			}

			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var column any
			if err := db.QueryRow("SELECT metadata FROM messages").Scan(&column); err != nil {
				t.Fatal(err)
			}
			if !sameJSON(column, tc.column) {
				t.Errorf("metadata column = %#v, want %#v", column, tc.column)
			}
		})
	}
}

// sameJSON reports whether got and want are both nil, or both JSON objects
// of the same members in any order.
func sameJSON(got, want any) bool {
	if got == nil || want == nil {
		return got == want
	}
	g, ok := got.(string)
	if !ok {
		return false
	}
	var gm, wm map[string]string
	return json.Unmarshal([]byte(g), &gm) == nil && json.Unmarshal([]byte(want.(string)), &wm) == nil && maps(gm, wm)
}

func maps(a, b message.Metadata) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestOffsetsSurviveClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		// stop ends the first consumer; next returns the log to read on.
		stop func(t *testing.T, l *sqlite.Log, sub *sqlite.Subscriber, path string) *sqlite.Log
	}{
		{
			name: "Log.Close and reopen",
			stop: func(t *testing.T, l *sqlite.Log, _ *sqlite.Subscriber, path string) *sqlite.Log {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				return openLog(t, path, sqlite.Config{})
			},
		},
		{
			name: "Subscriber.Close and another Log on the file",
			stop: func(t *testing.T, _ *sqlite.Log, sub *sqlite.Subscriber, path string) *sqlite.Log {
				if err := sub.Close(); err != nil {
					t.Fatal(err)
				}
				return openLog(t, path, sqlite.Config{})
			},
		},
		{
			name: "Subscriber.Close and a new Subscriber on the same Log",
			stop: func(t *testing.T, l *sqlite.Log, sub *sqlite.Subscriber, _ string) *sqlite.Log {
				if err := sub.Close(); err != nil {
					t.Fatal(err)
				}
				return l
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := dbPath(t)
			l := openLog(t, path, sqlite.Config{})
			batch, ids := msgs("m", 10)
			if _, err := l.Append(context.Background(), "t", batch); err != nil {
				t.Fatal(err)
			}
			sub := newSubscriber(t, l, "g")
			ch, err := sub.Subscribe(context.Background(), "t")
			if err != nil {
				t.Fatal(err)
			}
			if got := eventlogtest.ReceiveAck(t, ch, 4); !slices.Equal(got, ids[:4]) {
				t.Fatalf("first consumer got %v, want %v", got, ids[:4])
			}
			if m := eventlogtest.Receive(t, ch); m.UUID != ids[4] {
				t.Fatalf("first consumer got %s, want %s", m.UUID, ids[4]) // left unacked
			}

			l2 := tc.stop(t, l, sub, path)
			closed(t, ch)
			ch2 := subscribe(t, l2, "g", "t")
			if got := eventlogtest.ReceiveAck(t, ch2, 6); !slices.Equal(got, ids[4:]) {
				t.Errorf("after the stop the group got %v, want %v", got, ids[4:])
			}
		})
	}
}

func TestRedelivery(t *testing.T) {
	type subscription struct {
		sub    *sqlite.Subscriber
		ch     <-chan *message.Message
		cancel context.CancelFunc
	}
	for _, tc := range []struct {
		name string
		// drop lets go of m without acking it; the next subscription
		// (s itself or a new one) must see m again.
		drop func(t *testing.T, m *message.Message, s *subscription) (next bool)
	}{
		{
			name: "Nack",
			drop: func(t *testing.T, m *message.Message, s *subscription) bool {
				m.Nack()
				return false
			},
		},
		{
			name: "subscription ctx ends",
			drop: func(t *testing.T, _ *message.Message, s *subscription) bool {
				s.cancel()
				closed(t, s.ch)
				return true
			},
		},
		{
			name: "Subscriber.Close",
			drop: func(t *testing.T, _ *message.Message, s *subscription) bool {
				if err := s.sub.Close(); err != nil {
					t.Fatal(err)
				}
				closed(t, s.ch)
				return true
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openLog(t, dbPath(t), sqlite.Config{})
			m0, m1 := msg("m0", "k0"), msg("m1", "k1")
			m0.Metadata.Set("extra", "value")
			want := message.Metadata{eventlog.OffsetKey: "1"} // as delivered
			for k, v := range m0.Metadata {
				want[k] = v
			}
			if err := l.Publish("t", m0, m1); err != nil {
				t.Fatal(err)
			}
			open := func() *subscription {
				sub := newSubscriber(t, l, "g")
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				ch, err := sub.Subscribe(ctx, "t")
				if err != nil {
					t.Fatal(err)
				}
				return &subscription{sub, ch, cancel}
			}
			s := open()
			for range 2 {
				got := eventlogtest.Receive(t, s.ch)
				if got.UUID != "m0" || string(got.Payload) != string(m0.Payload) || !maps(got.Metadata, want) {
					t.Fatalf("got %s %q %v, want m0 as published, at offset 1", got.UUID, got.Payload, got.Metadata)
				}
				got.Payload[0] = 'X' // must not reach the redelivery
				if tc.drop(t, got, s) {
					s = open()
				}
				select {
				case <-got.Context().Done():
				case <-time.After(wait):
					t.Fatal("message context not canceled")
				}
			}
			if got := eventlogtest.ReceiveAck(t, s.ch, 2); !slices.Equal(got, []string{"m0", "m1"}) {
				t.Errorf("after redeliveries got %v, want [m0 m1]", got)
			}
		})
	}
}

func TestConsumerGroups(t *testing.T) {
	t.Run("subscribers of one group in one Log share the messages", func(t *testing.T) {
		l := openLog(t, dbPath(t), sqlite.Config{})
		var mu sync.Mutex
		var got []string
		per := map[int]int{}
		const n = 200
		done := make(chan struct{})
		for i := range 2 {
			ch := subscribe(t, l, "g", "t")
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
		batch, ids := msgs("m", n)
		for _, m := range batch { // one commit each, to interleave with delivery
			if err := l.Publish("t", m); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-done:
		case <-time.After(wait):
			t.Fatal("not all messages delivered")
		}
		mu.Lock()
		defer mu.Unlock()
		// One message in flight per group: the union is the log, in order.
		if !slices.Equal(got, ids) {
			t.Errorf("the group got %v, want %v", got, ids)
		}
		t.Logf("split between the two subscribers: %v", per)
	})

	t.Run("a Log waits for the group's lease held by another", func(t *testing.T) {
		path := dbPath(t)
		l1 := openLog(t, path, sqlite.Config{})
		l2 := openLog(t, path, sqlite.Config{})
		first, ids1 := msgs("a", 50)
		if _, err := l1.Append(context.Background(), "t", first); err != nil {
			t.Fatal(err)
		}
		sub1 := newSubscriber(t, l1, "g")
		ch1, err := sub1.Subscribe(context.Background(), "t")
		if err != nil {
			t.Fatal(err)
		}
		m := eventlogtest.Receive(t, ch1) // l1 holds the lease from here on
		m.Ack()
		ch2 := subscribe(t, l2, "g", "t")
		if got := append([]string{m.UUID}, eventlogtest.ReceiveAck(t, ch1, 49)...); !slices.Equal(got, ids1) {
			t.Fatalf("holder got %v, want %v", got, ids1)
		}
		if err := sub1.Close(); err != nil { // releases the lease
			t.Fatal(err)
		}
		second, ids2 := msgs("b", 50)
		if _, err := l2.Append(context.Background(), "t", second); err != nil {
			t.Fatal(err)
		}
		// Nothing of the first 50 reached l2, and it starts where l1 stopped.
		if got := eventlogtest.ReceiveAck(t, ch2, 50); !slices.Equal(got, ids2) {
			t.Errorf("successor got %v, want %v", got, ids2)
		}
	})

	t.Run("a new group gets everything", func(t *testing.T) {
		path := dbPath(t)
		l := openLog(t, path, sqlite.Config{})
		batch, ids := msgs("m", 20)
		if _, err := l.Append(context.Background(), "t", batch); err != nil {
			t.Fatal(err)
		}
		if got := eventlogtest.ReceiveAck(t, subscribe(t, l, "a", "t"), 20); !slices.Equal(got, ids) {
			t.Fatalf("group a got %v, want %v", got, ids)
		}
		if got := eventlogtest.ReceiveAck(t, subscribe(t, l, "b", "t"), 20); !slices.Equal(got, ids) {
			t.Errorf("group b got %v, want %v", got, ids)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, path, sqlite.Config{})
		if err := l.Publish("t", msg("late", "late")); err != nil {
			t.Fatal(err)
		}
		if got := eventlogtest.ReceiveAck(t, subscribe(t, l, "c", "t"), 21); !slices.Equal(got, append(ids, "late")) {
			t.Errorf("group c after reopen got %v, want %v", got, append(ids, "late"))
		}
		if got := eventlogtest.ReceiveAck(t, subscribe(t, l, "a", "t"), 1); got[0] != "late" {
			t.Errorf("group a after reopen got %v, want [late]", got)
		}
	})
}

func TestClose(t *testing.T) {
	l := openLog(t, dbPath(t), sqlite.Config{})
	sub, err := l.Subscriber("g")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := sub.Subscribe(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Publish("t", msg("m", "")); err != nil {
		t.Fatal(err)
	}
	m := eventlogtest.Receive(t, ch) // in flight when the log closes
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	closed(t, ch)
	select {
	case <-m.Context().Done():
	case <-time.After(wait):
		t.Error("context of the message in flight not canceled by Close")
	}
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"Publish", l.Publish("t", msg("n", "")), sqlite.ErrClosed},
		{"Subscribe", func() error { _, err := sub.Subscribe(context.Background(), "t"); return err }(), sqlite.ErrClosed},
		{"Subscriber", func() error { _, err := l.Subscriber("h"); return err }(), sqlite.ErrClosed},
		{"Close again", l.Close(), nil},
		{"Subscriber.Close", sub.Close(), nil},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s after Close: %v, want %v", c.name, c.err, c.want)
		}
	}
}

func TestRegistered(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "new")
	l, err := eventlog.Open(context.Background(), eventlog.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&^0o750 != 0 {
		t.Errorf("data directory mode %v, want at most 0750", perm)
	}
	if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); err != nil {
		t.Error(err)
	}
	if _, err := l.Append(context.Background(), eventlog.TopicEvents, []*message.Message{msg("e", "e")}); err != nil {
		t.Fatal(err)
	}
	sub, err := l.Subscriber("store")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ch, err := sub.Subscribe(context.Background(), eventlog.TopicEvents)
	if err != nil {
		t.Fatal(err)
	}
	if got := eventlogtest.ReceiveAck(t, ch, 1); got[0] != "e" {
		t.Errorf("got %v, want [e]", got)
	}
}

func TestSchema(t *testing.T) {
	path := dbPath(t)
	for range 2 { // the second open finds the schema in place
		l := openLog(t, path, sqlite.Config{})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	var version int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || version != 1 {
		t.Errorf("journal_mode %q, user_version %d; want wal, 1", mode, version)
	}

	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	if l, err := sqlite.Open(context.Background(), path, sqlite.Config{}); err == nil || !strings.Contains(err.Error(), "newer") {
		if l != nil {
			l.Close()
		}
		t.Errorf("Open of a newer schema: %v, want an error saying so", err)
	}
}

// TestKilledProcess kills a process that appends and holds a consumer
// group's lease with SIGKILL, then checks that every Append that returned
// is in the file and that the group's lease passes on once it expires.
func TestKilledProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := dbPath(t)
	cmd := exec.Command(os.Args[0], "-child="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var committed []string
	leased := false
	for !leased || len(committed) < 200 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("child ended early (%d committed)", len(committed))
			}
			if id, ok := strings.CutPrefix(line, "committed "); ok {
				committed = append(committed, id)
			}
			leased = leased || line == "leased"
		case <-time.After(wait):
			t.Fatal("child too slow")
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for range lines { // the pipe may hold more committed lines
	}

	l := openLog(t, path, sqlite.Config{})
	got := stored(t, l, "t")
	if len(got) < len(committed) || !slices.Equal(got[:len(committed)], committed) {
		t.Fatalf("after SIGKILL the log holds %d messages, want the %d committed ones first", len(got), len(committed))
	}
	// The child never acked and its lease (LeaseTTL 1s) is never released:
	// the group resumes from the start once it expires.
	if m := eventlogtest.Receive(t, subscribe(t, l, "g", "t")); m.UUID != committed[0] {
		t.Errorf("group g resumed with %s, want %s", m.UUID, committed[0])
	}
}

// child is the process TestKilledProcess kills (see TestMain). It appends
// batches of 10 until it is killed (or a minute passed), printing the ids of
// each committed batch, and holds the lease of group g with a message it
// never acks.
func child(path string) {
	l, err := sqlite.Open(context.Background(), path, sqlite.Config{LeaseTTL: time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sub, err := sqlite.NewSubscriber(l, sqlite.SubscriberConfig{ConsumerGroup: "g"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ch, err := sub.Subscribe(context.Background(), "t")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		batch, ids := msgs(fmt.Sprintf("c%05d", i), 10)
		if _, err := l.Append(context.Background(), "t", batch); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, id := range ids {
			fmt.Fprintln(w, "committed", id)
		}
		select {
		case <-ch:
			fmt.Fprintln(w, "leased")
		default:
		}
		w.Flush()
	}
	os.Exit(0)
}

// TestPingWhileLocked holds the write lock from another connection, as
// another process could: Ping fails, bounded by its ctx rather than the
// busy timeout, leaves the writer's busy timeout as it was, and once the
// lock is let go Ping and Append work again.
func TestPingWhileLocked(t *testing.T) {
	path := dbPath(t)
	l := openLog(t, path, sqlite.Config{BusyTimeout: 5 * time.Second})
	release := testenv.LockSQLite(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := l.Ping(ctx)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("Ping while locked: %v, want the lock named", err)
	}
	if ms, err := sqlite.BusyTimeout(l); err != nil || ms != 5000 {
		t.Fatalf("busy timeout after the ping: %d ms, %v; want 5000", ms, err)
	}
	release()
	if err := l.Ping(context.Background()); err != nil {
		t.Fatalf("Ping after the lock: %v", err)
	}
	ms, _ := msgs("p", 1)
	if _, err := l.Append(context.Background(), eventlog.TopicEvents, ms); err != nil {
		t.Fatal(err)
	}
}

// TestFailuresCounted holds the write lock from another connection while a
// group holds its lease: the renewals fail, an ack's offset cannot be
// written, a second group cannot take its lease, and Failures counts each,
// the same as the outage logs do; once the lock is let go the renewals stop
// failing.
func TestFailuresCounted(t *testing.T) {
	path := dbPath(t)
	l := openLog(t, path, sqlite.Config{BusyTimeout: 10 * time.Millisecond, LeaseTTL: 300 * time.Millisecond})
	if f := l.Failures(); f != (eventlog.Failures{}) {
		t.Fatalf("Failures() = %+v on a new log", f)
	}
	ch := subscribe(t, l, "g", "t")
	if err := l.Publish("t", msg("m1", ""), msg("m2", "")); err != nil {
		t.Fatal(err)
	}
	receive := func() *message.Message {
		t.Helper()
		select {
		case m := <-ch:
			return m
		case <-time.After(wait):
			t.Fatal("no message delivered")
			return nil
		}
	}
	receive().Ack() // the group holds its lease
	m2 := receive()
	release := testenv.LockSQLite(t, path)
	m2.Ack()
	subscribe(t, l, "h", "t")
	for deadline := time.Now().Add(wait); ; time.Sleep(5 * time.Millisecond) {
		f := l.Failures()
		if f.LeaseRenewal >= 2 && f.Offsets >= 1 && f.Read >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Failures() = %+v with the database locked for %s, want lease renewals, offset writes and a lease acquisition counted", f, wait)
		}
	}
	release()
	time.Sleep(300 * time.Millisecond) // three renewals
	settled := l.Failures().LeaseRenewal
	time.Sleep(300 * time.Millisecond)
	if n := l.Failures().LeaseRenewal; n != settled {
		t.Errorf("lease renewals still failing after the lock was let go: %d, then %d", settled, n)
	}
}
