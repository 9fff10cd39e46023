package dashboard_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/dashboard"
)

// TestRoutes asks every route of the dashboard and the API, served as
// hookd serve serves them, with and without the admin token, over HTTP:
// each GET route but the stream /api/live answers HEAD with the status
// and Content-Type of its GET and no body; every route answers a method
// it does not serve with 405, an Allow header naming the methods it does,
// and a JSON error, the routes of the token's groups (/api, /ui), whose
// middleware takes every request under their prefix, included.
func TestRoutes(t *testing.T) {
	for _, tok := range []string{"", token} {
		t.Run("token="+tok, func(t *testing.T) {
			e := adminEcho(openStore(t), dashboard.GuardConfig{Loopback: true}, dashboard.Config{Token: tok})
			srv := httptest.NewServer(e)
			t.Cleanup(srv.Close)
			c := client(t)
			var header map[string]string
			if tok != "" {
				header = map[string]string{"Authorization": "Bearer " + tok}
			}
			methods := make(map[string][]string) // by route path
			for _, r := range e.Routes() {
				if r.Method != echo.RouteNotFound {
					methods[r.Path] = append(methods[r.Path], r.Method)
				}
			}
			if len(methods) < 15 {
				t.Fatalf("only %d routes: %v", len(methods), methods)
			}
			for path, ms := range methods {
				// A request path for the route's pattern.
				u := srv.URL + strings.NewReplacer(":id", "1", ":email", "a@example.com", "*", "app.js").Replace(path)
				t.Run(path, func(t *testing.T) {
					if slices.Contains(ms, http.MethodGet) && path != "/api/live" {
						if !slices.Contains(ms, http.MethodHead) {
							t.Errorf("GET %s has no HEAD route (methods %v)", path, ms)
						}
						get := do(t, c, http.MethodGet, u, nil, header)
						head := do(t, c, http.MethodHead, u, nil, header)
						if head.status != get.status || head.header.Get("Content-Type") != get.header.Get("Content-Type") || head.body != "" {
							t.Errorf("HEAD %s: %d, Content-Type %q, body %q; want GET's %d, %q, no body",
								path, head.status, head.header.Get("Content-Type"), head.body, get.status, get.header.Get("Content-Type"))
						}
					}
					// No route takes PATCH.
					a := do(t, c, http.MethodPatch, u, nil, header)
					var body struct{ Error string }
					if err := json.Unmarshal([]byte(a.body), &body); err != nil || a.status != http.StatusMethodNotAllowed || body.Error != "method PATCH not allowed" {
						t.Errorf("PATCH %s: %d %s, want 405 {\"error\":\"method PATCH not allowed\"}", path, a.status, a.body)
					}
					allow := strings.Split(a.header.Get("Allow"), ", ")
					for _, m := range append(ms, http.MethodOptions) {
						if !slices.Contains(allow, m) {
							t.Errorf("PATCH %s: Allow %q does not name %s", path, a.header.Get("Allow"), m)
						}
					}
					if len(allow) != len(ms)+1 {
						t.Errorf("PATCH %s: Allow %q, want OPTIONS and %v", path, a.header.Get("Allow"), ms)
					}
				})
			}
			// A path no route serves is not found, whatever the method.
			for _, m := range []string{http.MethodGet, http.MethodPatch} {
				for _, p := range []string{"/api/nope", "/ui/nope", "/nope"} {
					if a := do(t, c, m, srv.URL+p, nil, header); a.status != http.StatusNotFound || a.header.Get("Allow") != "" {
						t.Errorf("%s %s: %d, Allow %q; want 404 without Allow", m, p, a.status, a.header.Get("Allow"))
					}
				}
			}
		})
	}
}
