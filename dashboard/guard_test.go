package dashboard_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hookd/hookd/dashboard"
)

// TestGuardHost sends requests with each Host to admin listeners bound to
// loopback or beyond, with and without admin.hosts: a name the listener
// does not know is refused 421 with a JSON error, before any route.
func TestGuardHost(t *testing.T) {
	const (
		ok      = http.StatusOK
		refused = http.StatusMisdirectedRequest
	)
	hosts := []string{"hookd.example.com", "Admin.Internal"}
	configs := []struct {
		name string
		gc   dashboard.GuardConfig
	}{
		{"loopback", dashboard.GuardConfig{Loopback: true}},
		{"loopback with admin.hosts", dashboard.GuardConfig{Loopback: true, Hosts: hosts}},
		{"exposed", dashboard.GuardConfig{}},
		{"exposed with admin.hosts", dashboard.GuardConfig{Hosts: hosts}},
	}
	tests := []struct {
		host string
		want [4]int // by configs
	}{
		{"", [4]int{ok, ok, ok, ok}}, // the server's own address
		{"localhost:8081", [4]int{ok, ok, ok, ok}},
		{"LocalHost", [4]int{ok, ok, ok, ok}},
		{"127.0.0.1", [4]int{ok, ok, ok, ok}},
		{"[::1]:8081", [4]int{ok, ok, ok, ok}},
		{"[::1]", [4]int{ok, ok, ok, ok}},
		{"10.1.2.3:8081", [4]int{ok, ok, ok, ok}},
		{"attacker.example:8081", [4]int{refused, refused, ok, refused}},
		{"attacker.example", [4]int{refused, refused, ok, refused}},
		{"localhost.attacker.example", [4]int{refused, refused, ok, refused}},
		{"127.0.0.1.nip.io:8081", [4]int{refused, refused, ok, refused}},
		{"hookd.example.com", [4]int{refused, ok, ok, ok}},
		{"HOOKD.example.COM:443", [4]int{refused, ok, ok, ok}},
		{"admin.internal:8081", [4]int{refused, ok, ok, ok}},
		{"hookd.example.com.evil.test", [4]int{refused, refused, ok, refused}},
	}
	for i, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			srv := guarded(t, "", cfg.gc)
			for _, tt := range tests {
				for _, path := range []string{"/api/events", "/metrics-or-any-path", "/ui/"} {
					req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
					if err != nil {
						t.Fatal(err)
					}
					if tt.host != "" {
						req.Host = tt.host
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					var body struct{ Error string }
					decodeErr := json.NewDecoder(resp.Body).Decode(&body)
					resp.Body.Close()
					want := tt.want[i]
					if want == ok && path == "/metrics-or-any-path" {
						want = http.StatusNotFound
					}
					if resp.StatusCode != want {
						t.Errorf("GET %s with Host %q: %d, want %d (%s)", path, tt.host, resp.StatusCode, want, body.Error)
						continue
					}
					if want == refused && (decodeErr != nil || !strings.Contains(body.Error, "admin.hosts")) {
						t.Errorf("GET %s with Host %q: error %q (%v), want JSON naming admin.hosts", path, tt.host, body.Error, decodeErr)
					}
				}
			}
		})
	}
}

// TestGuardCrossOrigin sends the requests a page of another origin makes
// a browser send, and those of clients that are not browsers: a
// cross-origin request that may change state is refused 403 with a JSON
// error before it reaches its handler, with the admin token or without.
// A request that passes reaches the API, which answers 404 for the
// target, dead letter or address that does not exist.
func TestGuardCrossOrigin(t *testing.T) {
	const (
		passed  = http.StatusNotFound
		refused = http.StatusForbidden
	)
	for _, tok := range []string{"", token} {
		name := "without token"
		if tok != "" {
			name = "with token"
		}
		t.Run(name, func(t *testing.T) {
			srv := server(t, tok)
			own := srv.URL
			u, _ := url.Parse(own)
			otherPort := "http://" + u.Hostname() + ":1"
			auth := map[string]string{}
			if tok != "" {
				auth["Authorization"] = "Bearer " + tok
			}
			tests := []struct {
				name, method, path string
				header             map[string]string
				want               int
			}{
				{"curl: no Origin, no Sec-Fetch-Site", http.MethodPost, "/api/targets/99/resume", nil, passed},
				{"same origin", http.MethodPost, "/api/targets/99/resume", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": own}, passed},
				{"typed by the user", http.MethodPost, "/api/targets/99/resume", map[string]string{"Sec-Fetch-Site": "none"}, passed},
				{"another site's form", http.MethodPost, "/api/deadletters/99/retry", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"}, refused},
				{"another port of this host", http.MethodPost, "/api/targets/99/resume", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": otherPort}, refused},
				{"a sibling subdomain", http.MethodPost, "/api/targets/99/resume", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://other.example.com"}, refused},
				{"an old browser, another site", http.MethodPost, "/api/deadletters/99/retry", map[string]string{"Origin": "https://attacker.example"}, refused},
				{"an old browser, another port", http.MethodPost, "/api/deadletters/99/retry", map[string]string{"Origin": otherPort}, refused},
				{"an old browser, same origin", http.MethodPost, "/api/deadletters/99/retry", map[string]string{"Origin": own}, passed},
				{"a cross-site DELETE", http.MethodDelete, "/api/suppressions/nobody@example.com", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"}, refused},
				{"a same-origin DELETE", http.MethodDelete, "/api/suppressions/nobody@example.com", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": own}, passed},
				{"a cross-site PUT to no route", http.MethodPut, "/api/nothing", map[string]string{"Sec-Fetch-Site": "cross-site"}, refused},
				// Reading is the same-origin policy's business: a page of
				// another origin cannot read the answer.
				{"a cross-site GET", http.MethodGet, "/api/jobs/99", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"}, passed},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					h := map[string]string{}
					for k, v := range auth {
						h[k] = v
					}
					for k, v := range tt.header {
						h[k] = v
					}
					a := do(t, client(t), tt.method, srv.URL+tt.path, nil, h)
					if a.status != tt.want {
						t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, a.status, a.body, tt.want)
					}
					var body struct{ Error string }
					if err := json.Unmarshal([]byte(a.body), &body); err != nil || body.Error == "" {
						t.Errorf("answer %q is not a JSON error: %v", a.body, err)
					}
					if tt.want == refused && !strings.Contains(body.Error, "cross-origin request refused") {
						t.Errorf("error %q does not say the request was cross-origin", body.Error)
					}
				})
			}
		})
	}
}

// TestGuardSameSite logs in, then sends what a page of another port of
// the same host (the same site, so SameSite=Strict lets the browser send
// the session cookie) would: its retries, resumes and logout are refused
// 403 and the session stays; the same requests from the dashboard's own
// origin pass. A login posted from another origin sets no cookie.
func TestGuardSameSite(t *testing.T) {
	srv := server(t, token)
	u, _ := url.Parse(srv.URL)
	sameSite := map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://" + u.Hostname() + ":1"}
	sameOrigin := map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": srv.URL}

	anon := client(t)
	if a := do(t, anon, http.MethodPost, srv.URL+"/ui/login", url.Values{"token": {token}}, sameSite); a.status != http.StatusForbidden || a.header.Get("Set-Cookie") != "" {
		t.Errorf("login from another origin: %d, Set-Cookie %q; want 403 and none", a.status, a.header.Get("Set-Cookie"))
	}
	c := client(t)
	if a := do(t, c, http.MethodPost, srv.URL+"/ui/login", url.Values{"token": {token}}, sameOrigin); a.status != http.StatusSeeOther {
		t.Fatalf("login: %d %s", a.status, a.body)
	}
	for _, tt := range []struct {
		method, path string
		header       map[string]string
		want         int
	}{
		{http.MethodPost, "/api/targets/99/resume", sameSite, http.StatusForbidden},
		{http.MethodPost, "/api/deadletters/99/retry", sameSite, http.StatusForbidden},
		{http.MethodDelete, "/api/suppressions/a@example.com", sameSite, http.StatusForbidden},
		{http.MethodPost, "/ui/logout", sameSite, http.StatusForbidden},
		{http.MethodGet, "/api/events", nil, http.StatusOK}, // the session survived
		{http.MethodPost, "/api/targets/99/resume", sameOrigin, http.StatusNotFound},
		{http.MethodPost, "/api/deadletters/99/retry", sameOrigin, http.StatusNotFound},
		{http.MethodPost, "/ui/logout", sameOrigin, http.StatusSeeOther},
		{http.MethodGet, "/api/events", nil, http.StatusUnauthorized},
	} {
		if a := do(t, c, tt.method, srv.URL+tt.path, nil, tt.header); a.status != tt.want {
			t.Errorf("%s %s with the cookie, %v: %d %s, want %d", tt.method, tt.path, tt.header, a.status, a.body, tt.want)
		}
	}
}

// TestSecurityHeaders checks the security headers on the dashboard's
// pages and assets, the API, the login form, and the answers of Guard and
// of the router's 404, with the admin token and without.
func TestSecurityHeaders(t *testing.T) {
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
	}
	for _, tok := range []string{"", token} {
		srv := server(t, tok)
		auth := map[string]string{}
		if tok != "" {
			auth["Authorization"] = "Bearer " + tok
		}
		type request struct {
			name, method, path string
			header             map[string]string
			status             int
		}
		tests := []request{
			{"page", http.MethodGet, "/ui/", auth, http.StatusOK},
			{"script", http.MethodGet, "/ui/static/app.js", auth, http.StatusOK},
			{"api", http.MethodGet, "/api/events", auth, http.StatusOK},
			{"api error", http.MethodGet, "/api/events?bogus=1", auth, http.StatusBadRequest},
			{"no route", http.MethodGet, "/nothing", nil, http.StatusNotFound},
			{"foreign Host", http.MethodGet, "/api/events", map[string]string{"Host": "attacker.example"}, http.StatusMisdirectedRequest},
			{"cross-origin", http.MethodPost, "/api/targets/1/resume", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		}
		if tok != "" {
			tests = append(tests,
				request{"login form", http.MethodGet, "/ui/login", nil, http.StatusOK},
				request{"login script", http.MethodGet, "/ui/static/login.js", nil, http.StatusOK},
				request{"api without token", http.MethodGet, "/api/events", nil, http.StatusUnauthorized})
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("token %t, %s", tok != "", tt.name), func(t *testing.T) {
				a := do(t, client(t), tt.method, srv.URL+tt.path, nil, tt.header)
				if a.status != tt.status {
					t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, a.status, a.body, tt.status)
				}
				for k, v := range want {
					if got := a.header.Values(k); len(got) != 1 || got[0] != v {
						t.Errorf("%s: %q, want %q", k, got, v)
					}
				}
			})
		}
	}
}
