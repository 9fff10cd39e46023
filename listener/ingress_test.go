package listener_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/providertest"
)

// serve starts a listener with cfg over a fresh SQLite log.
func serve(t *testing.T, cfg listener.Config) (string, eventlog.Log) {
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
// the connection closed, while /healthz still answers.
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
