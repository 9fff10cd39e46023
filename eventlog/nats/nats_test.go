package nats_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
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
		Name:          "nats",
		Features:      features,
		TrimKeepsKeys: true,
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
	_, err := nats.Open(context.Background(), nats.Config{URL: "nats://hookd:s3cret@127.0.0.1:1", Timeout: time.Second})
	if err == nil {
		t.Fatal("Open succeeded on a closed port")
	}
	if msg := err.Error(); !strings.Contains(msg, "127.0.0.1:1") || strings.Contains(msg, "s3cret") {
		t.Errorf("error = %q, want the server named and its password left out", msg)
	}
}

// TestServerDown runs a nats-server of its own and stops it: an Append
// while it is down fails and sends nothing later, so that an event answered
// 503 is not stored behind the provider's back; once the server is back,
// Append works again and the stream holds only what was acknowledged. The
// disconnection and the reconnection are logged. Without nats-server on
// the PATH the test skips, unless CI is set, where it fails instead.
func TestServerDown(t *testing.T) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("nats-server is not installed and CI is set: %v", err)
		}
		t.Skip("nats-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	start := func() *exec.Cmd {
		t.Helper()
		cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", port, "-js", "-sd", dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatalf("nats-server does not answer on %s", addr)
			}
		}
	}
	srv := start()
	var logs testenv.Buffer
	l, err := nats.Open(context.Background(), nats.Config{URL: "nats://" + addr, Timeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	appendOne := func(id string) error {
		_, err := l.Append(ctx, "t", []*message.Message{eventlogtest.Msg(id, id)})
		return err
	}
	// waitPing waits until Ping's answer is whether want is nil.
	waitPing := func(up bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := l.Ping(pctx)
			cancel()
			if (err == nil) == up {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Ping still answers %v", err)
			}
		}
	}
	if err := appendOne("before"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait()
	waitPing(false)
	if err := appendOne("while-down"); err == nil {
		t.Fatal("Append succeeded with the server down")
	}
	start()
	waitPing(true)
	if err := appendOne("after"); err != nil {
		t.Fatal(err)
	}
	got := eventlogtest.ReceiveAck(t, eventlogtest.Subscribe(t, l, "g", "t"), 2)
	if got[0] != "before" || got[1] != "after" {
		t.Errorf("stream holds %v, want [before after]: the Append that failed was sent after all", got)
	}
	out := logs.String()
	for _, msg := range []string{`msg="nats event log: disconnected, reconnecting"`, `msg="nats event log: reconnected"`} {
		if !strings.Contains(out, msg) {
			t.Errorf("%s not logged:\n%s", msg, out)
		}
	}
}
