package dashboard_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/hookd/hookd/dashboard"
)

// fuzzPaths are requests to the admin listener: the API, the dashboard's
// page and assets, the routes of its login, and a path no route serves.
var fuzzPaths = []struct{ method, path string }{
	{http.MethodGet, "/api/events"},
	{http.MethodGet, "/api/stats?by=domain"},
	{http.MethodPost, "/api/targets/resume?all=true"},
	{http.MethodGet, "/ui/"},
	{http.MethodGet, "/ui/static/app.js"},
	{http.MethodGet, "/ui/static/style.css"},
	{http.MethodGet, "/ui/login"},
	{http.MethodPost, "/ui/logout"},
	{http.MethodGet, "/nothing-here"},
}

// FuzzAuth sends the admin listener, with a token, the throttle and Guard
// set up as hookd serve sets them, requests with any Host, Authorization,
// session cookie, Origin, Sec-Fetch-Site and X-Forwarded-Proto a client
// can send, from one of many addresses. No answer is a server error; an
// error of the API is a JSON {"error": ...}; and nothing but the token as
// a bearer token opens the API or the page, no session having been
// started.
func FuzzAuth(f *testing.F) {
	for _, seed := range []struct {
		path                                           uint8
		remote                                         uint16
		host, authorization, cookie, origin, site, xfp string
	}{
		{0, 1, "127.0.0.1:8081", "Bearer " + token, "", "", "", ""},
		{0, 2, "localhost", "bearer  " + token, "", "", "", ""},
		{3, 3, "LOCALHOST:1", "", dashboard.CookieName + "=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", "", "https, http"},
		{3, 4, "[::1]:80", "", dashboard.CookieName + `="x"; ` + dashboard.CookieName + "=y", "", "", ""},
		{2, 5, "127.0.0.1", "Bearer " + token, "", "https://evil.example", "cross-site", ""},
		{7, 6, "evil.example", "", dashboard.CookieName + "=%ff", "null", "same-origin", ""},
		{4, 7, "", "Basic " + token, "", "", "", ""},
		{1, 8, "[::1", "Bearer", "", "", "", ""},
		{0, 9, "127.0.0.1", "Bearer " + token + "x", "", "", "", ""},
		{8, 10, "127.0.0.1", "", "", "", "", ""},
	} {
		f.Add(seed.path, seed.remote, seed.host, seed.authorization, seed.cookie, seed.origin, seed.site, seed.xfp)
	}
	st := openStore(f)
	e := adminEcho(st, dashboard.GuardConfig{Loopback: true},
		dashboard.Config{Token: token, Throttle: dashboard.NewThrottle(dashboard.ThrottleConfig{})})
	f.Fuzz(func(t *testing.T, path uint8, remote uint16, host, authorization, cookie, origin, site, xfp string) {
		headers := map[string]string{"Authorization": authorization, "Cookie": cookie, "Origin": origin,
			"Sec-Fetch-Site": site, "X-Forwarded-Proto": xfp}
		// What net/http's server would take.
		if !httpguts.ValidHostHeader(host) {
			return
		}
		for _, v := range headers {
			if !httpguts.ValidHeaderFieldValue(v) || strings.TrimSpace(v) != v {
				return
			}
		}
		p := fuzzPaths[int(path)%len(fuzzPaths)]
		req := httptest.NewRequest(p.method, p.path, nil)
		req.Host = host
		req.RemoteAddr = fmt.Sprintf("192.0.%d.%d:40000", remote>>8, remote&0xff)
		for k, v := range headers {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		target := fmt.Sprintf("%s %s %q", p.method, p.path, headers)
		if rec.Code >= 500 {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
		scheme, got, _ := strings.Cut(authorization, " ")
		if rec.Code < 300 && p.path != "/ui/login" && p.path != "/ui/static/style.css" && p.path != "/nothing-here" &&
			(!strings.EqualFold(scheme, "Bearer") || got != token) {
			t.Errorf("%s: %d without the token", target, rec.Code)
		}
		if rec.Code >= 400 && strings.HasPrefix(p.path, "/api/") {
			var body struct {
				Error *string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == nil || *body.Error == "" {
				t.Errorf("%s: %d %q is not {\"error\": message}", target, rec.Code, rec.Body)
			}
		}
	})
}
