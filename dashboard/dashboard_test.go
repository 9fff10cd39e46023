package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/dashboard"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/store"
)

const token = "s3cret-admin-token"

// server serves the dashboard and the API as hookd serve does on its
// default loopback address, with the admin token token (none when empty),
// over a real store.
func server(t *testing.T, token string) *httptest.Server {
	t.Helper()
	return guarded(t, token, dashboard.GuardConfig{Loopback: true})
}

// guarded is server with the admin listener's Guard configured by gc.
func guarded(t *testing.T, token string, gc dashboard.GuardConfig) *httptest.Server {
	t.Helper()
	return replica(t, openStore(t), gc, dashboard.Config{Token: token})
}

// openStore opens a store in a directory of its own, closed when the test
// ends.
func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// replica serves the dashboard and the API over st, as one of the hookd
// serve replicas sharing it would, with Guard configured by gc and the
// dashboard by cfg, whose Sessions are st.
func replica(t *testing.T, st *store.Store, gc dashboard.GuardConfig, cfg dashboard.Config) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(adminEcho(st, gc, cfg))
	t.Cleanup(srv.Close)
	return srv
}

// adminEcho is the handler of replica.
func adminEcho(st *store.Store, gc dashboard.GuardConfig, cfg dashboard.Config) *echo.Echo {
	e := listener.NewEcho(nil)
	e.Pre(dashboard.Guard(gc))
	g := e.Group("/api")
	cfg.Sessions = st
	if cfg.Token != "" {
		g.Use(dashboard.APIAuth(cfg))
	}
	api.Register(g, api.Deps{Store: st})
	dashboard.Register(e, cfg)
	return e
}

// client does not follow redirects, so that the tests see them.
func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values, header map[string]string) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func TestOpenWithoutToken(t *testing.T) {
	srv := server(t, "")
	c := client(t)
	for _, tt := range []struct {
		name, path  string
		status      int
		contentType string
		contains    string
	}{
		{"redirect", "/ui", http.StatusMovedPermanently, "", ""},
		{"the admin root", "/", http.StatusFound, "", ""},
		{"page", "/ui/", 200, "text/html; charset=UTF-8", `src="/ui/static/app.js"`},
		{"quarantine in the navigation", "/ui/", 200, "", `<a href="#/quarantine" data-page="quarantine">Quarantine</a>`},
		{"categories for the search", "/ui/", 200, "", `<datalist id="categories"><option value="sent"></option><option value="delivered"></option>`},
		{"bounce classes for the search", "/ui/", 200, "", `<datalist id="bounce-classes"><option value="hard"></option><option value="soft"></option></datalist>`},
		{"no logout", "/ui/logout", 404, "", ""},
		{"app", "/ui/static/app.js", 200, "text/javascript; charset=utf-8", "import { stackedBars"},
		{"chart", "/ui/static/chart.js", 200, "text/javascript; charset=utf-8", "export function stackedBars"},
		{"style", "/ui/static/style.css", 200, "text/css; charset=utf-8", ":root"},
		{"missing asset", "/ui/static/nope.js", 404, "", ""},
		{"no template", "/ui/static/index.html", 404, "", ""},
		{"no asset listing", "/ui/static/", 404, "", ""},
		{"no template by a dot segment", "/ui/static/x/../", 404, "application/json", `"error":"not found: the dashboard is at /ui/"`},
		{"no template by an escaped slash", "/ui/static/..%2f..%2f", 404, "application/json", `"error":"not found: the dashboard is at /ui/"`},
		{"no template by an escaped dot", "/ui/static/%2e/index.html", 404, "application/json", `"error":"not found: the dashboard is at /ui/"`},
		{"no asset by a dot segment", "/ui/static/x/../app.js", 404, "application/json", `"error":"not found: the dashboard is at /ui/"`},
		{"no login form", "/ui/login", 404, "", ""},
		{"api", "/api/events", 200, "application/json", `"events":[]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, c, http.MethodGet, srv.URL+tt.path, nil, nil)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			if tt.contentType != "" && a.header.Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", a.header.Get("Content-Type"), tt.contentType)
			}
			if !strings.Contains(a.body, tt.contains) {
				t.Errorf("body does not contain %q:\n%s", tt.contains, a.body)
			}
		})
	}
	// Without a token there is no session to end.
	if a := do(t, c, http.MethodGet, srv.URL+"/ui/", nil, nil); strings.Contains(a.body, "logout") {
		t.Errorf("the page offers to log out without a token:\n%s", a.body)
	}
}

func TestToken(t *testing.T) {
	srv := server(t, token)
	anon := client(t)
	for _, tt := range []struct {
		name, path string
		header     map[string]string
		status     int
		location   string
	}{
		{"page sends to login", "/ui/", nil, http.StatusSeeOther, "/ui/login"},
		{"script needs login", "/ui/static/app.js", nil, http.StatusUnauthorized, ""},
		{"style for the login form", "/ui/static/style.css", nil, 200, ""},
		{"login form", "/ui/login", nil, 200, ""},
		{"api without token", "/api/events", nil, http.StatusUnauthorized, ""},
		{"api wrong token", "/api/events", map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized, ""},
		{"api bearer", "/api/events", map[string]string{"Authorization": "Bearer " + token}, 200, ""},
		{"api bearer, scheme in lower case", "/api/events", map[string]string{"Authorization": "bearer " + token}, 200, ""},
		{"api basic scheme", "/api/events", map[string]string{"Authorization": "Basic " + token}, http.StatusUnauthorized, ""},
		{"page bearer", "/ui/", map[string]string{"Authorization": "Bearer " + token}, 200, ""},
		{"forged cookie", "/api/events", map[string]string{"Cookie": dashboard.CookieName + "=" + token}, http.StatusUnauthorized, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, anon, http.MethodGet, srv.URL+tt.path, nil, tt.header)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			if a.header.Get("Location") != tt.location {
				t.Errorf("Location %q, want %q", a.header.Get("Location"), tt.location)
			}
			if strings.Contains(a.body, token) {
				t.Error("the answer holds the token")
			}
		})
	}

	c := client(t)
	if a := do(t, c, http.MethodPost, srv.URL+"/ui/login", url.Values{"token": {"wrong"}}, nil); a.status != http.StatusUnauthorized || !strings.Contains(a.body, "Wrong token") {
		t.Fatalf("wrong token: %d %s", a.status, a.body)
	}
	a := do(t, c, http.MethodPost, srv.URL+"/ui/login", url.Values{"token": {token}}, nil)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/ui/" {
		t.Fatalf("login: %d %v", a.status, a.header)
	}
	set := a.header.Get("Set-Cookie")
	for _, attr := range []string{dashboard.CookieName + "=", "Path=/", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(set, attr) {
			t.Errorf("Set-Cookie %q lacks %s", set, attr)
		}
	}
	if strings.Contains(set, token) {
		t.Error("the cookie holds the token itself")
	}
	// The cookie opens the page, its script and the API, writes included.
	for _, p := range []string{"/ui/", "/ui/static/app.js", "/api/events", "/api/targets"} {
		if a := do(t, c, http.MethodGet, srv.URL+p, nil, nil); a.status != 200 {
			t.Errorf("GET %s with the cookie: %d %s", p, a.status, a.body)
		}
	}
	// Logged in, /ui/static still serves only the assets: not the page's
	// raw template by a dot segment or an escaped slash, to the browser
	// (a page) or a script (JSON).
	for _, p := range []string{"/ui/static/x/../", "/ui/static/..%2f..%2f", "/ui/static/index.html"} {
		for accept, ct := range map[string]string{"text/html": "text/html; charset=UTF-8", "*/*": "application/json"} {
			a := do(t, c, http.MethodGet, srv.URL+p, nil, map[string]string{"Accept": accept})
			if a.status != http.StatusNotFound || a.header.Get("Content-Type") != ct || strings.Contains(a.body, "{{") {
				t.Errorf("GET %s, Accept %s, with the cookie: %d %s, want 404 %s:\n%.200s", p, accept, a.status, a.header.Get("Content-Type"), ct, a.body)
			}
		}
	}
	if a := do(t, c, http.MethodGet, srv.URL+"/ui/", nil, nil); !strings.Contains(a.body, `<form method="post" action="/ui/logout"`) {
		t.Errorf("the page has no Log out form:\n%s", a.body)
	}
	// Logging out takes a POST: a link or a prefetch does not log out.
	if a := do(t, c, http.MethodGet, srv.URL+"/ui/logout", nil, nil); a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != http.MethodPost {
		t.Errorf("GET /ui/logout: %d, Allow %q; want 405, POST", a.status, a.header.Get("Allow"))
	}
	// A form on another site posts without the cookie (SameSite=Strict):
	// it goes to the login form, and the session stays.
	if a := do(t, anon, http.MethodPost, srv.URL+"/ui/logout", nil, nil); a.status != http.StatusSeeOther || a.header.Get("Set-Cookie") != "" {
		t.Errorf("POST /ui/logout without the cookie: %d, Set-Cookie %q; want 303 and none", a.status, a.header.Get("Set-Cookie"))
	}
	if a := do(t, c, http.MethodPost, srv.URL+"/api/targets/99/resume", nil, nil); a.status != http.StatusNotFound {
		t.Errorf("POST resume with the cookie: %d, want 404 (authorized, no such target)", a.status)
	}
	// Logging out ends it.
	if a := do(t, c, http.MethodPost, srv.URL+"/ui/logout", nil, nil); a.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", a.status)
	}
	if a := do(t, c, http.MethodGet, srv.URL+"/api/events", nil, nil); a.status != http.StatusUnauthorized {
		t.Errorf("after logout: %d, want 401", a.status)
	}
}

// TestTokenInURL holds that the admin token is never taken from a URL,
// which the browser's history and proxies' logs keep: the login, the
// page, its files and the API answer 400 to a query string with a token,
// the right one too, saying where to send it, and no session is started.
func TestTokenInURL(t *testing.T) {
	srv := server(t, token)
	for _, tt := range []struct {
		name, method, path string
		form               url.Values
		header             map[string]string
		contentType        string
	}{
		{"login form", http.MethodGet, "/ui/login?token=" + token, nil, nil, "application/json"},
		{"login", http.MethodPost, "/ui/login?token=" + token, url.Values{}, nil, "application/json"},
		{"login by a browser", http.MethodPost, "/ui/login?token=" + token, url.Values{}, map[string]string{"Accept": "text/html"}, "text/html; charset=UTF-8"},
		{"login, the token in both", http.MethodPost, "/ui/login?token=" + token, url.Values{"token": {token}}, nil, "application/json"},
		{"page", http.MethodGet, "/ui/?token=" + token, nil, nil, "application/json"},
		{"redirect to the page", http.MethodGet, "/ui?token=" + token, nil, nil, "application/json"},
		{"admin root", http.MethodGet, "/?token=" + token, nil, nil, "application/json"},
		{"file", http.MethodGet, "/ui/static/app.js?token=" + token, nil, nil, "application/json"},
		{"api", http.MethodGet, "/api/events?token=" + token, nil, nil, "application/json"},
		{"api, an empty token", http.MethodGet, "/api/events?token=", nil, nil, "application/json"},
		{"api with the bearer token too", http.MethodGet, "/api/events?limit=1&token=x", nil, map[string]string{"Authorization": "Bearer " + token}, "application/json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := client(t)
			a := do(t, c, tt.method, srv.URL+tt.path, tt.form, tt.header)
			if a.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", a.status, a.body)
			}
			if got := a.header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if !strings.Contains(a.body, "not taken in the URL") || !strings.Contains(a.body, "Authorization: Bearer TOKEN") {
				t.Errorf("the answer does not say where to send the token: %s", a.body)
			}
			if strings.Contains(a.body, token) {
				t.Error("the answer holds the token")
			}
			if a.header.Get("Set-Cookie") != "" {
				t.Errorf("a session was started: %s", a.header.Get("Set-Cookie"))
			}
		})
	}
	// The same requests without the token in the URL are answered as
	// before.
	c := client(t)
	if a := do(t, c, http.MethodPost, srv.URL+"/ui/login", url.Values{"token": {token}}, nil); a.status != http.StatusSeeOther {
		t.Fatalf("login with the token in the body: %d %s", a.status, a.body)
	}
	if a := do(t, c, http.MethodGet, srv.URL+"/api/events?limit=1", nil, nil); a.status != http.StatusOK {
		t.Errorf("api with the cookie: %d %s", a.status, a.body)
	}
}
