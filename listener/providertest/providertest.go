// Package providertest is the conformance suite every provider adapter
// runs, the way watermill's pubsub/tests is for its backends: it starts a
// real listener over a real SQLite event log on loopback and posts signed,
// forged, stale, stripped, malformed and repeated deliveries at one source.
//
// What it proves, for each provider:
//   - a valid delivery is answered 200 and its events are in the log;
//   - the same delivery again is answered 200 with every event a
//     duplicate, and the log holds each event once;
//   - a tampered body (for providers that sign it), a wrong secret, a stale timestamp (for providers
//     that sign one), a missing signature header (each one the provider
//     requires) and a request with no credentials at all are answered 401,
//     and nothing is stored, not even in quarantine;
//   - a batch in which one item is malformed (for providers that batch) is
//     refused as a whole: 400, the body quarantined, none of its events
//     stored. hookd never stores part of a delivery, so a provider's retry
//     of a fixed batch cannot leave a gap.
package providertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog"
	_ "github.com/hookd/hookd/eventlog/sqlite" // the log the suite runs on
	"github.com/hookd/hookd/listener"
)

// Case describes one provider to the suite.
type Case struct {
	// Source is the source under test, with the verify settings Sign
	// signs for. Its Name and Path are set by the suite.
	Source config.Source
	// Valid is a delivery the source accepts, holding Events events (at
	// least one, with distinct ids).
	Valid  []byte
	Events int
	// BadBatch is a batch in which one item is malformed; nil for a
	// provider that sends one event per request.
	BadBatch []byte
	// Sign returns the headers and the body to send for body signed at
	// time at, with the right secret or, when wrong, with another one.
	// For providers that carry the signature in the body (Mailgun, SNS)
	// the returned body differs from body.
	Sign func(t testing.TB, body []byte, at time.Time, wrong bool) (http.Header, []byte)
	// Timestamped is whether the provider signs a timestamp that must
	// be recent.
	Timestamped bool
	// StaleBy is how far from now a stale (and a future) timestamp is;
	// default 2 hours. It must exceed the source's tolerance.
	StaleBy time.Duration
	// Tamper changes a signed body in a way its signature covers. nil
	// for a provider that signs nothing (Mailjet, Postmark): those
	// authenticate the sender with credentials, not the body, and the
	// suite checks the credentials only.
	Tamper func(body []byte) []byte
	// Strip holds, by name, ways to remove one required part of the
	// signature (a header, a field); each must give 401.
	Strip map[string]func(h http.Header, body []byte) (http.Header, []byte)
	// Configure, when set, adjusts the listener's configuration (e.g. an
	// HTTP client that reaches a test certificate server).
	Configure func(*listener.Config)
}

// Run runs the suite over c.
func Run(t *testing.T, c Case) {
	t.Helper()
	if c.Sign == nil || len(c.Valid) == 0 || c.Events < 1 {
		t.Fatal("providertest: Case needs Valid, Events and Sign")
	}
	now := func() time.Time { return time.Now() }

	t.Run("valid and duplicate", func(t *testing.T) {
		s := start(t, c)
		h, body := c.Sign(t, c.Valid, now(), false)
		r := s.post(t, h, body)
		if r.status != 200 || r.accepted != c.Events || r.duplicates != 0 {
			t.Fatalf("valid delivery: %d %s, want 200 with %d accepted", r.status, r.raw, c.Events)
		}
		r = s.post(t, h, body)
		if r.status != 200 || r.accepted != 0 || r.duplicates != c.Events {
			t.Fatalf("repeated delivery: %d %s, want 200 with %d duplicates", r.status, r.raw, c.Events)
		}
		// The provider's retry, signed anew, is recognised too.
		h, body = c.Sign(t, c.Valid, now(), false)
		if r = s.post(t, h, body); r.status != 200 || r.duplicates != c.Events {
			t.Fatalf("re-signed retry: %d %s, want 200 with %d duplicates", r.status, r.raw, c.Events)
		}
		s.expect(t, c.Events, 0)
	})

	refused := map[string]func(t *testing.T) (http.Header, []byte){
		"wrong secret": func(t *testing.T) (http.Header, []byte) {
			return c.Sign(t, c.Valid, now(), true)
		},
		"no credentials": func(t *testing.T) (http.Header, []byte) {
			return http.Header{"Content-Type": {"application/json"}}, c.Valid
		},
	}
	if c.Tamper != nil {
		refused["tampered body"] = func(t *testing.T) (http.Header, []byte) {
			h, body := c.Sign(t, c.Valid, now(), false)
			return h, c.Tamper(body)
		}
	}
	if c.Timestamped {
		by := c.StaleBy
		if by == 0 {
			by = 2 * time.Hour
		}
		refused["stale timestamp"] = func(t *testing.T) (http.Header, []byte) {
			return c.Sign(t, c.Valid, now().Add(-by), false)
		}
		refused["future timestamp"] = func(t *testing.T) (http.Header, []byte) {
			return c.Sign(t, c.Valid, now().Add(by), false)
		}
	}
	for name, strip := range c.Strip {
		refused["missing "+name] = func(t *testing.T) (http.Header, []byte) {
			h, body := c.Sign(t, c.Valid, now(), false)
			return strip(h.Clone(), body)
		}
	}
	for name, req := range refused {
		t.Run(name, func(t *testing.T) {
			s := start(t, c)
			h, body := req(t)
			r := s.post(t, h, body)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("%d %s, want 401", r.status, r.raw)
			}
			if r.errMsg == "" {
				t.Fatalf("401 without a JSON error: %s", r.raw)
			}
			s.expect(t, 0, 0)
		})
	}

	if c.BadBatch != nil {
		t.Run("batch with one bad item", func(t *testing.T) {
			s := start(t, c)
			h, body := c.Sign(t, c.BadBatch, now(), false)
			r := s.post(t, h, body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("%d %s, want 400", r.status, r.raw)
			}
			s.expect(t, 0, 1)
		})
	}
}

// server is one listener under test.
type server struct {
	url string
	log eventlog.Log
}

func start(t *testing.T, c Case) *server {
	t.Helper()
	dir := t.TempDir()
	nonces, err := listener.OpenNonces(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so run last: after the listener stopped.
	t.Cleanup(func() { _ = nonces.Close() })
	src := c.Source
	src.Name, src.Path = "under-test", "/hooks/under-test"
	cfg := listener.Config{Sources: []config.Source{src}, Nonces: nonces}
	if c.Configure != nil {
		c.Configure(&cfg)
	}
	url, log := Serve(t, cfg)
	return &server{url: url + src.Path, log: log}
}

// Serve starts a listener with cfg over a fresh SQLite event log, serves
// it on loopback until the test ends, and returns its URL and its log.
func Serve(t *testing.T, cfg listener.Config) (string, eventlog.Log) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log, err := eventlog.Open(ctx, eventlog.Config{Backend: "sqlite", Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := listener.New(cfg, log, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		_ = log.Close()
	})
	return srv.URL, log
}

type reply struct {
	status               int
	raw                  []byte
	accepted, duplicates int
	errMsg               string
}

func (s *server) post(t *testing.T, h http.Header, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v struct {
		Accepted   int    `json:"accepted"`
		Duplicates int    `json:"duplicates"`
		Error      string `json:"error"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	return reply{status: resp.StatusCode, raw: raw, accepted: v.Accepted, duplicates: v.Duplicates, errMsg: v.Error}
}

// expect checks that the log holds exactly events events and quarantined
// bodies.
func (s *server) expect(t *testing.T, events, quarantined int) {
	t.Helper()
	if got := Messages(t, s.log, eventlog.TopicEvents, events); len(got) != events {
		t.Errorf("log holds %d events, want %d", len(got), events)
	}
	if got := Messages(t, s.log, eventlog.TopicQuarantine, quarantined); len(got) != quarantined {
		t.Errorf("quarantine holds %d bodies, want %d", len(got), quarantined)
	}
}

// Messages reads every message of topic appended to log so far, in a
// consumer group of its own, waiting until want have arrived (and a moment
// longer, so that more than want is seen) or 30 seconds passed.
func Messages(t testing.TB, log eventlog.Log, topic string, want int) []*message.Message {
	t.Helper()
	sub, err := log.Subscriber(fmt.Sprintf("providertest-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var got []*message.Message
	idle := time.NewTimer(300 * time.Millisecond)
	defer idle.Stop()
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return got
			}
			m.Ack()
			got = append(got, m)
			if len(got) >= want {
				idle.Reset(150 * time.Millisecond)
			}
		case <-idle.C:
			if len(got) >= want {
				return got
			}
			idle.Reset(300 * time.Millisecond)
		case <-ctx.Done():
			return got
		}
	}
}

// FlipByte returns a copy of body with the byte at its middle changed to
// another letter or digit, so that JSON stays JSON where it can.
func FlipByte(body []byte) []byte {
	b := bytes.Clone(body)
	for i := len(b) / 2; i < len(b); i++ {
		switch c := b[i]; {
		case c >= 'a' && c < 'z', c >= 'A' && c < 'Z', c >= '0' && c < '9':
			b[i] = c + 1
			return b
		case c == 'z' || c == 'Z' || c == '9':
			b[i] = c - 1
			return b
		}
	}
	return append(b, ' ')
}
