package listener_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/providertest"
)

// fanProvider stands for a provider whose one object holds several events,
// as an SES notification holds one a recipient: {"n":N,"k":K} gives N
// events with ids fan:K:0 to fan:K:N-1.
const fanProvider = "test-fan"

func init() {
	listener.Register(fanProvider, listener.Unsigned{Name: fanProvider, Decoder: listener.DecoderFunc(func(body []byte) ([]event.Event, error) {
		var v struct {
			N int    `json:"n"`
			K string `json:"k"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, err
		}
		events := make([]event.Event, v.N)
		for i := range events {
			events[i] = event.Event{ID: fmt.Sprintf("fan:%s:%d", v.K, i), Provider: fanProvider, Type: "open", Data: json.RawMessage(`{}`)}
		}
		return events, nil
	})})
}

// TestMaxEvents posts requests at and over limits.max_events and a
// source's own max_events, in order: over the limit is 413 with the count
// and the limit, the body quarantined (once, however often it is retried),
// nothing appended and the refusal counted; at the limit is 200.
func TestMaxEvents(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, log := start(t, listener.Config{MaxEvents: 5, Sources: []config.Source{
		{Name: "mj", Provider: "mailjet"},
		{Name: "small", Provider: "mailjet", MaxEvents: 2},
		{Name: "fan", Provider: fanProvider},
	}}, reg)
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(srv.Close)

	six := batch(0, 6, openEvent)
	steps := []struct {
		name    string
		path    string
		body    []byte
		status  int
		wantErr string // in the 413's error
	}{
		{"at limits.max_events", "/hooks/mj", batch(100, 5, openEvent), 200, ""},
		{"over limits.max_events", "/hooks/mj", six, 413, "body with too many events (quarantined as "},
		{"the same body again", "/hooks/mj", six, 413, "body with too many events (already quarantined: the same body was sent before): 6 events in one request, more than max_events (5)"},
		// Elements that are not events: refused for their number, which
		// is counted before any is decoded, not for what they are.
		{"counted before decoding", "/hooks/mj", []byte(` [1,2,3,4,5,"6"]`), 413, "6 events in one request, more than max_events (5)"},
		{"over the source's max_events", "/hooks/small", batch(200, 3, openEvent), 413, "3 events in one request, more than max_events (2)"},
		{"at the source's max_events", "/hooks/small", batch(300, 2, openEvent), 200, ""},
		{"one object of too many events", "/hooks/fan", []byte(`{"n":6,"k":"a"}`), 413, "6 events in one request, more than max_events (5)"},
		{"one object of as many events as allowed", "/hooks/fan", []byte(`{"n":5,"k":"b"}`), 200, ""},
	}
	accepted, refused := 0, 0
	for _, st := range steps {
		r := post(t, "POST", srv.URL+st.path, st.body, nil)
		if r.status != st.status {
			t.Fatalf("%s: %d %v, want %d", st.name, r.status, r.body, st.status)
		}
		if st.status == 200 {
			accepted += int(r.body["accepted"].(float64))
			continue
		}
		refused++
		if msg, _ := r.body["error"].(string); !strings.Contains(msg, st.wantErr) {
			t.Errorf("%s: error %q, want it to contain %q", st.name, msg, st.wantErr)
		}
	}
	if accepted != 12 {
		t.Errorf("%d events accepted, want 12", accepted)
	}
	if got := providertest.Messages(t, log, eventlog.TopicEvents, accepted); len(got) != accepted {
		t.Errorf("the log holds %d events, want only the %d accepted", len(got), accepted)
	}
	// Every refused body once: the retry is recognised.
	q := providertest.Messages(t, log, eventlog.TopicQuarantine, refused-1)
	if len(q) != refused-1 {
		t.Fatalf("quarantine holds %d bodies, want %d", len(q), refused-1)
	}
	var kept event.Quarantined
	if err := json.Unmarshal(q[0].Payload, &kept); err != nil {
		t.Fatal(err)
	}
	if kept.Source != "mj" || string(kept.Body) != string(six) || kept.Error != "6 events in one request, more than max_events (5)" {
		t.Errorf("quarantined %q from %s with error %q, want the six events from mj", kept.Body, kept.Source, kept.Error)
	}
	if got := counters(t, reg, "hookd_requests_rejected_total", "reason"); got["too_many_events"] != float64(refused) || len(got) != 1 {
		t.Errorf("hookd_requests_rejected_total by reason = %v, want too_many_events %d alone", got, refused)
	}
}

// gauge returns the value of the gauge name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// TestInflightBudget holds requests in flight (their commits wait at the
// log's gate) until they fill limits.max_inflight, then sends one more:
// it waits for room and, when none comes in time, is answered 503 with
// Retry-After, its body unread, while /readyz stays ready; once the held
// requests are committed they are answered 200, the budget is empty again
// and a request like the refused one succeeds. The bytes charged never
// exceed the budget, and the log holds exactly the events answered 200.
func TestInflightBudget(t *testing.T) {
	// Bodies of ten events, all of one size.
	body := func(k int) []byte { return batch(1000+10*k, 10, openEvent) }
	size := int64(len(body(0)))
	type req struct {
		body    []byte
		chunked bool // sent without Content-Length
	}
	for _, tc := range []struct {
		name    string
		budget  int64
		held    []req
		charged int64 // the bytes held once they are all waiting
		probe   []byte
		wait    time.Duration // how long the probe may wait for room
		status  int           // its answer
	}{
		{
			name:   "bodies of known length",
			budget: 3 * size, held: []req{{body(0), false}, {body(1), false}, {body(2), false}}, charged: 3 * size,
			probe: body(3), wait: 50 * time.Millisecond, status: 503,
		},
		{
			// Charged max_body (2 bodies) until read, then what they were:
			// three fit in four bodies' worth, and a probe of two does not.
			name:   "bodies of unknown length hold what they turned out to be",
			budget: 4 * size, held: []req{{body(0), true}, {body(1), true}, {body(2), true}}, charged: 3 * size,
			probe: batch(2000, 20, openEvent), wait: 50 * time.Millisecond, status: 503,
		},
		{
			name:   "a body larger than the whole budget is admitted alone",
			budget: size / 2, held: []req{{body(0), false}}, charged: size / 2,
			probe: openEvent(5000), wait: 50 * time.Millisecond, status: 503,
		},
		{
			name:   "a request that waits is admitted once room is made",
			budget: 2 * size, held: []req{{body(0), false}, {body(1), false}}, charged: 2 * size,
			probe: body(3), wait: time.Minute, status: 200,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			l, url, g := startGated(t, listener.Config{
				MaxBody: 2 * size, MaxInflight: tc.budget, InflightWait: tc.wait,
				Sources: []config.Source{{Name: "mj", Provider: "mailjet"}},
			}, reg)
			charged := func() int64 { return int64(gauge(t, reg, "hookd_requests_inflight_bytes")) }
			var held []<-chan int
			var want int64
			for i, r := range tc.held {
				var body io.Reader = bytes.NewReader(r.body)
				if r.chunked {
					body = io.MultiReader(body)
				}
				held = append(held, postReader(url+"/hooks/mj", body))
				want = min(want+int64(len(r.body)), tc.charged)
				waitFor(t, fmt.Sprintf("request %d holds its body", i), func() bool { return charged() == want })
			}
			if got := charged(); got != tc.charged || got > tc.budget {
				t.Fatalf("%d bytes charged, want %d (budget %d)", got, tc.charged, tc.budget)
			}

			var probe reply
			if tc.status == 503 {
				probe = post(t, "POST", url+"/hooks/mj", tc.probe, nil)
				if probe.status != 503 || probe.header.Get("Retry-After") != "1" || !probe.close {
					t.Fatalf("probe: %d, Retry-After %q, connection closed %v; want 503, 1, true", probe.status, probe.header.Get("Retry-After"), probe.close)
				}
				if msg, _ := probe.body["error"].(string); !strings.Contains(msg, "too much request data in progress") {
					t.Errorf("probe's error = %q", msg)
				}
				if r := post(t, "GET", url+"/readyz", nil, nil); r.status != 200 {
					t.Errorf("/readyz with the budget full: %d, want 200", r.status)
				}
			} else {
				waiting := postAsync(url+"/hooks/mj", tc.probe)
				waitFor(t, "the probe is in progress", func() bool { return l.InFlight() == len(tc.held)+1 })
				if got := charged(); got != tc.charged {
					t.Fatalf("%d bytes charged with the probe waiting, want %d", got, tc.charged)
				}
				held = append(held, waiting)
			}

			g.open()
			for i, s := range held {
				if got := <-s; got != 200 {
					t.Errorf("request %d: %d, want 200", i, got)
				}
			}
			waitFor(t, "every byte is given back", func() bool { return charged() == 0 })
			if tc.status == 503 {
				if r := post(t, "POST", url+"/hooks/mj", tc.probe, nil); r.status != 200 {
					t.Errorf("the probe's body again, with room: %d %v, want 200", r.status, r.body)
				}
			}
			if got, want := counters(t, reg, "hookd_requests_rejected_total", "reason")["inflight"], map[int]float64{200: 0, 503: 1}[tc.status]; got != want {
				t.Errorf("rejected for inflight: %v, want %v", got, want)
			}
			events := bytes.Count(tc.probe, []byte(`"event"`))
			for _, r := range tc.held {
				events += bytes.Count(r.body, []byte(`"event"`))
			}
			if got := providertest.Messages(t, g.Log, eventlog.TopicEvents, events); len(got) != events {
				t.Errorf("the log holds %d events, want the %d answered 200", len(got), events)
			}
		})
	}
}

// postReader is postAsync with body read from r: sent without a
// Content-Length unless r is a bytes.Reader.
func postReader(url string, r io.Reader) <-chan int {
	status := make(chan int, 1)
	go func() {
		resp, err := http.Post(url, "application/json", r)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	return status
}

// TestInflightBudgetBoundsMemory sends eight requests of 10,000 tiny events
// at once with room for two under limits.max_inflight, their commits held
// at the log's gate: at most two are admitted (their bodies arrive side
// by side, charged as they do, so one may crowd out the other) and the
// rest answered 503, and the live heap the requests hold while they wait
// is what two of them take at most (about 20 times one body, 10 times the
// budget: 13 for the one whose commit is under way, its messages made,
// and 6.5 for one queued behind it) rather than what eight would (58
// times one body). Every request answered 200 has its events in the log.
func TestInflightBudgetBoundsMemory(t *testing.T) {
	const n, requests, admitted = 10000, 8, 2
	bodies := make([][]byte, requests)
	for i := range bodies {
		bodies[i] = batch(100000+i*n, n, openEvent)
	}
	size := int64(len(bodies[0]))
	reg := prometheus.NewRegistry()
	l, url, g := startGated(t, listener.Config{
		MaxInflight: admitted * size, InflightWait: 50 * time.Millisecond,
		Sources: []config.Source{{Name: "mj", Provider: "mailjet"}},
	}, reg)
	before := liveHeap()
	answers := make(chan int, requests)
	for _, b := range bodies {
		go func() { answers <- <-postAsync(url+"/hooks/mj", b) }()
	}
	<-g.entered // the first admitted has its messages made
	refused := 0
	waitFor(t, "every request refused or waiting for its commit", func() bool {
		for {
			select {
			case got := <-answers:
				if got != 503 {
					t.Fatalf("a request answered %d while the commits are held, want 503", got)
				}
				refused++
				continue
			default:
			}
			return refused+1+listener.Queued(l) == requests
		}
	})
	in := requests - refused
	if in > admitted {
		t.Fatalf("%d requests admitted with room for %d", in, admitted)
	}
	if got := int64(gauge(t, reg, "hookd_requests_inflight_bytes")); got != int64(in)*size {
		t.Errorf("%d bytes charged, want %d for the %d admitted", got, int64(in)*size, in)
	}
	held := float64(liveHeap()) - float64(before)
	runtime.KeepAlive(bodies) // counted in before, so they must not be freed since
	budget := float64(admitted * size)
	t.Logf("%d requests of %d bytes with room for %d hold %.0f bytes of heap: %.1f times the budget", requests, size, admitted, held, held/budget)
	if held > 14*budget {
		t.Errorf("the requests hold %.0f bytes, more than 14 times the budget of %.0f", held, budget)
	}
	g.open()
	for range in {
		if got := <-answers; got != 200 {
			t.Errorf("an admitted request: %d, want 200", got)
		}
	}
	if got := providertest.Messages(t, g.Log, eventlog.TopicEvents, in*n); len(got) != in*n {
		t.Errorf("the log holds %d events, want %d", len(got), in*n)
	}
}

// TestInflightBudgetIdleClients opens connections that declare bodies as
// large as the whole in-flight budget and send none of their bytes: they
// hold nothing of it, so an event posted meanwhile is answered 200 at
// once, without waiting for room.
func TestInflightBudgetIdleClients(t *testing.T) {
	const budget = 64 << 10
	reg := prometheus.NewRegistry()
	l, base, g := startGated(t, listener.Config{
		MaxBody: budget, MaxInflight: budget, InflightWait: time.Millisecond,
		Sources: []config.Source{{Name: "mj", Provider: "mailjet"}},
	}, reg)
	g.open()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST /hooks/mj HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", u.Host, budget)
	}
	waitFor(t, "the idle clients' requests being served", func() bool { return listener.Serving(l) == 4 })
	if got := gauge(t, reg, "hookd_requests_inflight_bytes"); got != 0 {
		t.Errorf("idle clients hold %.0f bytes of the budget, want none", got)
	}
	if r := post(t, "POST", base+"/hooks/mj", openEvent(1), nil); r.status != 200 {
		t.Fatalf("an event posted beside idle clients: %d %v, want 200", r.status, r.body)
	}
}
