package sqlite_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/eventlogtest"
	"github.com/hookd/hookd/eventlog/sqlite"
)

// settle is how long none waits to see that no message comes. A correct log
// never sends one, so a short wait cannot fail a correct run; it can only
// miss a wrong one.
const settle = 30 * time.Millisecond

// none checks that ch delivers nothing more for a moment.
func none(t *testing.T, ch <-chan *message.Message) {
	t.Helper()
	select {
	case m, ok := <-ch:
		if ok {
			t.Fatalf("got %s, want nothing more in flight", m.UUID)
		}
		t.Fatal("channel closed, want it open")
	case <-time.After(settle):
	}
}

// receiveN receives n messages without acking them.
func receiveN(t *testing.T, ch <-chan *message.Message, n int) []*message.Message {
	t.Helper()
	ms := make([]*message.Message, n)
	for i := range ms {
		ms[i] = eventlogtest.Receive(t, ch)
	}
	return ms
}

func uuids(ms []*message.Message) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.UUID
	}
	return ids
}

// windowSubscriber returns a subscriber of group that holds inFlight
// messages, made as hookd makes it, through eventlog.InFlight.
func windowSubscriber(t *testing.T, l *sqlite.Log, group string, inFlight int) message.Subscriber {
	t.Helper()
	sub, err := l.Subscriber(group, eventlog.InFlight(inFlight))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func subscribeWindow(t *testing.T, l *sqlite.Log, group string, inFlight int) (message.Subscriber, <-chan *message.Message) {
	t.Helper()
	sub := windowSubscriber(t, l, group, inFlight)
	ch, err := sub.Subscribe(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	return sub, ch
}

// TestInFlight covers a consumer group with a window of several messages
// delivered and not yet acked.
func TestInFlight(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int // messages appended before the test runs
		run  func(t *testing.T, l *sqlite.Log, path string, ids []string)
	}{
		{
			name: "a window is delivered without acks in between",
			n:    10,
			run: func(t *testing.T, l *sqlite.Log, _ string, ids []string) {
				_, ch := subscribeWindow(t, l, "g", 4)
				first := receiveN(t, ch, 4)
				if got := uuids(first); !slices.Equal(got, ids[:4]) {
					t.Fatalf("first window %v, want %v", got, ids[:4])
				}
				none(t, ch)
				for _, m := range first {
					m.Ack()
				}
				if got := eventlogtest.ReceiveAck(t, ch, 6); !slices.Equal(got, ids[4:]) {
					t.Fatalf("then %v, want %v", got, ids[4:])
				}
			},
		},
		{
			name: "out-of-order acks advance the offset over the acked prefix",
			n:    8,
			run: func(t *testing.T, l *sqlite.Log, _ string, ids []string) {
				sub, ch := subscribeWindow(t, l, "g", 4)
				w := receiveN(t, ch, 4)
				w[3].Ack()
				w[1].Ack()
				w[2].Ack()
				// m0 holds the window: nothing slides in.
				none(t, ch)
				w[0].Ack()
				if got := uuids(receiveN(t, ch, 4)); !slices.Equal(got, ids[4:]) {
					t.Fatalf("after the acks %v, want %v", got, ids[4:])
				}
				// Those four are left unacked; the offset written on
				// Close is the one after m3.
				if err := sub.Close(); err != nil {
					t.Fatal(err)
				}
				closed(t, ch)
				_, ch = subscribeWindow(t, l, "g", 4)
				if got := eventlogtest.ReceiveAck(t, ch, 4); !slices.Equal(got, ids[4:]) {
					t.Fatalf("after Close the group got %v, want %v", got, ids[4:])
				}
			},
		},
		{
			name: "a Nack in the middle of a window redelivers from it on",
			n:    8,
			run: func(t *testing.T, l *sqlite.Log, _ string, ids []string) {
				sub, err := sqlite.NewSubscriber(l, sqlite.SubscriberConfig{ConsumerGroup: "g", InFlight: 5, NackBackoff: time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = sub.Close() })
				ch, err := sub.Subscribe(context.Background(), "t")
				if err != nil {
					t.Fatal(err)
				}
				w := receiveN(t, ch, 5)
				w[0].Ack()
				w[1].Ack()
				w[2].Nack()
				select {
				case <-w[2].Context().Done():
				case <-time.After(wait):
					t.Fatal("context of the nacked message not canceled")
				}
				w[3].Ack() // acked after the Nack: delivered again all the same
				w[4].Ack()
				// The acks of m0 and m1 made room for two more, which the
				// log may have delivered before it saw the Nack.
				m := eventlogtest.Receive(t, ch)
				for i := 0; m.UUID != ids[2]; i++ {
					if i == 2 || (m.UUID != ids[5] && m.UUID != ids[6]) {
						t.Fatalf("after the Nack got %s, want m-002 after at most m-005 and m-006", m.UUID)
					}
					m.Ack()
					m = eventlogtest.Receive(t, ch)
				}
				m.Ack()
				if got := eventlogtest.ReceiveAck(t, ch, 5); !slices.Equal(got, ids[3:]) {
					t.Fatalf("after the Nack m-002 then %v, want %v", got, ids[3:])
				}
			},
		},
		{
			name: "close and reopen with a partly acked window",
			n:    10,
			run: func(t *testing.T, l *sqlite.Log, path string, ids []string) {
				_, ch := subscribeWindow(t, l, "g", 5)
				w := receiveN(t, ch, 5)
				w[0].Ack()
				w[1].Ack()
				w[3].Ack() // after the gap of m2: comes again
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				closed(t, ch)
				l = openLog(t, path, sqlite.Config{})
				_, ch = subscribeWindow(t, l, "g", 5)
				if got := eventlogtest.ReceiveAck(t, ch, 8); !slices.Equal(got, ids[2:]) {
					t.Fatalf("after reopening %v, want %v", got, ids[2:])
				}
				none(t, ch)
			},
		},
		{
			name: "a subscription that ends gives back what it buffered",
			n:    6,
			run: func(t *testing.T, l *sqlite.Log, _ string, ids []string) {
				sub := windowSubscriber(t, l, "g", 4)
				ctx, cancel := context.WithCancel(context.Background())
				ch, err := sub.Subscribe(ctx, "t")
				if err != nil {
					t.Fatal(err)
				}
				eventlogtest.Receive(t, ch).Ack()
				m := eventlogtest.Receive(t, ch) // the rest of the window stays in the channel
				cancel()
				select {
				case <-m.Context().Done():
				case <-time.After(wait):
					t.Fatal("context of the message in flight not canceled")
				}
				for range ch { // whatever is left unread is given back
				}
				ch, err = sub.Subscribe(context.Background(), "t")
				if err != nil {
					t.Fatal(err)
				}
				if got := eventlogtest.ReceiveAck(t, ch, 5); !slices.Equal(got, ids[1:]) {
					t.Fatalf("the next subscription got %v, want %v", got, ids[1:])
				}
			},
		},
		{
			name: "two subscriptions of a group share one window",
			n:    60,
			run: func(t *testing.T, l *sqlite.Log, _ string, ids []string) {
				const window = 4
				// The consumers put what they receive here at once, so
				// that it shows how many messages are in flight.
				var (
					mu      sync.Mutex
					pending []*message.Message
				)
				for range 2 {
					_, ch := subscribeWindow(t, l, "g", window)
					go func() {
						for m := range ch {
							mu.Lock()
							pending = append(pending, m)
							mu.Unlock()
						}
					}()
				}
				inFlight := func() int {
					mu.Lock()
					defer mu.Unlock()
					return len(pending)
				}
				var got []string
				for round := 0; len(got) < len(ids); round++ {
					for deadline := time.Now().Add(wait); inFlight() < window; time.Sleep(time.Millisecond) {
						if time.Now().After(deadline) {
							t.Fatalf("%d in flight after %d acked, want %d", inFlight(), len(got), window)
						}
					}
					if round%4 == 0 {
						time.Sleep(settle) // let any message beyond the window come
					}
					mu.Lock()
					w := pending
					pending = nil
					mu.Unlock()
					if len(w) != window {
						t.Fatalf("%d in flight after %d acked, want at most %d", len(w), len(got), window)
					}
					// Ack in reverse, so the offset moves only with the last.
					for _, m := range slices.Backward(w) {
						m.Ack()
					}
					ws := uuids(w)
					slices.Sort(ws) // the two consumers may swap neighbours
					if want := ids[len(got) : len(got)+window]; !slices.Equal(ws, want) {
						t.Fatalf("window %v, want %v", ws, want)
					}
					got = append(got, ws...)
				}
				time.Sleep(settle)
				if n := inFlight(); n != 0 {
					t.Fatalf("%d messages after the last one", n)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := dbPath(t)
			l := openLog(t, path, sqlite.Config{})
			batch, ids := msgs("m", tc.n)
			if _, err := l.Append(context.Background(), "t", batch); err != nil {
				t.Fatal(err)
			}
			tc.run(t, l, path, ids)
		})
	}
}
