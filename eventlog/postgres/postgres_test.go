package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/eventlogtest"
	"github.com/hookd/hookd/eventlog/postgres"
	"github.com/hookd/hookd/internal/pgconf"
	"github.com/hookd/hookd/internal/testenv"
)

// features are the backend's. ExactlyOnceDelivery is false: delivery is at
// least once (a crash redelivers the read batch). There is no broker to
// restart for TestReconnect.
var features = tests.Features{
	ConsumerGroups:  true,
	GuaranteedOrder: true,
	Persistent:      true,
}

// TestConformance runs the event log suite with a schema of its own per
// storage name, on the server of HOOKD_TEST_POSTGRES_DSN.
func TestConformance(t *testing.T) {
	testenv.PostgresDSN(t)
	var (
		mu   sync.Mutex
		dsns = map[string]string{}
	)
	eventlogtest.Run(t, eventlogtest.Backend{
		Name:     "postgres",
		Features: features,
		Open: func(t *testing.T, name string) eventlog.Log {
			mu.Lock()
			dsn, ok := dsns[name]
			if !ok {
				dsn = testenv.PostgresSchema(t)
				dsns[name] = dsn
			}
			mu.Unlock()
			return open(t, dsn)
		},
	})
}

func open(t *testing.T, dsn string) *postgres.Log {
	t.Helper()
	l, err := postgres.Open(context.Background(), postgres.Config{
		DSN:          dsn,
		PollInterval: 10 * time.Millisecond,
		NackBackoff:  10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
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
// does, with a prefix of its own.
func TestRegistered(t *testing.T) {
	dsn := testenv.PostgresSchema(t)
	l, err := eventlog.Open(context.Background(), eventlog.Config{Backend: "postgres", DSN: dsn, Prefix: "reg"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := eventlogtest.Msg("a", "a")
	if dup, err := l.Append(context.Background(), eventlog.TopicEvents, []*message.Message{m, eventlogtest.Msg("b", "a")}); err != nil || !dup[1] || dup[0] {
		t.Fatalf("Append = %v, %v; want [false true]", dup, err)
	}
	if got := eventlogtest.ReceiveAck(t, eventlogtest.Subscribe(t, l, "store", eventlog.TopicEvents), 1); got[0] != "a" {
		t.Errorf("got %v, want [a]", got)
	}
}

// TestUnreachable checks that a closed port, and a server that takes the
// connection and never answers, are errors naming the server's address and
// no password.
// TestNoSchema opens the log with a DSN whose search_path names no schema
// that exists: Open says so, rather than the first append failing with
// PostgreSQL's "no schema has been selected to create in".
func TestNoSchema(t *testing.T) {
	dsn := testenv.WithSearchPath(t, testenv.PostgresDSN(t), "hookd_test_none_"+testenv.Random())
	if _, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn}); !errors.Is(err, pgconf.ErrNoSchema) {
		t.Errorf("Open = %v, want %v", err, pgconf.ErrNoSchema)
	}
}

func TestUnreachable(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:1", testenv.Silent(t)} {
		_, err := postgres.Open(context.Background(), postgres.Config{DSN: "postgres://hookd:s3cret-pass@" + addr + "/x?sslmode=disable&connect_timeout=1"})
		if err == nil {
			t.Fatalf("Open of %s succeeded", addr)
		}
		if msg := err.Error(); strings.Contains(msg, "s3cret-pass") || !strings.Contains(msg, addr) {
			t.Errorf("error = %q, want %s named and no password", msg, addr)
		}
	}
}
