package main

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// TestAdminMethods asks a real hookd serve's admin listener, with
// admin.token set (which puts the API and the dashboard behind
// middleware), with HEAD on its GET routes and with methods its routes do
// not serve: HEAD answers as GET without the body, on every GET route but
// the stream /api/live; a method a route does not serve gets 405, the
// route's Allow header and a JSON error; a path no route serves, 404.
func TestAdminMethods(t *testing.T) {
	const token = "admin-token-0123456789"
	p := startWithConfig(t, "admin:\n  token: "+token+"\nsources:\n  - name: mailjet\n    provider: mailjet\n")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(t *testing.T, method, path string, auth bool) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, p.admin+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	for _, tt := range []struct {
		method, path string
		noAuth       bool
		want         int
		allow        string
	}{
		{method: "HEAD", path: "/metrics", want: 200},
		{method: "HEAD", path: "/healthz", want: 200},
		{method: "HEAD", path: "/readyz", want: 200},
		{method: "HEAD", path: "/", want: 302},
		{method: "HEAD", path: "/ui", want: 301},
		{method: "HEAD", path: "/ui/", want: 200},
		{method: "HEAD", path: "/ui/static/app.js", want: 200},
		{method: "HEAD", path: "/ui/login", noAuth: true, want: 200},
		{method: "HEAD", path: "/ui/logout", want: 405, allow: "POST"},
		{method: "HEAD", path: "/api/events", want: 200},
		{method: "HEAD", path: "/api/events/nope", want: 404},
		{method: "HEAD", path: "/api/deliverability", want: 200},
		{method: "HEAD", path: "/api/live", want: 405, allow: "OPTIONS, GET"},
		{method: "GET", path: "/api/deadletters/2/retry", want: 405, allow: "OPTIONS, POST"},
		{method: "POST", path: "/api/events", want: 405, allow: "OPTIONS, GET, HEAD"},
		{method: "DELETE", path: "/api/suppressions", want: 405, allow: "OPTIONS, GET, HEAD"},
		{method: "GET", path: "/api/targets/1/resume", want: 405, allow: "OPTIONS, POST"},
		{method: "POST", path: "/api/live", want: 405, allow: "OPTIONS, GET"},
		{method: "POST", path: "/metrics", want: 405, allow: "OPTIONS, GET, HEAD"},
		{method: "POST", path: "/healthz", want: 405, allow: "OPTIONS, GET, HEAD"},
		{method: "POST", path: "/ui/", want: 405, allow: "OPTIONS, GET, HEAD"},
		{method: "DELETE", path: "/ui/static/app.js", want: 405, allow: "OPTIONS, GET, HEAD"},
		{method: "POST", path: "/api/events", noAuth: true, want: 401},
		{method: "GET", path: "/api/nope", want: 404},
		{method: "POST", path: "/api/deadletters/2", want: 404},
		{method: "GET", path: "/nope", want: 404},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := do(t, tt.method, tt.path, !tt.noAuth)
			if resp.StatusCode != tt.want || resp.Header.Get("Allow") != tt.allow {
				t.Fatalf("%d, Allow %q (%s); want %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"), body, tt.want, tt.allow)
			}
			if tt.method == http.MethodHead && tt.path == "/api/live" {
				return // GET would stream
			}
			if tt.method == http.MethodHead {
				get, _ := do(t, http.MethodGet, tt.path, !tt.noAuth)
				if body != "" || get.StatusCode != resp.StatusCode || get.Header.Get("Content-Type") != resp.Header.Get("Content-Type") {
					t.Errorf("%d, Content-Type %q, body %q; want GET's %d, %q, no body",
						resp.StatusCode, resp.Header.Get("Content-Type"), body, get.StatusCode, get.Header.Get("Content-Type"))
				}
				return
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
				t.Errorf("answer %q is not a JSON error: %v", body, err)
			}
		})
	}
	p.stop(t)
}
