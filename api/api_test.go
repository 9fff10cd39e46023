package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/golden"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// categories are what the Mailjet adapter sets for its types.
var categories = map[string]event.Category{"sent": event.Delivered, "open": event.Open, "click": event.Click,
	"bounce": event.Bounce, "blocked": event.Blocked, "spam": event.Complaint}

// seed fills st with a small, varied history: 12 events a minute apart
// (two of them at the same instant) and three quarantined bodies.
func seed(t testing.TB, st *store.Store) {
	t.Helper()
	rows := []struct {
		id, source, typ, email, campaign string
		minute                           float64
	}{
		{"ev-00", "mailjet", "sent", "Ann@A.com", "spring", 0},
		{"ev-01", "mailjet", "open", "ann@a.com", "spring", 1},
		{"ev-02", "mailjet", "click", "ann@a.com", "spring", 2},
		{"ev-03", "mailjet", "sent", "bob@a.com", "spring", 3},
		{"ev-04", "mailjet", "bounce", "bob@a.com", "spring", 4},
		{"ev-05", "other", "sent", "cat@b.org", "", 5},
		{"ev-06", "other", "blocked", "cat@b.org", "", 6},
		{"ev-07", "other", "sent", "dan@b.org", "", 6},
		{"ev-08", "mailjet", "open", "ann@a.com", "summer", 61.5},
		{"ev-09", "mailjet", "spam", "eve@c.net", "summer", 62},
		{"ev-10", "other", "bounce", "dan@b.org", "", 63},
		{"ses/abc:1", "ses", "sent", "fay@c.net", "", 1500},
	}
	events := make([]event.Event, len(rows))
	for i, r := range rows {
		at := base.Add(time.Duration(r.minute * float64(time.Minute)))
		email, domain := event.NormalizeEmail(r.email)
		mid := fmt.Sprint(1152921504606846976 + i) // above 2^53
		events[i] = event.Event{
			ID: r.id, Source: r.source, Provider: r.source, Type: r.typ,
			Time: at, Received: at.Add(1500 * time.Millisecond),
			Email: email, Domain: domain, MessageID: mid, Campaign: r.campaign,
			Category: categories[r.typ],
			Data: json.RawMessage(fmt.Sprintf(`{"event": %q, "time": %d, "MessageID": %s, "email": %q}`,
				r.typ, at.Unix(), mid, r.email)),
		}
	}
	// A click's url keeps its bytes, "&" and "<" included, in every answer.
	events[2].Data = json.RawMessage(strings.Replace(string(events[2].Data), `}`, `, "url": "https://shop.example/?a=1&b=<2>"}`, 1))
	events[4].BounceClass = event.Hard
	events[10].BounceClass = event.Soft
	if err := st.Insert(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	quarantined := []event.Quarantined{
		{ID: "q-1", Source: "mailjet", Received: base, Error: "mailjet: unexpected end of JSON input",
			ContentType: "application/json", Body: []byte(`[{"event":"open",`)},
		{ID: "q-2", Source: "mailjet", Received: base.Add(time.Minute), Error: "mailjet: invalid character '\\x00'",
			ContentType: "application/octet-stream", Body: []byte{0x00, 0xff, 'o', 'k', 0xfe}},
		{ID: "q-3", Source: "other", Received: base.Add(2 * time.Minute), Error: "generic: not JSON",
			ContentType: "application/x-www-form-urlencoded", Body: []byte("event=open&email=%C3%A9l%C3%A8ve%40x.fr")},
	}
	if err := st.InsertQuarantined(context.Background(), quarantined...); err != nil {
		t.Fatal(err)
	}
}

// newServer serves the API at /api on a real store, with an error handler
// like the serve command's: {"error": message}, 500 for non-HTTP errors.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seed(t, st)
	e := testEcho(t)
	api.Register(e.Group("/api"), api.Deps{Store: st})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// testEcho returns the admin listener's echo, with an error handler that
// answers as the real one does and fails the test on a server error.
func testEcho(t *testing.T) *echo.Echo {
	e := listener.NewEcho(nil)
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		code, msg := http.StatusInternalServerError, "internal server error"
		var he *echo.HTTPError
		if errors.As(err, &he) {
			code, msg = he.Code, fmt.Sprint(he.Message)
		} else {
			t.Errorf("server error: %v", err)
		}
		c.JSON(code, map[string]string{"error": msg})
	}
	return e
}

func get(t *testing.T, srv *httptest.Server, path string) (int, []byte) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return resp.StatusCode, body
}

func TestAPI(t *testing.T) {
	srv := newServer(t)
	tests := []goldenCase{
		{"events_all", "/api/events", 200},
		{"events_page", "/api/events?limit=3", 200},
		{"events_type", "/api/events?type=sent", 200},
		{"events_email_any_case", "/api/events?email=ANN%40A.COM", 200},
		{"events_domain_source", "/api/events?domain=B.org&source=other", 200},
		{"events_hard_bounces", "/api/events?category=bounce&bounce_class=hard", 200},
		{"events_since_until_fractional", "/api/events?since=2025-03-01T12:01:30.5Z&until=2025-03-01T13:02:00.000000001Z", 200},
		{"events_since_offset", "/api/events?since=2025-03-01T14:01:00%2B01:00", 200},
		{"events_none", "/api/events?type=unsub", 200},
		{"events_limit_too_large", "/api/events?limit=1001", 400},
		{"events_limit_zero", "/api/events?limit=0", 400},
		{"events_limit_not_number", "/api/events?limit=ten", 400},
		{"events_since_date", "/api/events?since=2025-03-01&until=2025-03-01T12:03:00Z", 200},
		{"events_bad_since", "/api/events?since=2025-03-01T14:01:00+01:00", 400},
		{"events_bad_until", "/api/events?until=yesterday", 400},
		{"events_since_after_until", "/api/events?since=2025-03-02T00:00:00Z&until=2025-03-01T00:00:00Z", 400},
		{"events_bad_cursor", "/api/events?cursor=nope", 400},
		{"events_unknown_param", "/api/events?emial=ann%40a.com", 400},
		{"events_repeated_param", "/api/events?type=open&type=click", 400},
		{"events_malformed_query", "/api/events?type=%zz", 400},
		{"events_bad_category", "/api/events?category=bounced", 400},
		{"events_bad_bounce_class", "/api/events?bounce_class=permanent", 400},
		{"event", "/api/events/ev-04", 200},
		{"event_escaped_id", "/api/events/ses%2Fabc:1", 200},
		{"event_missing", "/api/events/ev-99", 404},
		{"event_unknown_param", "/api/events/ev-04?x=1", 400},
		{"events_since_zero", "/api/events?since=0", 400},
		{"stats_type_hour", "/api/stats?since=2025-03-01T11:00:00Z&until=2025-03-01T14:00:00Z", 200},
		{"stats_domain_minute", "/api/stats?by=domain&interval=1m&since=2025-03-01T12:02:30Z&until=2025-03-01T12:07:00Z", 200},
		{"stats_source_day", "/api/stats?by=source&interval=1d&since=2025-03-01T00:00:00Z&until=2025-03-03T00:00:00Z", 200},
		{"stats_category_hour", "/api/stats?by=category&since=2025-03-01T11:00:00Z&until=2025-03-01T14:00:00Z", 200},
		{"stats_offset_in_utc", "/api/stats?since=2025-03-01T12:00:00%2B01:00&until=2025-03-01T14:00:00%2B01:00", 200},
		{"stats_bad_by", "/api/stats?by=email", 400},
		{"stats_bad_interval", "/api/stats?interval=5m", 400},
		{"stats_too_many_buckets", "/api/stats?interval=1m&since=2025-03-01T00:00:00Z&until=2025-03-03T00:00:00Z", 400},
		{"stats_empty_range", "/api/stats?since=2025-03-01T00:00:00Z&until=2025-03-01T00:00:00Z", 400},
		{"quarantine", "/api/quarantine", 200},
		{"quarantine_page", "/api/quarantine?limit=2", 200},
		{"quarantine_source", "/api/quarantine?source=other", 200},
		{"quarantine_bad_limit", "/api/quarantine?limit=-1", 400},
		{"quarantine_events_cursor", "/api/quarantine?cursor=ZQAAAAAAAAAAAAAAAAAAAAE", 400},
	}
	checkGolden(t, srv, tests)
}

// goldenJSON compares a JSON body, indented, with testdata/name.json.
func goldenJSON(t *testing.T, name string, body []byte) {
	t.Helper()
	var got bytes.Buffer
	if err := json.Indent(&got, body, "", "  "); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	got.WriteByte('\n')
	golden.Check(t, filepath.Join("testdata", name+".json"), got.Bytes(), *update)
}

type page struct {
	Events []event.Event `json:"events"`
	Next   string        `json:"next"`
}

func getPage(t *testing.T, srv *httptest.Server, path string) page {
	t.Helper()
	status, body := get(t, srv, path)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEventsPagination(t *testing.T) {
	srv := newServer(t)
	for _, tt := range []struct{ query, want string }{
		{"", "[ses/abc:1 ev-10 ev-09 ev-08 ev-07 ev-06 ev-05 ev-04 ev-03 ev-02 ev-01 ev-00]"},
		{"&source=other", "[ev-10 ev-07 ev-06 ev-05]"},
		{"&domain=a.com&until=2025-03-01T13:00:00Z", "[ev-04 ev-03 ev-02 ev-01 ev-00]"},
	} {
		for _, limit := range []int{1, 2, 5} {
			t.Run(fmt.Sprintf("%s limit %d", tt.query, limit), func(t *testing.T) {
				var got []string
				next := ""
				for range 20 {
					p := getPage(t, srv, fmt.Sprintf("/api/events?limit=%d&cursor=%s%s", limit, next, tt.query))
					if len(p.Events) > limit {
						t.Fatalf("page of %d events, limit %d", len(p.Events), limit)
					}
					for _, e := range p.Events {
						got = append(got, e.ID)
					}
					if next = p.Next; next == "" {
						break
					}
				}
				if next != "" {
					t.Fatal("pagination does not end")
				}
				if fmt.Sprint(got) != tt.want {
					t.Fatalf("pages hold %v, want %s", got, tt.want)
				}
			})
		}
	}
}

func TestStatsDefaults(t *testing.T) {
	srv := newServer(t)
	before := time.Now().UTC()
	status, body := get(t, srv, "/api/stats")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	var got struct {
		By       string         `json:"by"`
		Interval string         `json:"interval"`
		Since    time.Time      `json:"since"`
		Until    time.Time      `json:"until"`
		Buckets  []store.Bucket `json:"buckets"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.By != "type" || got.Interval != "1h" || len(got.Buckets) != 24 {
		t.Fatalf("by %q, interval %q, %d buckets; want type, 1h, 24", got.By, got.Interval, len(got.Buckets))
	}
	// until is the end of the current hour, since a day earlier.
	if got.Until.Before(before) || got.Until.Sub(before) > time.Hour || got.Until.Truncate(time.Hour) != got.Until {
		t.Errorf("until %v is not the end of the hour of %v", got.Until, before)
	}
	if got.Until.Sub(got.Since) != 24*time.Hour {
		t.Errorf("since %v is not a day before until %v", got.Since, got.Until)
	}
	if !slices.IsSortedFunc(got.Buckets, func(a, b store.Bucket) int { return a.Time.Compare(b.Time) }) {
		t.Error("buckets are not oldest first")
	}
}

// goldenCase is a GET of path that answers status with the body in
// testdata/name.golden.
type goldenCase struct {
	name   string
	path   string
	status int
}

func checkGolden(t *testing.T, srv *httptest.Server, tests []goldenCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, srv, tt.path)
			if status != tt.status {
				t.Errorf("status = %d, want %d; body %s", status, tt.status, body)
			}
			goldenJSON(t, tt.name, body)
		})
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2025, 3, 2, 10, 30, 0, 0, time.UTC)
	for _, tt := range []struct {
		in, want string // want "" for the zero time, "error" for an error, "too long: ..." for an error saying that
	}{
		{"", ""},
		{"2025-03-01T12:00:00Z", "2025-03-01T12:00:00Z"},
		{"2025-03-01T12:00:00.5+01:00", "2025-03-01T11:00:00.5Z"},
		{"2025-03-01", "2025-03-01T00:00:00Z"},
		{"24h", "2025-03-01T10:30:00Z"},
		{"90m", "2025-03-02T09:00:00Z"},
		{"7d", "2025-02-23T10:30:00Z"},
		{"0d", "error"}, // now: since=0 means the beginning to whoever writes it
		{"0", "error"},
		{"0s", "error"},
		{"2025-03-01t12:00:00z", "2025-03-01T12:00:00Z"}, // RFC 3339 allows lower case
		{"2025-03-01t12:00:00.25-01:00", "2025-03-01T13:00:00.25Z"},
		{"-1d", "error"},
		{"1.5d", "error"},
		{"-1h", "error"},
		{"yesterday", "error"},
		{"36600d", "1924-12-17T10:30:00Z"}, // config.MaxPeriod
		{"878400h", "1924-12-17T10:30:00Z"},
		{"36601d", "too long: at most 36600d (878400h)"},
		{"878401h", "too long: at most 36600d (878400h)"},
		{"106751d", "too long: at most 36600d (878400h)"},
		{"2562047h", "too long: at most 36600d (878400h)"},
		{"99999999999999999999d", "too long: at most 36600d (878400h)"},
		{"99999999999999999999h", "too long: at most 36600d (878400h)"},
		{"1h99999999999m", "too long: at most 36600d (878400h)"},
		{"2025-03-01T12:00:00 01:00", "error"},
		{"0001-01-01T00:00:00Z", "error"}, // the zero time would mean no bound
		{"1677-12-31", "error"},
		{"2262-01-01", "error"},
		{"1678-01-01", "1678-01-01T00:00:00Z"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := api.ParseTime(tt.in, now)
			switch {
			case tt.want == "error":
				if err == nil {
					t.Fatalf("ParseTime(%q) = %v, want an error", tt.in, got)
				}
				if strings.Contains(err.Error(), "too long") {
					t.Fatalf("ParseTime(%q): %v, want an error that does not say too long", tt.in, err)
				}
			case strings.HasPrefix(tt.want, "too long"):
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), strconv.Quote(tt.in)) {
					t.Fatalf("ParseTime(%q) = %v, %v; want an error with %q and %q", tt.in, got, err, tt.in, tt.want)
				}
			case err != nil:
				t.Fatalf("ParseTime(%q): %v", tt.in, err)
			case tt.want == "" && !got.IsZero(), tt.want != "" && got.Format(time.RFC3339Nano) != tt.want:
				t.Fatalf("ParseTime(%q) = %v, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestHead asks the GET routes with HEAD: the status and headers of a GET,
// no body.
func TestHead(t *testing.T) {
	srv := newServer(t)
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/api/events?limit=2", 200},
		{"/api/events/ev-04", 200},
		{"/api/events/ev-99", 404},
		{"/api/stats", 200},
		{"/api/quarantine", 200},
		{"/api/events?limit=0", 400},
	} {
		req, err := http.NewRequest(http.MethodHead, srv.URL+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || len(body) != 0 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("HEAD %s: %d %q (Content-Type %q), want %d, no body, application/json",
				tt.path, resp.StatusCode, body, resp.Header.Get("Content-Type"), tt.want)
		}
	}
}
