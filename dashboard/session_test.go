package dashboard_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/dashboard"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/store"
)

// clock is a time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// login posts the token to srv's login form and returns the session
// cookie's value and the Set-Cookie header.
func login(t *testing.T, srv string) (id, setCookie string) {
	t.Helper()
	a := do(t, client(t), http.MethodPost, srv+"/ui/login", url.Values{"token": {token}}, nil)
	if a.status != http.StatusSeeOther {
		t.Fatalf("login: %d %s", a.status, a.body)
	}
	setCookie = a.header.Get("Set-Cookie")
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == dashboard.CookieName {
			return c.Value, setCookie
		}
	}
	t.Fatalf("login set no session cookie: %q", setCookie)
	return "", ""
}

// with returns the header sending the session cookie id.
func with(id string) map[string]string {
	return map[string]string{"Cookie": dashboard.CookieName + "=" + id}
}

// TestSessions logs in twice over HTTP and follows each session: a random
// id in the cookie; both open the API and the page; logging out ends that
// session only, also for a client that keeps sending the old cookie; the
// other ends SessionAge after its login, by a clock the test moves.
func TestSessions(t *testing.T) {
	clk := &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	srv := replica(t, openStore(t), dashboard.GuardConfig{Loopback: true}, dashboard.Config{Token: token, Now: clk.now}).URL
	works := func(id string) bool {
		t.Helper()
		api := do(t, client(t), http.MethodGet, srv+"/api/events", nil, with(id))
		page := do(t, client(t), http.MethodGet, srv+"/ui/", nil, with(id))
		if (api.status == http.StatusOK) != (page.status == http.StatusOK) {
			t.Fatalf("the API answers %d and the page %d with the same cookie", api.status, page.status)
		}
		if api.status != http.StatusOK && (api.status != http.StatusUnauthorized || page.status != http.StatusSeeOther || page.header.Get("Location") != "/ui/login") {
			t.Fatalf("with a cookie refused: API %d, page %d to %q; want 401, and 303 to /ui/login", api.status, page.status, page.header.Get("Location"))
		}
		return api.status == http.StatusOK
	}

	a, set := login(t, srv)
	if want := "Max-Age=43200"; !strings.Contains(set, want) {
		t.Errorf("Set-Cookie %q lacks %s: the browser should drop it when the session ends", set, want)
	}
	if b, err := base64.RawURLEncoding.DecodeString(a); err != nil || len(b) != 32 {
		t.Errorf("session id %q is not 32 bytes of base64url: %v", a, err)
	}
	clk.add(time.Hour)
	b, _ := login(t, srv)
	if a == b {
		t.Fatal("two logins got the same session id")
	}
	if !works(a) || !works(b) {
		t.Fatal("a fresh session is refused")
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 43), a + "A", a[:42]} {
		if works(bad) {
			t.Errorf("cookie %q is taken for a session", bad)
		}
	}

	// Logging out ends a's session in hookd, not only in the browser.
	if r := do(t, client(t), http.MethodPost, srv+"/ui/logout", nil, with(a)); r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d, Set-Cookie %q", r.status, r.header.Get("Set-Cookie"))
	}
	if works(a) {
		t.Error("the cookie of a session logged out is still taken")
	}
	if !works(b) {
		t.Error("logging out one session ended another")
	}

	// b was issued an hour after a: it lasts until 12 hours after that.
	clk.add(dashboard.SessionAge - time.Second)
	if !works(b) {
		t.Error("a session is refused a second before it expires")
	}
	clk.add(time.Second)
	if works(b) {
		t.Errorf("a session is taken %v after its login", dashboard.SessionAge)
	}
	if c, _ := login(t, srv); !works(c) {
		t.Error("a login after sessions expired is refused")
	}
}

// TestSessionsAcrossReplicas serves two replicas over one store, as hookd
// serve replicas behind a load balancer share one: on SQLite, one Store;
// on PostgreSQL, a Store each on one database, as two processes have. A
// login at one replica works at the other, a logout at the other ends it
// at both, and a replica whose admin token changed takes no session of
// the old one.
func TestSessionsAcrossReplicas(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		st := openStore(t)
		sessionsAcrossReplicas(t, st, st)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testenv.PostgresSchema(t)
		open := func() *store.Store {
			st, err := store.Open(context.Background(), store.Config{Driver: "postgres", DSN: dsn}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		sessionsAcrossReplicas(t, open(), open())
	})
}

func sessionsAcrossReplicas(t *testing.T, st1, st2 *store.Store) {
	gc := dashboard.GuardConfig{Loopback: true}
	one, two := replica(t, st1, gc, dashboard.Config{Token: token}).URL, replica(t, st2, gc, dashboard.Config{Token: token}).URL
	newToken := replica(t, st2, gc, dashboard.Config{Token: token + "-rotated"}).URL
	id, _ := login(t, one)
	status := func(srv string) int {
		t.Helper()
		return do(t, client(t), http.MethodGet, srv+"/api/events", nil, with(id)).status
	}
	if a, b := status(one), status(two); a != http.StatusOK || b != http.StatusOK {
		t.Fatalf("a session of replica one: %d there, %d at replica two; want 200 at both", a, b)
	}
	if got := status(newToken); got != http.StatusUnauthorized {
		t.Errorf("with another admin token: %d, want 401", got)
	}
	if r := do(t, client(t), http.MethodPost, two+"/ui/logout", nil, with(id)); r.status != http.StatusSeeOther {
		t.Fatalf("logout at replica two: %d", r.status)
	}
	if a, b := status(one), status(two); a != http.StatusUnauthorized || b != http.StatusUnauthorized {
		t.Errorf("after a logout at replica two: %d at one, %d at two; want 401 at both", a, b)
	}
}

// brokenSessions fails as a store that does not answer.
type brokenSessions struct{}

func (brokenSessions) AddSession(context.Context, string, time.Time, time.Time) error {
	return errors.New("database is down")
}

func (brokenSessions) Session(context.Context, string) (time.Time, bool, error) {
	return time.Time{}, false, errors.New("database is down")
}

func (brokenSessions) DeleteSession(context.Context, string) error {
	return errors.New("database is down")
}

// TestSessionsUnavailable: when the sessions cannot be read or written,
// a login, a request with a cookie and a logout are answered 503 with
// Retry-After, not taken for a wrong token: a JSON error, or for a
// browser (Accept: text/html) at /ui a page saying the same, its cause
// logged; the API answers JSON to a browser too. The bearer token still
// works.
func TestSessionsUnavailable(t *testing.T) {
	var logs testenv.Buffer
	e := listener.NewEcho(nil)
	cfg := dashboard.Config{Token: token, Sessions: brokenSessions{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	e.GET("/api/ping", func(c echo.Context) error { return c.String(http.StatusOK, "pong") }, dashboard.APIAuth(cfg))
	dashboard.Register(e, cfg)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	cookie := with(strings.Repeat("A", 43))
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	for _, tt := range []struct {
		method, path string
		form         url.Values
		header       map[string]string
		want         int
		page         bool // a browser gets a page
	}{
		{http.MethodPost, "/ui/login", url.Values{"token": {token}}, nil, http.StatusServiceUnavailable, true},
		{http.MethodGet, "/api/ping", nil, cookie, http.StatusServiceUnavailable, false},
		{http.MethodGet, "/ui/", nil, cookie, http.StatusServiceUnavailable, true},
		{http.MethodPost, "/ui/logout", nil, cookie, http.StatusServiceUnavailable, true},
		{http.MethodGet, "/api/ping", nil, map[string]string{"Authorization": "Bearer " + token}, http.StatusOK, false},
		// The router's answer stays the error handler's.
		{http.MethodPost, "/ui/", url.Values{}, map[string]string{"Authorization": "Bearer " + token}, http.StatusMethodNotAllowed, false},
	} {
		for _, accept := range []string{"", "*/*", browser} {
			header := maps.Clone(tt.header)
			if header == nil {
				header = map[string]string{}
			}
			if accept != "" {
				header["Accept"] = accept
			}
			logged := strings.Count(logs.String(), "database is down")
			a := do(t, client(t), tt.method, srv.URL+tt.path, tt.form, header)
			if a.status != tt.want {
				t.Errorf("%s %s, Accept %q: %d %s, want %d", tt.method, tt.path, accept, a.status, a.body, tt.want)
				continue
			}
			if tt.want != http.StatusServiceUnavailable {
				continue
			}
			if a.header.Get("Retry-After") == "" {
				t.Errorf("%s %s, Accept %q: no Retry-After", tt.method, tt.path, accept)
			}
			if !tt.page || accept != browser {
				if !strings.Contains(a.body, `"error":"sessions unavailable`) || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
					t.Errorf("%s %s, Accept %q: %s %s; want the JSON error", tt.method, tt.path, accept, a.header.Get("Content-Type"), a.body)
				}
				continue
			}
			if want := `<p class="error" id="error">503 Service Unavailable: sessions unavailable (the store does not answer), retry later</p>`; !strings.Contains(a.body, want) || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
				t.Errorf("%s %s, Accept %q: %s %s; want a page with %s", tt.method, tt.path, accept, a.header.Get("Content-Type"), a.body, want)
			}
			if strings.Count(logs.String(), "database is down") == logged {
				t.Errorf("%s %s, Accept %q: the cause is not logged: %q", tt.method, tt.path, accept, logs.String())
			}
		}
	}
}

// TestSecureCookie logs in and out over plain HTTP, with the headers of a
// TLS proxy in front or without, and over TLS: the session cookie is
// Secure when admin.secure_cookie says so or the login came over HTTPS,
// and only then, so that plain http://127.0.0.1:8081 keeps working.
func TestSecureCookie(t *testing.T) {
	tests := []struct {
		name   string
		secure bool   // admin.secure_cookie
		tls    bool   // TLS to hookd itself
		proto  string // X-Forwarded-Proto
		want   bool
	}{
		{name: "plain HTTP", want: false},
		{name: "proxy over HTTPS", proto: "https", want: true},
		{name: "proxy over HTTPS, in capitals", proto: "HTTPS", want: true},
		{name: "proxies, the first over HTTPS", proto: "https, http", want: true},
		{name: "proxy over HTTP", proto: "http", want: false},
		{name: "TLS", tls: true, want: true},
		{name: "configured, plain HTTP", secure: true, want: true},
		{name: "configured, proxy over HTTP", secure: true, proto: "http", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := adminEcho(openStore(t), dashboard.GuardConfig{Loopback: true}, dashboard.Config{Token: token, SecureCookie: tt.secure})
			var (
				srv *httptest.Server
				c   = client(t)
			)
			if tt.tls {
				srv = httptest.NewTLSServer(e)
				c.Transport = srv.Client().Transport
			} else {
				srv = httptest.NewServer(e)
			}
			t.Cleanup(srv.Close)
			header := map[string]string{}
			if tt.proto != "" {
				header["X-Forwarded-Proto"] = tt.proto
			}
			in := do(t, c, http.MethodPost, srv.URL+"/ui/login", url.Values{"token": {token}}, header)
			out := do(t, c, http.MethodPost, srv.URL+"/ui/logout", nil, header)
			for _, a := range []answer{in, out} {
				if a.status != http.StatusSeeOther {
					t.Fatalf("%d %s, want 303", a.status, a.body)
				}
				cookies := (&http.Response{Header: a.header}).Cookies()
				if len(cookies) != 1 || cookies[0].Secure != tt.want {
					t.Errorf("Set-Cookie %q: want Secure %t", a.header.Values("Set-Cookie"), tt.want)
				}
			}
			// The logout ended the session the login started.
			if in.status == http.StatusSeeOther && !strings.Contains(out.header.Get("Set-Cookie"), "Max-Age=0") {
				t.Errorf("logout's Set-Cookie %q does not drop the cookie", out.header.Get("Set-Cookie"))
			}
		})
	}
}

// TestSessionEndsStream opens the live stream (GET /api/live) with the
// cookie of a session, which it outlasts: a logout ends the stream, as it
// ends the session's other requests, and so does the session's expiry,
// by a clock the test moves; a stream of the bearer token goes on.
func TestSessionEndsStream(t *testing.T) {
	dashboard.SetSessionRecheck(t, 20*time.Millisecond)
	clk := &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	srv := replica(t, openStore(t), dashboard.GuardConfig{Loopback: true}, dashboard.Config{Token: token, Now: clk.now}).URL
	// stream opens the live stream with header and returns a channel
	// that is closed when hookd ends it.
	stream := func(header map[string]string) <-chan struct{} {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv+"/api/live", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/live: %d", resp.StatusCode)
		}
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
		}()
		return ended
	}
	endsWithin := func(what string, ended <-chan struct{}, want bool) {
		t.Helper()
		wait := time.Second
		if want {
			wait = 10 * time.Second
		}
		select {
		case <-ended:
			if !want {
				t.Errorf("%s: the stream ended", what)
			}
		case <-time.After(wait):
			if want {
				t.Errorf("%s: the stream goes on", what)
			}
		}
	}

	a, _ := login(t, srv)
	b, _ := login(t, srv)
	byA, byB := stream(with(a)), stream(with(b))
	byToken := stream(map[string]string{"Authorization": "Bearer " + token})
	if r := do(t, client(t), http.MethodPost, srv+"/ui/logout", nil, with(a)); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	endsWithin("after a logout", byA, true)
	endsWithin("after another session's logout", byB, false)
	clk.add(dashboard.SessionAge)
	endsWithin("after the session expired", byB, true)
	endsWithin("of the bearer token", byToken, false)
}
