package send_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/tlsfile/tlsfiletest"
	"github.com/hookd/hookd/listener/mailjet"
	"github.com/hookd/hookd/send"
)

// receiver is a loopback hook that records what it is sent.
type receiver struct {
	*httptest.Server
	// status answers the n-th request (from 0); nil answers 200.
	status func(n int) int

	arrivals      atomic.Int64
	inflight, top atomic.Int64
	conns         atomic.Int64

	mu     sync.Mutex
	bodies [][]byte
	users  []string
	pass   []string
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	t.Helper()
	r := &receiver{status: status}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.conns.Add(1)
		}
	}
	r.Start()
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	n := int(r.arrivals.Add(1) - 1)
	in := r.inflight.Add(1)
	defer r.inflight.Add(-1)
	for {
		top := r.top.Load()
		if in <= top || r.top.CompareAndSwap(top, in) {
			break
		}
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(req.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	user, pass, _ := req.BasicAuth()
	r.mu.Lock()
	r.bodies = append(r.bodies, body.Bytes())
	r.users = append(r.users, user)
	r.pass = append(r.pass, pass)
	r.mu.Unlock()
	code := http.StatusOK
	if r.status != nil {
		code = r.status(n)
	}
	w.WriteHeader(code)
	if code != http.StatusOK {
		w.Write([]byte(`{"error":"answer ` + strconv.Itoa(code) + `"}`))
	}
}

// requests returns the bodies and basic auth credentials received so far.
func (r *receiver) requests() (bodies [][]byte, users, pass []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies), slices.Clone(r.users), slices.Clone(r.pass)
}

func readEvents(t *testing.T) []json.RawMessage {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "events.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	events, err := send.ReadEvents(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 7 {
		t.Fatalf("testdata/events.json: %d events, want 7", len(events))
	}
	return events
}

func TestRunFileOneEventPerRequest(t *testing.T) {
	events := readEvents(t)
	r := newReceiver(t, nil)
	rep, err := send.Run(t.Context(), send.Options{URL: r.URL + "/hooks/mailjet", Source: send.Events(events, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 7 || rep.Events != 7 || rep.Status[200] != 7 || rep.Failed() != 0 {
		t.Errorf("report %+v, want 7 requests and events, all 200", rep)
	}
	// Each request is one event's bytes exactly, as a Version 1 delivery.
	var got, want []string
	bodies, _, _ := r.requests()
	for _, b := range bodies {
		got = append(got, string(b))
	}
	for _, e := range events {
		want = append(want, string(e))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("bodies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRunFileGrouped(t *testing.T) {
	events := readEvents(t)
	r := newReceiver(t, nil)
	rep, err := send.Run(t.Context(), send.Options{
		URL:         r.URL,
		Source:      send.Events(events, 3),
		Concurrency: 1, // in order, so the groups can be compared
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 3 || rep.Events != 7 {
		t.Errorf("report %+v, want 3 requests carrying 7 events", rep)
	}
	wantSizes := []int{3, 3, 1}
	var all []json.RawMessage
	bodies, _, _ := r.requests()
	for i, b := range bodies {
		var group []json.RawMessage
		if err := json.Unmarshal(b, &group); err != nil {
			t.Fatalf("request %d is not a Version 2 array: %v", i, err)
		}
		if len(group) != wantSizes[i] {
			t.Errorf("request %d: %d events, want %d", i, len(group), wantSizes[i])
		}
		if _, err := mailjet.Decode(b); err != nil {
			t.Errorf("request %d: %v", i, err)
		}
		all = append(all, group...)
	}
	for i := range events {
		if !bytes.Equal(all[i], events[i]) {
			t.Errorf("event %d sent as %s, want %s", i, all[i], events[i])
		}
	}
}

// TestRunCounts sums the counts of hookd's answers and ignores answers of
// any other form.
func TestRunCounts(t *testing.T) {
	answers := []string{
		`{"accepted":2,"duplicates":1}` + "\n",
		`{"accepted":0,"duplicates":3}`,
		`{"status":"ok"}`,
		`{"accepted":"2","duplicates":1}`,
		`{"accepted":1}`,
		"",
	}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		w.Write([]byte(answers[int(n.Add(1)-1)%len(answers)]))
	}))
	t.Cleanup(srv.Close)
	rep, err := send.Run(t.Context(), send.Options{URL: srv.URL, Source: send.Generated(send.Generator{}, 2*len(answers), 0), Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 4 || rep.Duplicates != 8 {
		t.Errorf("accepted %d, duplicates %d; want 4 and 8", rep.Accepted, rep.Duplicates)
	}
}

// TestRunGenerateUnique checks that generated requests are distinct events
// that hookd's own decoder accepts, so deduplication cannot shortcut a
// benchmark.
func TestRunGenerateUnique(t *testing.T) {
	const n = 300
	r := newReceiver(t, nil)
	rep, err := send.Run(t.Context(), send.Options{URL: r.URL, Source: send.Generated(send.Generator{Type: "click", Run: 7}, n, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != n || rep.Status[200] != n {
		t.Fatalf("report %+v, want %d requests answered 200", rep, n)
	}
	keys, ids := map[string]bool{}, map[string]bool{}
	bodies, _, _ := r.requests()
	for _, b := range bodies {
		events, err := mailjet.Decode(b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		e := events[0]
		if mid, err := strconv.ParseUint(e.MessageID, 10, 64); err != nil || mid <= 1<<53 {
			t.Errorf("MessageID %s is not above 2^53", e.MessageID)
		}
		if e.Type != "click" {
			t.Errorf("type %q, want click", e.Type)
		}
		keys[e.MessageID+"|"+e.Email+"|"+e.Time.String()] = true
		ids[e.ID] = true
	}
	if len(keys) != n || len(ids) != n {
		t.Errorf("%d distinct (MessageID, email, time) and %d distinct ids in %d requests", len(keys), len(ids), n)
	}
}

func TestGeneratorTypesAndRuns(t *testing.T) {
	for _, typ := range []string{"sent", "open", "click", "bounce", "blocked", "spam", "unsub", "future-type"} {
		events, err := mailjet.Decode(send.Generate(3, typ))
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if events[0].Type != typ || events[0].Campaign != "hookd-send" {
			t.Errorf("%s: decoded type %q campaign %q", typ, events[0].Type, events[0].Campaign)
		}
	}
	if got := send.Generate(0, ""); !bytes.Equal(got, send.Generate(0, "open")) {
		t.Errorf("the default type is not open: %s", got)
	}
	odd := send.Generator{Type: "a\"b\\c\n"}.Append(nil, 0)
	if !json.Valid(odd) {
		t.Errorf("a type that needs escaping gives invalid JSON: %s", odd)
	}
	// Two runs never make the same event, nor the same message.
	a, _ := mailjet.Decode(send.Generator{Run: 1}.Append(nil, 5))
	b, _ := mailjet.Decode(send.Generator{Run: 2}.Append(nil, 5))
	if a[0].ID == b[0].ID || a[0].MessageID == b[0].MessageID {
		t.Errorf("runs 1 and 2 both made event %s or message %s", a[0].ID, a[0].MessageID)
	}
	// The largest run's MessageIDs stay odd, above 2^53 and within 2^64.
	last, err := mailjet.Decode(send.Generator{Run: math.MaxUint32}.Append(nil, 1<<30-1))
	if err != nil {
		t.Fatal(err)
	}
	if mid, err := strconv.ParseUint(last[0].MessageID, 10, 64); err != nil || mid%2 == 0 || mid <= 1<<53 {
		t.Errorf("MessageID %s of the last event of the largest run: %v", last[0].MessageID, err)
	}
}

// TestRunConcurrencyBound holds the first requests until Concurrency of them
// are in flight at once, then checks that no more ever were and that the
// keep-alive connections were reused.
func TestRunConcurrencyBound(t *testing.T) {
	const c, n = 4, 200
	all := make(chan struct{})
	var once sync.Once
	var r *receiver
	r = newReceiver(t, func(int) int {
		if r.inflight.Load() >= c {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			t.Error("never saw the bound reached")
		}
		return 200
	})
	rep, err := send.Run(t.Context(), send.Options{URL: r.URL, Source: send.Generated(send.Generator{}, n, 0), Concurrency: c})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != n {
		t.Errorf("%d requests, want %d", rep.Requests, n)
	}
	if top := r.top.Load(); top != c {
		t.Errorf("at most %d requests in flight, want %d", top, c)
	}
	if conns := r.conns.Load(); conns > c {
		t.Errorf("%d connections for %d requests, want at most %d (keep-alive)", conns, n, c)
	}
}

// TestRunRate checks the pacing without a timing bound that load could
// break: request k cannot start before k intervals have passed, so the run
// lasts at least that long.
func TestRunRate(t *testing.T) {
	const n, rate = 11, 100.0
	r := newReceiver(t, nil)
	rep, err := send.Run(t.Context(), send.Options{URL: r.URL, Source: send.Generated(send.Generator{}, n, 0), Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	if bodies, _, _ := r.requests(); rep.Requests != n || len(bodies) != n {
		t.Errorf("%d requests sent, %d received, want %d", rep.Requests, len(bodies), n)
	}
	if least := time.Duration(n-1) * time.Second / rate; rep.Elapsed < least {
		t.Errorf("%d requests at %v/s took %v, less than %v", n, rate, rep.Elapsed, least)
	}
}

func TestRunCountsFailures(t *testing.T) {
	tests := []struct {
		name     string
		status   func(n int) int
		wantFail int
		first    string
	}{
		{"every third answers 500", func(n int) int {
			if n%3 == 2 {
				return 500
			}
			return 200
		}, 10, `500 Internal Server Error: {"error":"answer 500"}`},
		{"redirects are not followed", func(int) int { return 302 }, 30, "302 Found"},
		{"2xx other than 200 succeed", func(int) int { return 204 }, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t, tt.status)
			rep, err := send.Run(t.Context(), send.Options{URL: r.URL, Source: send.Generated(send.Generator{}, 30, 0), Concurrency: 3})
			if rep.Requests != 30 || rep.Failed() != tt.wantFail {
				t.Errorf("%d requests, %d failed, want 30 and %d; status %v", rep.Requests, rep.Failed(), tt.wantFail, rep.Status)
			}
			if tt.wantFail == 0 {
				if err != nil {
					t.Errorf("Run: %v", err)
				}
				return
			}
			if !errors.Is(err, send.ErrFailed) {
				t.Errorf("Run error %v, want ErrFailed", err)
			}
			if !strings.HasPrefix(rep.FirstFailure, tt.first) {
				t.Errorf("first failure %q, want %q", rep.FirstFailure, tt.first)
			}
		})
	}
}

func TestRunTransportErrors(t *testing.T) {
	r := newReceiver(t, nil)
	url := r.URL
	r.Close()
	rep, err := send.Run(t.Context(), send.Options{URL: url, Source: send.Generated(send.Generator{}, 5, 0), Timeout: 5 * time.Second})
	if !errors.Is(err, send.ErrFailed) {
		t.Fatalf("Run error %v, want ErrFailed", err)
	}
	if rep.Errors != 5 || rep.Failed() != 5 || rep.FirstFailure == "" {
		t.Errorf("report %+v, want 5 transport errors", rep)
	}
}

func TestRunBasicAuthFromURL(t *testing.T) {
	const secret = "s3cr%40t" // "s3cr@t", escaped in the URL
	r := newReceiver(t, func(int) int { return 401 })
	u := strings.Replace(r.URL, "http://", "http://hookd:"+secret+"@", 1) + "/hooks/mailjet"
	rep, err := send.Run(t.Context(), send.Options{URL: u, Source: send.Generated(send.Generator{}, 3, 0)})
	if !errors.Is(err, send.ErrFailed) || rep.Status[401] != 3 {
		t.Fatalf("Run: %v, status %v; want 3 answers 401", err, rep.Status)
	}
	_, users, pass := r.requests()
	for i := range users {
		if users[i] != "hookd" || pass[i] != "s3cr@t" {
			t.Errorf("request %d: basic auth %q:%q, want hookd:s3cr@t", i, users[i], pass[i])
		}
	}
	for _, s := range []string{err.Error(), rep.FirstFailure} {
		if strings.Contains(s, "s3cr") {
			t.Errorf("the password shows in %q", s)
		}
	}
	if _, err := send.Run(t.Context(), send.Options{URL: "http://hookd:" + secret + "@[::1", Source: send.Generated(send.Generator{}, 1, 0)}); err == nil || strings.Contains(err.Error(), "s3cr") {
		t.Errorf("bad URL: error %v, want one without the password", err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := newReceiver(t, func(int) int { cancel(); return 200 })
	rep, err := send.Run(ctx, send.Options{URL: r.URL, Source: send.Generated(send.Generator{}, 1000, 0), Concurrency: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error %v, want context.Canceled", err)
	}
	if rep.Requests >= 1000 {
		t.Errorf("sent all %d requests after the context ended", rep.Requests)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	src := send.Generated(send.Generator{}, 1, 0)
	for _, o := range []send.Options{
		{URL: "", Source: src},
		{URL: "ftp://host/x", Source: src},
		{URL: "http:///path", Source: src},
		{URL: "http://localhost"},
		{URL: "http://localhost", Source: src, Concurrency: -1},
		{URL: "http://localhost", Source: src, Rate: -1},
	} {
		if _, err := send.Run(t.Context(), o); err == nil {
			t.Errorf("Run(%+v) succeeded", o)
		}
	}
}

func TestReadEvents(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{"one object", " {\"event\":\"open\"}\n", []string{`{"event":"open"}`}, false},
		{"array keeps bytes", "[{\"a\": 1} ,\n {\"b\":2}]", []string{`{"a": 1}`, `{"b":2}`}, false},
		{"empty array", "[]", nil, false},
		{"empty", "  ", nil, true},
		{"scalar", "42", nil, true},
		{"two objects", `{"a":1} {"b":2}`, nil, true},
		{"broken array", `[{"a":1},`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := send.ReadEvents(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ReadEvents: %v, want error %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if string(got[i]) != tt.want[i] {
					t.Errorf("event %d = %s, want %s", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestReportJSON(t *testing.T) {
	rep := send.Report{Requests: 4, Events: 8, Status: map[int]int{200: 3, 503: 1}, Elapsed: 2 * time.Second, P50: time.Millisecond, P99: 3 * time.Millisecond}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"requests": 4.0, "events": 8.0, "failed": 1.0, "events_per_second": 4.0, "requests_per_second": 2.0, "latency_p50_ms": 1.0, "latency_p99_ms": 3.0} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v in %s", k, got[k], v, b)
		}
	}
	if s := got["status"].(map[string]any); s["200"] != 3.0 || s["503"] != 1.0 {
		t.Errorf("status %v", s)
	}
}

// BenchmarkGenerator measures the generator's cost per request: it appends
// into a reused buffer and should not allocate.
func BenchmarkGenerator(b *testing.B) {
	for _, bm := range []struct {
		name  string
		group int
	}{{"v1", 0}, {"v2-100", 100}} {
		b.Run(bm.name, func(b *testing.B) {
			src := send.Generated(send.Generator{Type: "open"}, 1<<30, bm.group)
			var buf []byte
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				buf, _ = src.AppendRequest(buf[:0], i)
				i++
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// TestRunHTTPSWithCA: an https URL whose certificate is self-signed fails
// verification, and is sent to with the certificate given as a root.
func TestRunHTTPSWithCA(t *testing.T) {
	pair := tlsfiletest.Write(t, t.TempDir(), tlsfiletest.Options{})
	cert, err := tls.LoadX509KeyPair(pair.Cert, pair.Key)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.Server.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	r.Server.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	r.StartTLS()
	t.Cleanup(r.Close)
	events := readEvents(t)[:2]

	rep, err := send.Run(context.Background(), send.Options{URL: r.URL + "/hooks/mailjet", Source: send.Events(events, 0)})
	if !errors.Is(err, send.ErrFailed) || rep.Errors != 2 || !strings.Contains(rep.FirstFailure, "certificate") {
		t.Fatalf("without the CA: %+v, %v; want 2 certificate errors", rep, err)
	}

	pool, err := send.CertPool(pair.Cert)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = send.Run(context.Background(), send.Options{URL: r.URL + "/hooks/mailjet", Source: send.Events(events, 0), RootCAs: pool})
	if err != nil || rep.Status[200] != 2 {
		t.Fatalf("with the CA: %+v, %v; want 2 answers 200", rep, err)
	}
	if bodies, _, _ := r.requests(); len(bodies) != 2 {
		t.Fatalf("%d requests received, want 2", len(bodies))
	}

	if _, err := send.CertPool(pair.Key); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("CertPool of a key file: %v", err)
	}
}
