package nats_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/eventlogtest"
	"github.com/hookd/hookd/eventlog/nats"
	"github.com/hookd/hookd/internal/testenv"
)

// features are the backend's. ExactlyOnceDelivery is false: delivery is at
// least once (a message not acked within AckWait comes again). Order holds
// because a group has one message in flight (eventlog.InFlight's default).
// There is no broker of ours to restart for TestReconnect: the server is
// shared.
var features = tests.Features{
	ConsumerGroups:                      true,
	GuaranteedOrder:                     true,
	GuaranteedOrderWithSingleSubscriber: true,
	Persistent:                          true,
}

// ackWait is short so that a message left unacked by a closed subscriber
// comes again quickly.
const ackWait = 2 * time.Second

// TestConformance runs the event log suite with a stream prefix of its own
// per storage name, on the server of HOOKD_TEST_NATS_URL.
func TestConformance(t *testing.T) {
	testenv.NATSURL(t)
	var (
		mu       sync.Mutex
		prefixes = map[string]string{}
	)
	eventlogtest.Run(t, eventlogtest.Backend{
		Features: features,
		Open: func(t *testing.T, name string) eventlog.Log {
			mu.Lock()
			prefix, ok := prefixes[name]
			var u string
			if !ok {
				u, prefix = testenv.NATSPrefix(t)
				prefixes[name] = prefix
			} else {
				u = testenv.NATSURL(t)
			}
			mu.Unlock()
			return open(t, u, prefix)
		},
	})
}

func open(t *testing.T, u, prefix string) *nats.Log {
	t.Helper()
	l, err := nats.Open(context.Background(), nats.Config{
		URL:         u,
		Prefix:      prefix,
		AckWait:     ackWait,
		NackBackoff: 10 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// TestRegistered opens the backend through the registry, as hookd serve
// does.
func TestRegistered(t *testing.T) {
	u, prefix := testenv.NATSPrefix(t)
	l, err := eventlog.Open(context.Background(), eventlog.Config{Backend: "nats", URL: u, Prefix: prefix}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dup, err := l.Append(context.Background(), eventlog.TopicEvents, []*message.Message{eventlogtest.Msg("a", "a"), eventlogtest.Msg("b", "a")})
	if err != nil || dup[0] || !dup[1] {
		t.Fatalf("Append = %v, %v; want [false true]", dup, err)
	}
	if got := eventlogtest.ReceiveAck(t, eventlogtest.Subscribe(t, l, "store", eventlog.TopicEvents), 1); got[0] != "a" {
		t.Errorf("got %v, want [a]", got)
	}
}

// TestUnreachable checks that a server that does not answer is an error.
func TestUnreachable(t *testing.T) {
	if _, err := nats.Open(context.Background(), nats.Config{URL: "nats://127.0.0.1:1", Timeout: time.Second}); err == nil {
		t.Fatal("Open succeeded on a closed port")
	}
}
