package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestMetricsAdminRejected sends the admin listener requests without the
// admin token, or with a wrong one, to the API, the login form and a
// dashboard file: each is answered 401, counted by reason, and they are
// logged once (all come from loopback within a minute), with neither the
// guessed nor the real token in the log. Requests with the token are not
// counted.
func TestMetricsAdminRejected(t *testing.T) {
	const token = "admin-token-4f1c9e"
	p := startWithConfig(t, "admin:\n  token: "+token+"\nsources:\n  - name: mailjet\n    provider: mailjet\n")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, bearer string, form url.Values) int {
		t.Helper()
		var body *strings.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		req, err := http.NewRequest(method, p.admin+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", p.admin)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const guess = "guessed-token-77aa"
	for _, r := range []struct {
		method, path, bearer string
		form                 url.Values
		want                 int
	}{
		{"GET", "/api/events", "", nil, 401},
		{"GET", "/api/events", guess, nil, 401},
		{"GET", "/api/stats", guess, nil, 401},
		{"POST", "/ui/login", "", url.Values{"token": {guess}}, 401},
		{"GET", "/ui/static/app.js", "", nil, 401},
		{"GET", "/api/events", token, nil, 200},
		{"GET", "/metrics", "", nil, 200},
	} {
		if got := do(r.method, r.path, r.bearer, r.form); got != r.want {
			t.Errorf("%s %s: %d, want %d", r.method, r.path, got, r.want)
		}
	}
	got := scrape(t, p.admin)
	for reason, want := range map[string]float64{"api": 3, "login": 1, "ui": 1} {
		if key := `hookd_admin_rejected_total{reason="` + reason + `"}`; got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
	// One line for the five, all from loopback within a minute, and no
	// token in it.
	var lines []string
	for line := range strings.Lines(p.output()) {
		var rec struct{ Level, Msg, Class string }
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "admin request rejected") {
			if rec.Level != "WARN" || rec.Class != "loopback" {
				t.Errorf("logged %s", line)
			}
			lines = append(lines, line)
		}
	}
	if len(lines) != 1 {
		t.Errorf("%d lines of rejected admin requests, want 1:\n%s", len(lines), strings.Join(lines, ""))
	}
	if out := p.output(); strings.Contains(out, guess) || strings.Contains(out, token) {
		t.Errorf("a token is in the log:\n%s", out)
	}
}

func TestAdminAddrClass(t *testing.T) {
	for _, tt := range []struct{ remote, want string }{
		{"127.0.0.1:5555", "loopback"},
		{"[::1]:5555", "loopback"},
		{"10.1.2.3:80", "private"},
		{"192.168.0.7:80", "private"},
		{"[fd00::1]:80", "private"},
		{"[::ffff:172.16.0.1]:80", "private"},
		{"203.0.113.7:51234", "public"},
		{"[2001:db8::1]:443", "public"},
		{"@", "unknown"},
	} {
		if got := addrClass(tt.remote); got != tt.want {
			t.Errorf("addrClass(%q) = %q, want %q", tt.remote, got, tt.want)
		}
	}
}
