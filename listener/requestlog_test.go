package listener_test

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/listener"
)

// TestRequestLog checks the one line logged per hook request: its route
// (never the path, which can hold a source's token), source, status,
// events and duplicates; with RequestLog failures only the refused
// requests have one, with none no request, and the refusals are counted
// whatever it is.
func TestRequestLog(t *testing.T) {
	all := []string{
		"POST /hooks/mailjet mailjet 200 1 0",
		"POST /hooks/mailjet mailjet 200 1 1",
		"POST /in/tok/:token token 200 7 1", // grouped-v2.json holds open.json's event
		"POST /in/tok token 200 1 1",
		"POST /in/tok/:token token 401 0 0 missing or wrong credentials",
		"POST /hooks/mailjet mailjet 400 0 0 malformed body",
		"POST (no route)  404 0 0 Not Found", // not the path, which may hold a token
		"GET /hooks/mailjet mailjet 405 0 0 Method Not Allowed",
		"PUT /in/tok/:token token 405 0 0 Method Not Allowed",
	}
	for _, tc := range []struct {
		requestLog string
		want       []string
	}{
		{"", all},
		{config.RequestLogAll, all},
		{config.RequestLogFailures, all[4:]},
		{config.RequestLogNone, nil},
	} {
		t.Run("request_log="+tc.requestLog, func(t *testing.T) {
			testRequestLog(t, tc.requestLog, tc.want)
		})
	}
}

func testRequestLog(t *testing.T, requestLog string, want []string) {
	var out testenv.Buffer
	reg := prometheus.NewRegistry()
	l, _ := startWith(t, listener.Config{Sources: []config.Source{
		{Name: "mailjet", Provider: "mailjet"},
		{Name: "token", Provider: "mailjet", Path: "/in/tok", Auth: config.Auth{Token: &config.TokenAuth{Value: token, Param: "key"}}},
	}, RequestLog: requestLog}, startOpts{logger: slog.New(slog.NewJSONHandler(&out, nil)), reg: reg})
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()

	open := string(fixture(t, "open.json"))
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPost, "/hooks/mailjet", open},
		{http.MethodPost, "/hooks/mailjet", open},
		{http.MethodPost, "/in/tok/" + token, string(fixture(t, "grouped-v2.json"))},
		{http.MethodPost, "/in/tok?key=" + token, open},
		{http.MethodPost, "/in/tok/wrong-" + token, open},
		{http.MethodPost, "/hooks/mailjet", `{"event":`},
		{http.MethodPost, "/hooks/nope/" + token, open},
		{http.MethodGet, "/hooks/mailjet", ""},
		{http.MethodPut, "/in/tok/" + token, open},
		{http.MethodGet, "/healthz", ""},
	} {
		req, _ := http.NewRequest(r.method, srv.URL+r.path, strings.NewReader(r.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	var got []string
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var rec struct {
			Msg, Method, Route, Source, Remote string
			Error                              string
			Status, Events, Duplicates         int
			LatencyMs                          *float64 `json:"latency_ms"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Msg != "hook request" {
			continue
		}
		if !strings.HasPrefix(rec.Remote, "127.0.0.1:") {
			t.Errorf("remote = %q, want the client's loopback address", rec.Remote)
		}
		if rec.LatencyMs == nil {
			t.Errorf("no latency_ms in %s", sc.Text())
		}
		msg, _, _ := strings.Cut(rec.Error, " (") // without the quarantine id
		got = append(got, strings.TrimSpace(strings.Join([]string{rec.Method, rec.Route, rec.Source, itoa(rec.Status), itoa(rec.Events), itoa(rec.Duplicates), msg}, " ")))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("request log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	reasons := counters(t, reg, "hookd_requests_rejected_total", "reason")
	if want := map[string]float64{"auth": 1, "malformed": 1, "not_found": 1, "method": 2}; !maps.Equal(reasons, want) {
		t.Errorf("rejected by reason = %v, want %v", reasons, want)
	}
	if strings.Contains(out.String(), token) {
		t.Errorf("the log holds the source's token:\n%s", out.String())
	}
}

// TestRequestLogUnknown: a RequestLog that is none of the three is an
// error of New, not a listener that logs everything.
func TestRequestLogUnknown(t *testing.T) {
	_, err := listener.New(listener.Config{RequestLog: "failure"}, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), `"failure"`) {
		t.Errorf("New with RequestLog failure: %v, want an error naming it", err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
