package api_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/golden"

	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/store"
)

// newDashServer is newServer's store and API with the bounce and blocked
// events holding the error values and hard_bounce flags Mailjet sends.
func newDashServer(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	srv, st, _ := newDashServerShutdown(t)
	return srv, st
}

// newDashServerShutdown is newDashServer with the channel whose closing
// tells the API the server shuts down.
func newDashServerShutdown(t *testing.T) (*httptest.Server, *store.Store, chan struct{}) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seed(t, st)
	extra := []event.Event{
		{ID: "b-1", Type: "bounce", Email: "x@a.com", Domain: "a.com", Time: base.Add(10 * time.Minute),
			Data: json.RawMessage(`{"event":"bounce","hard_bounce":true,"error":"user unknown"}`)},
		{ID: "b-2", Type: "bounce", Email: "y@b.org", Domain: "b.org", Time: base.Add(70 * time.Minute),
			Data: json.RawMessage(`{"event":"bounce","hard_bounce":false,"error":"mailbox full"}`)},
		{ID: "b-3", Type: "blocked", Email: "z@b.org", Domain: "b.org", Time: base.Add(71 * time.Minute),
			Data: json.RawMessage(`{"event":"blocked","error":"user unknown"}`)},
	}
	for i := range extra {
		extra[i].Source, extra[i].Provider, extra[i].Received = "mailjet", "mailjet", extra[i].Time
	}
	if err := st.Insert(context.Background(), extra...); err != nil {
		t.Fatal(err)
	}
	e := listener.NewEcho(nil)
	shutdown := make(chan struct{})
	api.Register(e.Group("/api"), api.Deps{Store: st, Shutdown: shutdown})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, st, shutdown
}

func TestDashboardAPI(t *testing.T) {
	srv, _ := newDashServer(t)
	tests := []goldenCase{
		{"deliverability_hours", "/api/deliverability?since=2025-03-01T12:00:00Z&until=2025-03-01T13:30:00Z", 200},
		{"deliverability_days", "/api/deliverability?since=2025-02-27T07:00:00Z&until=2025-03-03T00:00:00Z", 200},
		{"deliverability_limit", "/api/deliverability?since=2025-02-27T07:00:00Z&until=2025-03-03T00:00:00Z&limit=1", 200},
		{"deliverability_none", "/api/deliverability?since=2024-03-01T12:00:00Z&until=2024-03-01T13:30:00Z", 200},
		{"deliverability_bad_range", "/api/deliverability?since=2025-03-02T00:00:00Z&until=2025-03-01T00:00:00Z", 400},
		{"deliverability_unknown_param", "/api/deliverability?domain=a.com", 400},
		{"rule_activity_none", "/api/rules/activity?since=2025-03-01T10:00:00Z&until=2025-03-01T14:00:00Z", 200},
		{"rule_activity_bad_interval", "/api/rules/activity?interval=2h", 400},
		{"events_campaign", "/api/events?campaign=summer", 200},
		{"events_bad_format", "/api/events?format=xml", 400},
		{"events_ndjson_bad_since", "/api/events?format=ndjson&since=yesterday", 400},
	}
	checkGolden(t, srv, tests)
}

// TestEventsExport checks the NDJSON and CSV exports against golden files,
// and that they hold the same events as the JSON listing with the same
// filters.
func TestEventsExport(t *testing.T) {
	srv, _ := newDashServer(t)
	tests := []struct {
		name, query, ext, contentType string
	}{
		{"export_all", "format=ndjson", "ndjson", "application/x-ndjson"},
		{"export_filtered", "format=ndjson&source=other&since=2025-03-01T12:05:00Z", "ndjson", "application/x-ndjson"},
		{"export_limit", "format=ndjson&limit=2", "ndjson", "application/x-ndjson"},
		{"export_csv", "format=csv&domain=b.org", "csv", "text/csv; charset=utf-8"},
		{"export_csv_none", "format=csv&type=unsub", "csv", "text/csv; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/api/events?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.contentType {
				t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			golden.Check(t, filepath.Join("testdata", tt.name+"."+tt.ext), body, *update)
			if tt.ext != "ndjson" || strings.Contains(tt.query, "limit") {
				return
			}
			var ids []string
			sc := bufio.NewScanner(strings.NewReader(string(body)))
			for sc.Scan() {
				var e event.Event
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				ids = append(ids, e.ID)
			}
			var listed []string
			for _, e := range getPage(t, srv, "/api/events?limit=1000&"+strings.Replace(tt.query, "format=ndjson", "", 1)).Events {
				listed = append(listed, e.ID)
			}
			if strings.Join(ids, " ") != strings.Join(listed, " ") {
				t.Errorf("export holds %v, the listing %v", ids, listed)
			}
		})
	}
}

// TestLive reads the server-sent event stream: it starts after the newest
// event, sends the events stored afterwards in order, filtered, each with
// its sequence as id and in its data as seq, and resumes after
// Last-Event-ID or after; it takes no since.
func TestLive(t *testing.T) {
	srv, st, shutdown := newDashServerShutdown(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func(query, lastID string) (*bufio.Scanner, func()) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/live"+query, nil)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET /api/live%s: %d %s", query, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return bufio.NewScanner(resp.Body), func() { resp.Body.Close() }
	}
	// next returns the id and event of the next message.
	next := func(sc *bufio.Scanner) (string, store.StoredEvent) {
		var id string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok && id != "" {
				var e store.StoredEvent
				if err := json.Unmarshal([]byte(v), &e); err != nil {
					t.Fatal(err)
				}
				return id, e
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return "", store.StoredEvent{}
	}
	all, closeAll := open("", "")
	defer closeAll()
	opens, closeOpens := open("?type=open&source=mailjet", "")
	defer closeOpens()
	newEvents := []event.Event{
		{ID: "live-1", Source: "mailjet", Type: "sent", Time: base},
		{ID: "live-2", Source: "other", Type: "open", Time: base},
		{ID: "live-3", Source: "mailjet", Type: "open", Time: base},
	}
	for _, e := range newEvents {
		if err := st.Insert(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var lastID string
	for _, want := range []string{"live-1", "live-2", "live-3"} {
		id, e := next(all)
		if e.ID != want || id == "" {
			t.Fatalf("all: got %s (id %s), want %s", e.ID, id, want)
		}
		if want == "live-1" {
			lastID = id
		}
	}
	if _, e := next(opens); e.ID != "live-3" {
		t.Fatalf("open from mailjet: got %s, want live-3", e.ID)
	}
	resumed, closeResumed := open("", lastID)
	defer closeResumed()
	if _, e := next(resumed); e.ID != "live-2" {
		t.Fatalf("after Last-Event-ID %s: got %s, want live-2", lastID, e.ID)
	}
	// after reads on by arrival order from the seq a script kept, as the
	// README shows; the data's seq is the message's id.
	after, closeAfter := open("?type=open&after="+lastID, "")
	defer closeAfter()
	if id, e := next(after); e.ID != "live-2" || strconv.FormatInt(e.Seq, 10) != id {
		t.Fatalf("after=%s&type=open: got %s (seq %d, id %s), want live-2 with its id as seq", lastID, e.ID, e.Seq, id)
	}
	// A time is not arrival order: since is refused, saying what is taken.
	if status, body := get(t, srv, "/api/live?since=24h"); status != http.StatusBadRequest || !strings.Contains(string(body), `unknown parameter \"since\" (known: source, type, after)`) {
		t.Fatalf("GET /api/live?since=24h: %d %s, want 400 naming after", status, body)
	}
	// A malformed sequence is refused naming where it came from, the
	// header or the parameter, and a malformed after is refused even
	// beside a header that takes precedence over it.
	for _, tt := range []struct {
		name, query, lastID, want string
	}{
		{"bad after", "?after=-1", "", `{"error":"after: \"-1\" is not a non-negative integer"}`},
		{"bad header", "", "x", `{"error":"Last-Event-ID: \"x\" is not a non-negative integer"}`},
		{"bad header beside after", "?after=1", "-4", `{"error":"Last-Event-ID: \"-4\" is not a non-negative integer"}`},
		{"bad after beside header", "?after=abc", lastID, `{"error":"after: \"abc\" is not a non-negative integer"}`},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/live"+tt.query, nil)
		if tt.lastID != "" {
			req.Header.Set("Last-Event-ID", tt.lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.TrimSpace(string(body)) != tt.want {
			t.Errorf("%s: %d %s, want 400 %s", tt.name, resp.StatusCode, body, tt.want)
		}
	}
	// Shutting down ends the streams (ctx bounds the wait).
	close(shutdown)
	for _, sc := range []*bufio.Scanner{all, opens, resumed, after} {
		for sc.Scan() {
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("stream did not end cleanly at shutdown: %v", err)
		}
	}
}

// TestEventsExportFormulas exports events whose fields a sender chose to
// look like spreadsheet formulas: each such cell starts with an apostrophe,
// and the other cells are as stored.
func TestEventsExportFormulas(t *testing.T) {
	st, err := store.Open(context.Background(), store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := st.Insert(context.Background(), event.Event{
		ID: "f-1", Source: "mailjet", Provider: "mailjet", Type: "@sum(1)", Time: at, Received: at,
		Email: `=hyperlink("http://x","y")@a.com`, Domain: "a.com", MessageID: "-1", Campaign: "+SUM(1,2)",
		Data: json.RawMessage(`{"event":"@sum(1)"}`),
	}); err != nil {
		t.Fatal(err)
	}
	e := listener.NewEcho(nil)
	api.Register(e.Group("/api"), api.Deps{Store: st})
	srv := httptest.NewServer(e)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/events?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("%d rows, %v; want a header and one event", len(rows), err)
	}
	want := []string{"f-1", "mailjet", "mailjet", "'@sum(1)", "2025-03-01T12:00:00Z", "2025-03-01T12:00:00Z",
		`'=hyperlink("http://x","y")@a.com`, "a.com", "'-1", "'+SUM(1,2)", "", "", `{"event":"@sum(1)"}`}
	if !slices.Equal(rows[1], want) {
		t.Errorf("row = %q\nwant  %q", rows[1], want)
	}
}

// TestDeliverabilityProviders stores the events that the provider
// adapters decode from their test payloads (the listeners' golden files),
// a Mailjet bounce and block, Postmark's and Mailgun's deliveries,
// bounces and complaints, SendGrid's and SES's bounces and drops,
// Standard Webhooks' (Resend's) bounce, and two generic bounces that tell
// no class: /api/deliverability and /api/stats?by=category count them by
// category, whichever provider sent them.
func TestDeliverabilityProviders(t *testing.T) {
	st, err := store.Open(context.Background(), store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var events []event.Event
	for _, f := range []string{
		"mailjet/testdata/bounce", "mailjet/testdata/blocked",
		"postmark/testdata/delivery", "postmark/testdata/bounce-hard", "postmark/testdata/bounce-soft", "postmark/testdata/spam-complaint",
		"mailgun/testdata/delivered", "mailgun/testdata/failed-permanent", "mailgun/testdata/failed-suppressed", "mailgun/testdata/complained",
		"sendgrid/testdata/delivery-events", "ses/testdata/bounce-notification", "ses/testdata/reject-event",
		"standardwebhooks/testdata/resend-email-bounced-general",
	} {
		b, err := os.ReadFile(filepath.Join("..", "listener", f+".golden"))
		if err != nil {
			t.Fatal(err)
		}
		var g struct{ Events []event.Event }
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		events = append(events, g.Events...)
	}
	for i := range 2 {
		at := time.Date(2020, 6, 1, 10, i, 0, 0, time.UTC)
		events = append(events, event.Event{ID: fmt.Sprintf("generic-%d", i), Provider: "generic", Type: "bounce",
			Category: event.Bounce, Time: at, Email: "g@example.net", Domain: "example.net", Data: json.RawMessage(`{"event":"bounce"}`)})
	}
	for i := range events {
		events[i].Source, events[i].Received = events[i].Provider, events[i].Time
	}
	if err := st.Insert(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	e := listener.NewEcho(nil)
	api.Register(e.Group("/api"), api.Deps{Store: st})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	checkGolden(t, srv, []goldenCase{
		{"deliverability_providers", "/api/deliverability?since=2015-01-01T00:00:00Z&until=2026-12-01T00:00:00Z", 200},
		// Partial hours only: read from the events, not the count tables.
		{"deliverability_providers_hour", "/api/deliverability?since=2019-11-05T16:00:00Z&until=2019-11-05T16:50:00Z", 200},
		{"stats_providers_category", "/api/stats?by=category&interval=1d&since=2019-11-05T00:00:00Z&until=2019-11-07T00:00:00Z", 200},
	})
}
