package listener_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/listener"
)

// gatedLog is an event log whose appends to the events topic wait at a
// gate until the test opens it, so that a test can hold requests in
// flight for as long as it needs, without timing.
type gatedLog struct {
	eventlog.Log
	entered chan struct{} // an Append of events waits at the gate
	gate    chan struct{} // closed: appends go through
}

func (g *gatedLog) Append(ctx context.Context, topic string, msgs []*message.Message) ([]bool, error) {
	if topic == eventlog.TopicEvents {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Log.Append(ctx, topic, msgs)
}

// startGated serves a listener with cfg over a fresh SQLite log whose
// event appends wait at a gate, closed at first; its metrics go to reg
// (nil: none). The gate opens when the test ends, before the server stops.
// Requests wait at the gate for a minute at most, unless cfg sets
// CommitTimeout: long enough for any test, however busy the machine.
func startGated(t *testing.T, cfg listener.Config, reg prometheus.Registerer) (*listener.Listener, string, *gatedLog) {
	t.Helper()
	if cfg.CommitTimeout == 0 {
		cfg.CommitTimeout = time.Minute
	}
	var g *gatedLog
	l, _ := startWith(t, cfg, startOpts{reg: reg, wrap: func(log eventlog.Log) eventlog.Log {
		g = &gatedLog{Log: log, entered: make(chan struct{}, 1), gate: make(chan struct{})}
		return g
	}})
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(func() {
		g.open()
		srv.Close()
	})
	return l, srv.URL, g
}

// open lets every append through from now on.
func (g *gatedLog) open() {
	select {
	case <-g.gate:
	default:
		close(g.gate)
	}
}

// postAsync posts body to url and sends the answer's status on the
// channel (0 when the request failed).
func postAsync(url string, body []byte) <-chan int {
	return postReader(url, bytes.NewReader(body))
}

// batch returns a Mailjet Version 2 array of n events made by ev from
// first on.
func batch(first, n int, ev func(i int) []byte) []byte {
	b := []byte{'['}
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ev(first+i)...)
	}
	return append(b, ']')
}

// liveHeap returns the bytes of live heap objects after two collections:
// the second frees what the first left in sync.Pools' victim caches.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// waitFor polls cond every 5 ms, at most 2000 times, and fails the test if
// it never holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: still not so after 10 s", what)
}

// TestQueuedRequestMemory measures what a large request holds on the heap
// while it waits in the group commit's queue behind another commit, which
// is where concurrent large requests spend their time: the bytes per event
// and their ratio to the body's bytes, reported with -v. The bounds are
// generous; before requests handed the committer records instead of
// watermill messages and let go of their decoded events and body buffer,
// such a request held about 1,700 bytes a tiny event (18 times its body)
// and 3,200 a documented click (7.5 times).
func TestQueuedRequestMemory(t *testing.T) {
	tiny := func(i int) []byte { return openEvent(i) }
	click := func(i int) []byte {
		return []byte(`{"event":"click","time":1433334653,"MessageID":` + itoa(19421777836302490+i) +
			`,"Message_GUID":"1ab23cd4-e567-8901-2345-6789f0gh1i2j","email":"api@mailjet.com","mj_campaign_id":0,"mj_contact_id":373142816,` +
			`"customcampaign":"","CustomID":"helloworld","Payload":"","url":"https://mailjet.com","ip":"127.0.0.1","geo":"FR",` +
			`"agent":"Mozilla/5.0 (Windows NT 6.3; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/43.0.2357.81 Safari/537.36"}`)
	}
	for _, tc := range []struct {
		name     string
		ev       func(int) []byte
		perEvent float64 // most heap bytes an event may hold
	}{
		// About 80 bytes an event: what a sender who wants to cost
		// hookd the most would post.
		{"tiny", tiny, 800},
		// Mailjet's documented click event, 423 bytes.
		{"documented click", click, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 10000
			l, url, g := startGated(t, listener.Config{MaxBody: 8 << 20, Sources: []config.Source{{Name: "mj", Provider: "mailjet"}}}, nil)
			body := batch(0, n, tc.ev)
			// The first request takes the committer and holds it at the gate.
			first := postAsync(url+"/hooks/mj", tc.ev(n))
			<-g.entered
			before := liveHeap()
			second := postAsync(url+"/hooks/mj", body)
			waitFor(t, "the large request waits for its commit", func() bool { return listener.Queued(l) == 1 })
			held := float64(liveHeap()) - float64(before)
			g.open()
			for i, s := range []<-chan int{first, second} {
				if got := <-s; got != 200 {
					t.Fatalf("request %d: %d, want 200", i, got)
				}
			}
			per := held / n
			t.Logf("a queued request of %d events in %d bytes holds %.0f bytes of heap: %.0f an event, %.1f times its body",
				n, len(body), held, per, held/float64(len(body)))
			if per > tc.perEvent {
				t.Errorf("a queued request holds %.0f bytes an event, want at most %.0f", per, tc.perEvent)
			}
		})
	}
}
