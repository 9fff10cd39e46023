package listener_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

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
