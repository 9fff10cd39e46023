package nats_test

import (
	"context"
	"errors"
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
	natsgo "github.com/nats-io/nats.go"

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

// TestUnreachable checks that a server that does not answer, or a URL that
// does not parse, is an error that names the server and leaves out its
// credentials: a password, or a token (a user name alone), also in a list
// of servers and in a URL that does not parse.
func TestUnreachable(t *testing.T) {
	for _, tc := range []struct{ name, url, server string }{
		{"password", "nats://hookd:s3cret@127.0.0.1:1", "nats://hookd:xxxxx@127.0.0.1:1"},
		{"token", "nats://s3cret@127.0.0.1:1", "nats://xxxxx@127.0.0.1:1"},
		{"token without scheme", "s3cret@127.0.0.1:1", "xxxxx@127.0.0.1:1"},
		{"token in a list", "nats://127.0.0.1:2, nats://s3cret@127.0.0.1:1", "nats://127.0.0.1:2,nats://xxxxx@127.0.0.1:1"},
		{"password, bad port", "nats://hookd:s3cret@127.0.0.1:port", "nats://xxxxx@127.0.0.1:port"},
		{"token, bad port", "nats://s3cret@127.0.0.1:port", "nats://xxxxx@127.0.0.1:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := nats.Open(context.Background(), nats.Config{URL: tc.url, Timeout: time.Second})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, "connect to "+tc.server+": ") || strings.Contains(msg, "s3cret") {
				t.Errorf("error = %q, want it to name the server as %s and leave out its credentials", msg, tc.server)
			}
		})
	}
}

// natsServer returns the URL of a nats-server of the test's own, on a port
// the kernel chose, and start, which starts it with its JetStream storage
// in dir and args added to its command line, waits until it answers and
// returns a function that kills it; start may be called again once it is
// killed. Without nats-server on the PATH the test skips, unless CI is
// set, where it fails instead.
func natsServer(t *testing.T, args ...string) (u string, start func(dir string) (kill func())) {
	t.Helper()
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
	return "nats://" + addr, func(dir string) func() {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"-a", "127.0.0.1", "-p", port, "-js", "-sd", dir}, args...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kill := sync.OnceFunc(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		t.Cleanup(kill)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return kill
			}
			if time.Now().After(deadline) {
				t.Fatalf("nats-server does not answer on %s", addr)
			}
		}
	}
}

// TestServerDown runs a nats-server of its own and stops it: an Append
// while it is down fails and sends nothing later, so that an event answered
// 503 is not stored behind the provider's back; once the server is back,
// Append works again and the stream holds only what was acknowledged. The
// errors while it is down say that the server is not connected. The
// disconnection and the reconnection are logged, without the token the
// server asks for. Without nats-server on the PATH the test skips, unless
// CI is set, where it fails instead.
func TestServerDown(t *testing.T) {
	const token = "s3cret-token"
	u, start := natsServer(t, "--auth", token)
	u = strings.Replace(u, "nats://", "nats://"+token+"@", 1)
	dir := t.TempDir()
	kill := start(dir)
	var logs testenv.Buffer
	l, err := nats.Open(context.Background(), nats.Config{URL: u, Timeout: 2 * time.Second,
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
	kill()
	waitPing(false)
	err = appendOne("while-down")
	if err == nil {
		t.Fatal("Append succeeded with the server down")
	}
	// nats.go says "outbound buffer limit exceeded", which reads like
	// overload; the error, logged and behind the 503, says what it is.
	if !strings.Contains(err.Error(), "not connected to the NATS server") || !errors.Is(err, natsgo.ErrReconnectBufExceeded) {
		t.Errorf("Append with the server down: %v, want it to say the server is not connected and wrap nats.ErrReconnectBufExceeded", err)
	}
	if err := l.Ping(ctx); err == nil || !strings.Contains(err.Error(), "not connected to the NATS server") {
		t.Errorf("Ping with the server down: %v, want it to say the server is not connected", err)
	}
	start(dir)
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
	if strings.Contains(out, token) {
		t.Errorf("the server's token is logged:\n%s", out)
	}
}

// jetStream returns a JetStream context on its own connection to u, as an
// operator's tool would have.
func jetStream(t *testing.T, u string) natsgo.JetStreamContext {
	t.Helper()
	nc, err := natsgo.Connect(u, natsgo.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := nc.JetStream(natsgo.MaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestCloseQuiet closes a Log with a running subscription: its
// connections close without a warning that they were disconnected and
// reconnect, which nats.go reports to the disconnection handler on Close
// too, so that every stop of hookd logged one such line a connection.
func TestCloseQuiet(t *testing.T) {
	u, prefix := testenv.NATSPrefix(t)
	var logs testenv.Buffer
	l, err := nats.Open(context.Background(), nats.Config{URL: u, Prefix: prefix,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ch := eventlogtest.Subscribe(t, l, "g", eventlog.TopicEvents)
	if _, err := l.Append(context.Background(), eventlog.TopicEvents, []*message.Message{eventlogtest.Msg("one", "one")}); err != nil {
		t.Fatal(err)
	}
	eventlogtest.ReceiveAck(t, ch, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// nats.go calls its handlers on a goroutine of its own, after Close.
	time.Sleep(300 * time.Millisecond)
	if out := logs.String(); strings.Contains(out, "disconnected") {
		t.Errorf("Close logged a disconnection:\n%s", out)
	}
}

// TestStreamLost deletes the events stream under a running Log, as an
// operator or a server that lost its JetStream storage would: the next
// Append creates it again, with the settings and the warning of its first
// creation, and stores its messages, readable by a group; deduplication
// works in the retried batch and on the new stream; and Ping, after the
// stream is deleted again, answers nil only once the stream exists again,
// so that /readyz does not say ready while appends would fail.
func TestStreamLost(t *testing.T) {
	u, prefix := testenv.NATSPrefix(t)
	var logs testenv.Buffer
	l, err := nats.Open(context.Background(), nats.Config{URL: u, Prefix: prefix, Duplicates: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	js := jetStream(t, u)
	ctx := context.Background()
	stream := prefix + "_" + eventlog.TopicEvents
	appendOne := func(id string) (dup bool) {
		t.Helper()
		d, err := l.Append(ctx, eventlog.TopicEvents, []*message.Message{eventlogtest.Msg(id, id)})
		if err != nil {
			t.Fatalf("Append %s: %v", id, err)
		}
		return d[0]
	}
	appendOne("before")
	if err := js.DeleteStream(stream); err != nil {
		t.Fatal(err)
	}
	// A batch whose second message repeats the first's key: the retry
	// publishes both again, and JetStream still drops the second.
	dup, err := l.Append(ctx, eventlog.TopicEvents, []*message.Message{eventlogtest.Msg("after", "after"), eventlogtest.Msg("retry", "after")})
	if err != nil {
		t.Fatalf("Append after the stream was deleted: %v", err)
	}
	if dup[0] || !dup[1] {
		t.Errorf("Append after the stream was deleted = %v, want [false true]", dup)
	}
	if !appendOne("after") {
		t.Error("after again: appended, want a duplicate")
	}
	if got := eventlogtest.ReceiveAck(t, eventlogtest.Subscribe(t, l, "g", eventlog.TopicEvents), 1); got[0] != "after" {
		t.Errorf("the new stream starts with %v, want [after]", got)
	}
	si, err := js.StreamInfo(stream)
	if err != nil {
		t.Fatal(err)
	}
	if c := si.Config; c.Storage != natsgo.FileStorage || c.Retention != natsgo.LimitsPolicy || c.Duplicates != time.Hour ||
		len(c.Subjects) != 1 || c.Subjects[0] != stream {
		t.Errorf("stream created again with %+v, want the settings of its first creation", c)
	}
	if n := strings.Count(logs.String(), `level=WARN msg="nats event log: stream missing, created it again`); n != 1 {
		t.Errorf("%d warnings of the stream created again, want 1:\n%s", n, logs.String())
	}

	if err := js.DeleteStream(stream); err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(ctx); err != nil {
		t.Fatalf("Ping after the stream was deleted: %v", err)
	}
	if _, err := js.StreamInfo(stream); err != nil {
		t.Fatalf("Ping answered nil while the stream it would append to is missing: %v", err)
	}
	appendOne("after ping")
}

// TestStreamLostSubscribers deletes the events stream under running
// subscriptions of two groups: once an Append has created the stream
// again, each subscription receives the new messages without being
// subscribed again, since it creates its group's consumer again, acks
// them, and receives the next. The consumer's creation is logged once per
// group, and not again while nothing more is lost.
func TestStreamLostSubscribers(t *testing.T) {
	u, prefix := testenv.NATSPrefix(t)
	var logs testenv.Buffer
	l, err := nats.Open(context.Background(), nats.Config{URL: u, Prefix: prefix, AckWait: ackWait,
		ConsumerCheck: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	ctx := context.Background()
	appendOne := func(id string) {
		t.Helper()
		if _, err := l.Append(ctx, eventlog.TopicEvents, []*message.Message{eventlogtest.Msg(id, id)}); err != nil {
			t.Fatalf("Append %s: %v", id, err)
		}
	}
	groups := []string{"store", "rules"}
	subs := make([]<-chan *message.Message, len(groups))
	for i, g := range groups {
		subs[i] = eventlogtest.Subscribe(t, l, g, eventlog.TopicEvents)
	}
	appendOne("before")
	for i, g := range groups {
		if got := eventlogtest.ReceiveAck(t, subs[i], 1); got[0] != "before" {
			t.Fatalf("group %s received %v, want [before]", g, got)
		}
	}
	if err := jetStream(t, u).DeleteStream(prefix + "_" + eventlog.TopicEvents); err != nil {
		t.Fatal(err)
	}
	appendOne("after")
	appendOne("next")
	for i, g := range groups {
		if got := eventlogtest.ReceiveAck(t, subs[i], 2); got[0] != "after" || got[1] != "next" {
			t.Errorf("group %s received %v once the stream was created again, want [after next]", g, got)
		}
	}
	time.Sleep(10 * 50 * time.Millisecond) // ten more checks
	out := logs.String()
	if n := strings.Count(out, `level=WARN msg="nats event log: consumer missing, created it again`); n != len(groups) {
		t.Errorf("%d warnings of a consumer created again, want one per group:\n%s", n, out)
	}
	for _, g := range groups {
		if consumer := g + "_" + prefix + "_" + eventlog.TopicEvents; !strings.Contains(out, "consumer="+consumer) {
			t.Errorf("no warning names consumer %s:\n%s", consumer, out)
		}
	}
}

// TestServerLostStorage kills the test's own nats-server and starts it
// again on an empty storage directory, as a server that lost its disk
// comes back: without a restart of hookd, Append works again once the
// connection is back (failing, until then, as not connected), a running
// subscription receives what is appended, and Ping answers nil.
func TestServerLostStorage(t *testing.T) {
	u, start := natsServer(t)
	kill := start(t.TempDir())
	var logs testenv.Buffer
	l, err := nats.Open(context.Background(), nats.Config{URL: u, Timeout: 2 * time.Second, AckWait: ackWait,
		ConsumerCheck: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	ch := eventlogtest.Subscribe(t, l, "store", eventlog.TopicEvents)
	if _, err := l.Append(ctx, eventlog.TopicEvents, []*message.Message{eventlogtest.Msg("before", "before")}); err != nil {
		t.Fatal(err)
	}
	if got := eventlogtest.ReceiveAck(t, ch, 1); got[0] != "before" {
		t.Fatalf("received %v, want [before]", got)
	}
	kill()
	start(t.TempDir())
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := l.Append(ctx, eventlog.TopicEvents, []*message.Message{eventlogtest.Msg("after", "after")})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Append still fails after the server came back without its storage: %v\n%s", err, logs.String())
		}
	}
	if got := eventlogtest.ReceiveAck(t, ch, 1); got[0] != "after" {
		t.Errorf("received %v, want [after]", got)
	}
	if err := l.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// TestLongestPrefix appends to every topic and consumes it as the store's
// projector does (group "store"), with the longest log.prefix that hookd
// check accepts with backend nats (238 bytes) and with one byte more:
// JetStream takes every stream and consumer name of the first, and refuses
// the second's consumer of the quarantine stream, store_PREFIX_quarantine,
// 256 bytes long.
func TestLongestPrefix(t *testing.T) {
	u, short := testenv.NATSPrefix(t)
	for _, tc := range []struct {
		name string
		n    int
		ok   bool
	}{
		{"238 bytes", 238, true},
		{"239 bytes", 239, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := short + strings.Repeat("x", tc.n-len(short))
			l, err := eventlog.Open(ctx, eventlog.Config{Backend: "nats", URL: u, Prefix: prefix}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var refused error
			for _, topic := range eventlog.Topics() {
				if _, err := l.Append(ctx, topic, []*message.Message{eventlogtest.Msg("a", "a")}); err != nil {
					t.Fatalf("append to %s: %v", topic, err)
				}
				sub, err := l.Subscriber("store")
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				subCtx, cancel := context.WithCancel(ctx)
				defer cancel()
				ch, err := sub.Subscribe(subCtx, topic)
				if err != nil {
					refused = errors.Join(refused, err)
					continue
				}
				if got := eventlogtest.ReceiveAck(t, ch, 1); got[0] != "a" {
					t.Errorf("%s: got %v, want [a]", topic, got)
				}
			}
			if tc.ok && refused != nil {
				t.Errorf("a %d-byte prefix: %v", tc.n, refused)
			}
			if !tc.ok && (refused == nil || !strings.Contains(refused.Error(), "too long")) {
				t.Errorf("a %d-byte prefix: subscribing = %v, want JetStream to refuse a name too long", tc.n, refused)
			}
		})
	}
}
