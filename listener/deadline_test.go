package listener_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/providertest"
)

// stuckLog is an event log whose appends of events hang until the test
// releases them, as they do on a PostgreSQL server stopped with SIGSTOP.
// An append that honours its context fails when the context ends, and
// once released still fails if its deadline has passed. A deaf one waits
// for the release whatever its context says, then stores its events: an
// append whose client gave up but whose server committed all the same.
type stuckLog struct {
	eventlog.Log
	deaf    bool
	entered chan struct{} // an append of events has started to hang
	release chan struct{} // closed: appends go through
}

func (s *stuckLog) Append(ctx context.Context, topic string, msgs []*message.Message) ([]bool, error) {
	if topic != eventlog.TopicEvents {
		return s.Log.Append(ctx, topic, msgs)
	}
	select {
	case s.entered <- struct{}{}:
	default:
	}
	if s.deaf {
		<-s.release
		return s.Log.Append(context.WithoutCancel(ctx), topic, msgs)
	}
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return nil, context.DeadlineExceeded
	}
	return s.Log.Append(ctx, topic, msgs)
}

// timedAnswer is a hook request's answer and how long it took.
type timedAnswer struct {
	status     int
	retryAfter string
	msg        string // the error's message
	took       time.Duration
}

// postTimed posts body to url and sends the answer on the channel, with
// the time from just before the request to its answer (status 0 when the
// request failed).
func postTimed(url string, body []byte) <-chan timedAnswer {
	out := make(chan timedAnswer, 1)
	go func() {
		start := time.Now()
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			out <- timedAnswer{took: time.Since(start)}
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var e struct{ Error string }
		_ = json.Unmarshal(raw, &e)
		out <- timedAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), msg: e.Error, took: time.Since(start)}
	}()
	return out
}

// TestCommitDeadline hangs the event log's appends and checks that each
// request is answered 503 with Retry-After within Config.CommitTimeout of
// being sent, plus a slack a busy machine needs, and not before it:
// whether its own commit hangs or it is queued behind one that does,
// whether or not the append honours its context, and for an array of more
// events than a batch holds. Before, commitTimeout bounded each append
// rather than each request, so a request queued behind a hung commit waited
// for it and then for its own, and with an append deaf to its context it
// waited for ever. Once the log answers again, each body is retried: what
// the log stored after its request had been answered 503 (the first
// request's events, with a deaf append) comes back as duplicates, the
// rest as accepted, and the log holds every event once. A request whose
// deadline has passed while it was queued has its events left out of the
// commit.
func TestCommitDeadline(t *testing.T) {
	const (
		bound = 500 * time.Millisecond
		slack = 4 * time.Second
	)
	for _, tc := range []struct {
		name      string
		deaf      bool
		batchSize int
		bodies    [][]byte // posted one after the other, the first hangs in the append
	}{
		{name: "its own commit hangs", bodies: [][]byte{openEvent(1)}},
		{name: "queued behind a commit that hangs", bodies: [][]byte{openEvent(1), openEvent(2)}},
		{name: "an append deaf to its context", deaf: true, bodies: [][]byte{openEvent(1), openEvent(2)}},
		{name: "arrays of more events than a batch", deaf: true, batchSize: 2, bodies: [][]byte{batch(10, 3, openEvent), batch(20, 5, openEvent), openEvent(3)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			var s *stuckLog
			l, _ := startWith(t, listener.Config{
				CommitTimeout: bound, BatchSize: tc.batchSize,
				Sources: []config.Source{{Name: "mj", Provider: "mailjet"}},
			}, startOpts{reg: reg, wrap: func(log eventlog.Log) eventlog.Log {
				s = &stuckLog{Log: log, deaf: tc.deaf, entered: make(chan struct{}, 1), release: make(chan struct{})}
				return s
			}})
			srv := httptest.NewServer(l.Handler())
			released := false
			t.Cleanup(func() {
				if !released {
					close(s.release)
				}
				srv.Close()
			})
			url := srv.URL + "/hooks/mj"

			var answers []<-chan timedAnswer
			for i, b := range tc.bodies {
				answers = append(answers, postTimed(url, b))
				if i == 0 {
					<-s.entered
				}
			}
			for i, ch := range answers {
				select {
				case a := <-ch:
					if a.status != http.StatusServiceUnavailable || a.retryAfter != "5" || !strings.Contains(a.msg, "retry later") {
						t.Errorf("request %d: %d %q, Retry-After %q; want 503, retry later, Retry-After 5", i, a.status, a.msg, a.retryAfter)
					}
					if a.took < bound || a.took > bound+slack {
						t.Errorf("request %d answered after %s, want from %s to %s", i, a.took, bound, bound+slack)
					}
					if tc.deaf && !strings.Contains(a.msg, "did not commit the events within "+bound.String()) {
						t.Errorf("request %d: %q, want it to say the events were not committed within %s", i, a.msg, bound)
					}
				case <-time.After(bound + slack):
					t.Fatalf("request %d: no answer within %s", i, bound+slack)
				}
			}
			if got := counters(t, reg, "hookd_requests_rejected_total", "reason")["unavailable"]; got != float64(len(tc.bodies)) {
				t.Errorf("rejected as unavailable: %v, want %d", got, len(tc.bodies))
			}

			close(s.release)
			released = true
			total := 0
			for i, b := range tc.bodies {
				n := bytes.Count(b, []byte(`"event"`))
				total += n
				dups := 0.0
				if tc.deaf && i == 0 {
					dups = float64(n) // stored once released, after its 503
				}
				r := post(t, "POST", url, b, nil)
				if r.status != http.StatusOK || r.body["accepted"] != float64(n)-dups || r.body["duplicates"] != dups {
					t.Errorf("request %d retried: %d %v, want 200 with %v accepted and %v duplicates", i, r.status, r.body, float64(n)-dups, dups)
				}
			}
			if got := providertest.Messages(t, s.Log, eventlog.TopicEvents, total); len(got) != total {
				t.Errorf("the log holds %d events, want %d", len(got), total)
			}
		})
	}
}
