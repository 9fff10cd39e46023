package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/store"
)

// fuzzRoutes are the API's routes with the path parameter as :id. GET
// /live is among them: its stream ends at once, the API being given a
// closed Shutdown.
var fuzzRoutes = []struct{ method, path string }{
	{http.MethodGet, "/events"},
	{http.MethodGet, "/events/:id"},
	{http.MethodGet, "/stats"},
	{http.MethodGet, "/quarantine"},
	{http.MethodGet, "/rules"},
	{http.MethodGet, "/jobs"},
	{http.MethodGet, "/jobs/:id"},
	{http.MethodGet, "/deadletters"},
	{http.MethodPost, "/deadletters/:id/retry"},
	{http.MethodPost, "/deadletters/retry"},
	{http.MethodGet, "/targets"},
	{http.MethodPost, "/targets/:id/resume"},
	{http.MethodPost, "/targets/resume"},
	{http.MethodGet, "/suppressions"},
	{http.MethodDelete, "/suppressions/:id"},
	{http.MethodGet, "/deliverability"},
	{http.MethodGet, "/rules/activity"},
	{http.MethodGet, "/live"},
}

// FuzzQuery checks every route of the API on any path parameter and query
// string a client can send: the answer is never a server error, and an
// error is a JSON {"error": ...} with its message. The API runs on a real
// SQLite store holding seed's events, served by the admin listener's echo;
// no route changes it, as it holds no jobs, targets nor suppressions to
// change.
func FuzzQuery(f *testing.F) {
	for _, seed := range []struct {
		route     uint8
		id, query string
	}{
		{0, "", "type=open&email=ANN@A.COM&limit=2"},
		{0, "", "since=7d&until=2025-03-01&format=ndjson&limit=3"},
		{0, "", "since=2025-03-01T12:00:00.5z&format=csv"},
		{0, "", "cursor=MjAyNS0wMy0wMVQxMjowMDowMFp8ZXYtMDA&limit=1000"},
		{0, "", "limit=-1&cursor=%ff"},
		{0, "", "since=99999999999h"},
		{0, "", "category=bounce&bounce_class=hard&domain=A.COM&source=mailjet&campaign=spring"},
		{1, "ses/abc:1", ""},
		{1, "\x00", "x=1"},
		{2, "", "by=domain&interval=1m&since=2025-03-01T11:00:00Z&until=2025-03-01T13:00:00Z"},
		{2, "", "by=category&interval=1d&since=9999-12-31"},
		{2, "", "interval=1m&since=0001-01-01"},
		{3, "", "source=mailjet&limit=1&cursor=x"},
		{5, "", "limit=1&cursor=1"},
		{6, "18446744073709551616", ""},
		{8, "-1", ""},
		{9, "", "all=true&rule=x&action=http&since=1h"},
		{10, "", "suspended=maybe&target=x"},
		{12, "", "all=1"},
		{14, "a%40b.example", ""},
		{15, "", "since=30d&limit=5"},
		{16, "", "interval=1h&since=2025-03-01"},
		{17, "", "after=abc&type=open&source=mailjet"},
		{0, "", "a=1&a=2"},
		{0, "", "x;y"},
	} {
		f.Add(seed.route, seed.id, seed.query)
	}
	st, err := store.Open(context.Background(), store.Config{Dir: f.TempDir()}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	seed(f, st)
	shutdown := make(chan struct{})
	close(shutdown)
	e := listener.NewEcho(nil)
	api.Register(e.Group("/api"), api.Deps{Store: st, Shutdown: shutdown})
	f.Fuzz(func(t *testing.T, route uint8, id, query string) {
		// What a client can send: a request line holds no space nor
		// control character, and a fragment is not sent.
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '#' }) {
			return
		}
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := "/api" + strings.Replace(r.path, ":id", url.PathEscape(id), 1)
		req := httptest.NewRequest(r.method, "/", nil)
		req.URL.RawPath, req.URL.RawQuery = path, query
		var err error
		if req.URL.Path, err = url.PathUnescape(path); err != nil {
			t.Fatal(err)
		}
		req.RequestURI = req.URL.RequestURI()
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		target := r.method + " " + req.RequestURI
		if rec.Code >= 500 {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
		if rec.Code < 400 {
			return
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: %d with Content-Type %q", target, rec.Code, ct)
		}
		var body struct {
			Error *string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == nil || *body.Error == "" {
			t.Errorf("%s: %d %q is not {\"error\": message}", target, rec.Code, rec.Body)
		}
	})
}
