package listener_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/providertest"
)

// serve starts a listener with cfg over a fresh SQLite log.
func serve(t *testing.T, cfg listener.Config) (string, eventlog.Log) {
	t.Helper()
	l, log := start(t, cfg, nil)
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(srv.Close) // runs before start's cleanup: no request is left waiting
	return srv.URL, log
}

// start creates a listener with cfg over a fresh SQLite log, its metrics
// in reg (nil: none), and runs its group commit until the test ends.
func start(t *testing.T, cfg listener.Config, reg prometheus.Registerer) (*listener.Listener, eventlog.Log) {
	t.Helper()
	return startWith(t, cfg, startOpts{reg: reg})
}

// startOpts are start's options beyond the config.
type startOpts struct {
	reg    prometheus.Registerer // the listener's metrics; nil: none
	logger *slog.Logger          // the listener's log; nil: discarded
	// wrap, when not nil, returns what the listener appends to in place
	// of the fresh log it is given.
	wrap func(eventlog.Log) eventlog.Log
}

// startWith is start with o. The log it returns is the fresh one, not
// what o.wrap made of it. A test registers its server's Close after
// calling it, so that the server stops first and no request is left
// waiting on a stopped group commit.
func startWith(t *testing.T, cfg listener.Config, o startOpts) (*listener.Listener, eventlog.Log) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log, err := eventlog.Open(ctx, eventlog.Config{Backend: "sqlite", Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var appendTo eventlog.Log = log
	if o.wrap != nil {
		appendTo = o.wrap(log)
	}
	l, err := listener.New(cfg, appendTo, o.logger, o.reg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = log.Close()
	})
	return l, log
}

// counters returns the values of the counter vector name in reg summed by
// the value of its label label.
func counters(t *testing.T, reg *prometheus.Registry, name, label string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					out[lp.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

func openEvent(i int) []byte {
	return fmt.Appendf(nil, `{"event":"open","time":1433103519,"MessageID":%d,"email":"u%d@example.com"}`, 19421777396190490+i, i)
}

func TestRateLimit(t *testing.T) {
	// One request per 1000 s after a burst of two: the third request of
	// this test is over the limit however slow the machine.
	url, log := serve(t, listener.Config{Sources: []config.Source{
		{Name: "limited", Provider: "mailjet", RateLimit: config.RateLimit{Rate: 0.001, Burst: 2}},
		{Name: "free", Provider: "mailjet"},
	}})
	for i, want := range []int{200, 200, 429} {
		r := post(t, "POST", url+"/hooks/limited", openEvent(i), nil)
		if r.status != want {
			t.Fatalf("request %d: %d %v, want %d", i, r.status, r.body, want)
		}
		if want == 429 {
			ra, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 1000 {
				t.Fatalf("Retry-After = %q, want 1..1000 seconds", r.header.Get("Retry-After"))
			}
			if msg, _ := r.body["error"].(string); !strings.Contains(msg, "rate limit") {
				t.Fatalf("error = %q", msg)
			}
			if !r.close {
				t.Fatal("the connection stays open after the 429")
			}
		}
	}
	// The limit is per source.
	if r := post(t, "POST", url+"/hooks/free", openEvent(3), nil); r.status != 200 {
		t.Fatalf("another source: %d", r.status)
	}
	if got := providertest.Messages(t, log, eventlog.TopicEvents, 3); len(got) != 3 {
		t.Fatalf("log holds %d events, want 3", len(got))
	}
}

// TestRateLimitRefused sends requests with wrong credentials and forged
// signatures to rate-limited sources: they are answered 401 and leave the
// rate to the real sender.
func TestRateLimitRefused(t *testing.T) {
	// Signed with the secret of the Standard Webhooks specification's
	// example, at its time.
	swBody := []byte(`{"type":"test.event","test":2432232314}`)
	key, err := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330."))
	mac.Write(swBody)
	sig := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	limit := config.RateLimit{Rate: 0.001, Burst: 1}
	url, _ := serve(t, listener.Config{
		Now: func() time.Time { return time.Unix(1614265330, 0) },
		Sources: []config.Source{
			{Name: "basic", Provider: "mailjet", RateLimit: limit,
				Auth: config.Auth{Basic: &config.BasicAuth{User: basicUser, Password: basicPass}}},
			{Name: "signed", Provider: "standardwebhooks", RateLimit: limit,
				Verify: config.Verify{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		},
	})
	signed := func(sig string) map[string]string {
		return map[string]string{"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330", "webhook-signature": sig}
	}
	for _, tc := range []struct {
		name         string
		path         string
		body         []byte
		forged, real map[string]string
	}{
		{"wrong password", "/hooks/basic", openEvent(1), basic(basicUser, "wrong"), basic(basicUser, basicPass)},
		{"forged signature", "/hooks/signed", swBody, signed("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF="), signed(sig)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 3 {
				if r := post(t, "POST", url+tc.path, tc.body, tc.forged); r.status != 401 {
					t.Fatalf("forged request %d: %d %v, want 401", i, r.status, r.body)
				}
			}
			if r := post(t, "POST", url+tc.path, tc.body, tc.real); r.status != 200 {
				t.Fatalf("the sender's request after the forged ones: %d %v, want 200", r.status, r.body)
			}
			if r := post(t, "POST", url+tc.path, tc.body, tc.real); r.status != 429 {
				t.Fatalf("the sender's second request: %d %v, want 429 (burst 1)", r.status, r.body)
			}
		})
	}
}

func TestMaxBodyPerSource(t *testing.T) {
	url, _ := serve(t, listener.Config{MaxBody: 1 << 20, Sources: []config.Source{
		{Name: "small", Provider: "mailjet", MaxBody: 64},
		{Name: "big", Provider: "mailjet"},
	}})
	body := openEvent(1)
	if r := post(t, "POST", url+"/hooks/small", body, nil); r.status != 413 {
		t.Fatalf("small source: %d, want 413", r.status)
	}
	if r := post(t, "POST", url+"/hooks/big", body, nil); r.status != 200 {
		t.Fatalf("big source: %d, want 200", r.status)
	}
}

// TestMaxConcurrent holds one request in progress (its body not yet sent)
// with a limit of one: another hook request is answered 503 at once, with
// Retry-After and the connection closed, while /healthz still answers.
func TestMaxConcurrent(t *testing.T) {
	url, _ := serve(t, listener.Config{MaxConcurrent: 1, Sources: []config.Source{{Name: "mj", Provider: "mailjet"}}})
	body := openEvent(1)
	// hold starts a request that sends the first bytes of body and then
	// waits for the test; its status arrives on the channel once answered.
	hold := func() (*io.PipeWriter, chan int) {
		pr, pw := io.Pipe()
		// Registered after serve's, so it runs first: a test that stops
		// early must not leave the server waiting for the rest of a body.
		t.Cleanup(func() { pw.CloseWithError(errors.New("test ended")) })
		status := make(chan int, 1)
		go func() {
			resp, err := http.Post(url+"/hooks/mj", "application/json", pr)
			if err != nil {
				status <- 0
				return
			}
			resp.Body.Close()
			status <- resp.StatusCode
		}()
		// An error means the request is already over; its status says why.
		_, _ = pw.Write(body[:10])
		return pw, status
	}
	pw, first := hold()
	// The held request takes the slot once its handler runs; until then
	// a probe may get through, and a probe that holds the slot when the
	// held request's handler runs gets it refused (answered at once, its
	// body unread). So probe a bounded number of times, and hold a new
	// request when the last one was refused.
	busy := false
	for i := 0; i < 200 && !busy; i++ {
		select {
		case got := <-first:
			if got != 503 {
				t.Fatalf("the held request was answered %d before its body was sent", got)
			}
			pw.Close()
			pw, first = hold()
		default:
		}
		r := post(t, "POST", url+"/hooks/mj", openEvent(100+i), nil)
		switch r.status {
		case 503:
			busy = true
			if msg, _ := r.body["error"].(string); !strings.Contains(msg, "too many requests") {
				t.Fatalf("error = %q", msg)
			}
			if !r.close {
				t.Fatal("the connection stays open after the 503")
			}
			if got := r.header.Get("Retry-After"); got != "1" {
				t.Fatalf("Retry-After %q, want 1", got)
			}
		case 200:
			time.Sleep(10 * time.Millisecond)
		default:
			t.Fatalf("second request: %d", r.status)
		}
	}
	if !busy {
		t.Fatal("no request was refused while one was in progress")
	}
	if r := post(t, "GET", url+"/healthz", nil, nil); r.status != 200 {
		t.Fatalf("healthz during the overload: %d", r.status)
	}
	pw.Write(body[10:])
	pw.Close()
	if got := <-first; got != 200 {
		t.Fatalf("the request in progress: %d, want 200", got)
	}
	if r := post(t, "POST", url+"/hooks/mj", openEvent(2), nil); r.status != 200 {
		t.Fatalf("after it finished: %d", r.status)
	}
}

// TestTypeLabels posts events of more types than a source gets series for,
// and one type longer than a label may be: the types beyond the bounds are
// counted under "other", and every event is counted.
func TestTypeLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, _ := start(t, listener.Config{Sources: []config.Source{{Name: "mj", Provider: "mailjet"}}}, reg)
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()

	var body bytes.Buffer
	body.WriteString("[")
	types := []string{strings.Repeat("x", 65), "\x00blocked", "open\n"}
	for i := range 70 {
		types = append(types, fmt.Sprintf("type%d", i))
	}
	for i, typ := range types {
		if i > 0 {
			body.WriteString(",")
		}
		quoted, _ := json.Marshal(typ)
		fmt.Fprintf(&body, `{"event":%s,"time":1433103519,"MessageID":%d,"email":"u@example.com"}`, quoted, i+1)
	}
	body.WriteString("]")
	if r := post(t, "POST", srv.URL+"/hooks/mj", body.Bytes(), nil); r.status != 200 {
		t.Fatalf("post: %d %v", r.status, r.body)
	}

	got := counters(t, reg, "hookd_events_received_total", "type")
	// The long type and those with control characters come first and are
	// "other"; then type0 to type63 get their own series, and type64 to
	// type69 join "other".
	want := map[string]float64{"other": 9}
	for i := range 64 {
		want[fmt.Sprintf("type%d", i)] = 1
	}
	if !maps.Equal(got, want) {
		t.Errorf("hookd_events_received_total by type = %v, want %v", got, want)
	}
}

// TestBodyUnread sends a body slower than the server's read timeout and one
// that the client breaks off: 408 and 400, each with a JSON error that does
// not show the connection's addresses, and each counted by reason.
func TestBodyUnread(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, _ := start(t, listener.Config{Sources: []config.Source{{Name: "mj", Provider: "mailjet"}}}, reg)
	srv := httptest.NewUnstartedServer(l.Handler())
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	for _, tc := range []struct {
		name     string
		breakOff bool // close the client's side after the first bytes
		status   int
		msg      string
	}{
		{"slow", false, 408, "read body: not received within the read timeout"},
		{"broken off", true, 400, "read body: the request body ended early"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(conn, "POST /hooks/mj HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 80\r\n\r\n{")
			if tc.breakOff {
				conn.(*net.TCPConn).CloseWrite()
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tc.status || body["error"] != tc.msg {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, body["error"], tc.status, tc.msg)
			}
		})
	}
	reasons := counters(t, reg, "hookd_requests_rejected_total", "reason")
	if want := map[string]float64{"timeout": 1, "read": 1}; !maps.Equal(reasons, want) {
		t.Errorf("rejected by reason = %v, want %v", reasons, want)
	}
}

// TestClientGoneAfterBody sends whole requests whose client has hung up by
// the time they are handled (their context is canceled): their events are
// still committed and a malformed body still quarantined, with no request
// counted as refused for an unavailable log. Before, each request raced
// the group commit's queue against the context, and a hung-up client made
// a logged 503 and a "quarantine failed" outage out of nothing.
func TestClientGoneAfterBody(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, log := start(t, listener.Config{Sources: []config.Source{{Name: "mailjet", Provider: "mailjet"}}}, reg)
	const n = 20
	for i := range n + 1 {
		body := openEvent(i)
		if i == n {
			body = []byte(`{"event":`)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, "POST", "/hooks/mailjet", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		l.Handler().ServeHTTP(rec, req)
		if want := map[bool]int{false: 200, true: 400}[i == n]; rec.Code != want {
			t.Fatalf("request %d: status %d, want %d: %s", i, rec.Code, want, rec.Body)
		}
	}
	if got := providertest.Messages(t, log, eventlog.TopicEvents, n); len(got) != n {
		t.Errorf("log holds %d events, want %d", len(got), n)
	}
	if got := providertest.Messages(t, log, eventlog.TopicQuarantine, 1); len(got) != 1 {
		t.Errorf("quarantine holds %d bodies, want 1", len(got))
	}
	if got := counters(t, reg, "hookd_requests_rejected_total", "reason"); got["unavailable"] != 0 {
		t.Errorf("rejected as unavailable: %v", got["unavailable"])
	}
}
