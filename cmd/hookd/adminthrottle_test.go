package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestAdminThrottle guesses the admin token of a real hookd, whose
// admin.throttle allows 3 wrong tokens an hour, from 127.0.0.1: the first
// three are answered 401, the fourth 429 with Retry-After and a JSON
// error, and so is the right token, as a bearer token and in the login
// form, so that the answers tell nothing of the guesses. The right token
// from 127.0.0.2 is answered 200, and neither a wrong X-Forwarded-For nor
// one naming 127.0.0.2 changes whose count a request is. The throttled
// requests are counted in hookd_admin_rejected_total{reason="throttled"}.
// (The throttle's end and its bound are tested in package dashboard, by a
// clock the test moves.)
func TestAdminThrottle(t *testing.T) {
	const token = "admin-token-4f1c9e"
	p := startWithConfig(t, "admin:\n  token: "+token+"\n  throttle: { failures: 3, window: 1h }\nsources:\n  - name: mailjet\n    provider: mailjet\n")
	type answer struct {
		status           int
		retryAfter, body string
	}
	do := func(ip, method, path string, header map[string]string, form url.Values) answer {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		tr := &http.Transport{DialContext: d.DialContext}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, p.admin+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	const throttledJSON = `{"error":"too many wrong admin tokens from this address: retry in 1200 s (the token was not checked)"}`
	for _, s := range []struct {
		name, ip, method, path string
		header                 map[string]string
		form                   url.Values
		want                   answer
	}{
		{"wrong token 1", "127.0.0.1", "GET", "/api/events", bearer("guess-1"), nil, answer{status: 401}},
		{"wrong token 2, another address in X-Forwarded-For", "127.0.0.1", "GET", "/api/events",
			map[string]string{"Authorization": "Bearer guess-2", "X-Forwarded-For": "203.0.113.9"}, nil, answer{status: 401}},
		{"wrong token 3 in the login form", "127.0.0.1", "POST", "/ui/login", nil, url.Values{"token": {"guess-3"}}, answer{status: 401}},
		{"wrong token 4", "127.0.0.1", "GET", "/api/events", bearer("guess-4"), nil, answer{429, "1200", throttledJSON}},
		{"the right token", "127.0.0.1", "GET", "/api/events", bearer(token), nil, answer{429, "1200", throttledJSON}},
		{"the right token, 127.0.0.2 in X-Forwarded-For", "127.0.0.1", "GET", "/api/stats",
			map[string]string{"Authorization": "Bearer " + token, "X-Forwarded-For": "127.0.0.2"}, nil, answer{429, "1200", throttledJSON}},
		{"the right token in the login form", "127.0.0.1", "POST", "/ui/login", nil, url.Values{"token": {token}}, answer{status: 429, retryAfter: "1200"}},
		{"the right token from another address", "127.0.0.2", "GET", "/api/events", bearer(token), nil, answer{status: 200}},
		{"a wrong token from another address", "127.0.0.2", "GET", "/api/events", bearer("guess-5"), nil, answer{status: 401}},
	} {
		got := do(s.ip, s.method, s.path, s.header, s.form)
		if s.method == "POST" && s.want.status == 429 && !strings.Contains(got.body, "Too many wrong tokens from your address: try again in 1200 seconds.") {
			t.Errorf("%s: the login form does not say why:\n%s", s.name, got.body)
		}
		if got.body = strings.TrimSpace(got.body); s.want.body == "" {
			got.body = ""
		}
		if got != s.want {
			t.Errorf("%s from %s: %+v, want %+v", s.name, s.ip, got, s.want)
		}
	}
	m := scrape(t, p.admin)
	for reason, want := range map[string]float64{"api": 3, "login": 1, "ui": 0, "throttled": 4} {
		if key := `hookd_admin_rejected_total{reason="` + reason + `"}`; m[key] != want {
			t.Errorf("%s = %v, want %v", key, m[key], want)
		}
	}
	if out := p.output(); strings.Contains(out, token) || strings.Contains(out, "guess-") {
		t.Errorf("a token is in the log:\n%s", out)
	}
	p.stop(t)
}

// TestDashboardLoginThrottled logs in with wrong tokens in headless
// chromium, against a hookd that allows one wrong token an hour: the form
// says Wrong token, then that there were too many, and then the right
// token does not log in either.
func TestDashboardLoginThrottled(t *testing.T) {
	const token = "dash-admin-token-0123"
	p := startWithConfig(t, "admin:\n  token: "+token+"\n  throttle: { failures: 1, window: 1h }\nsources:\n  - name: mailjet\n    provider: mailjet\n")
	ui := &ui{t: t, ctx: browser(t, time.Minute), shots: t.TempDir()}
	submit := func(what, tok string) string {
		t.Helper()
		// The answer is a new page: the old one's message goes first, so
		// that only the new one's is waited for.
		ui.do(what,
			chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.Evaluate[chromedp.Void](`document.querySelector("#login-error")?.remove()`),
			chromedp.SendKeys(chromedp.CSS("#token"), tok),
			chromedp.Click(chromedp.CSS("#login")),
			chromedp.WaitVisible(chromedp.CSS("#login-error")),
		)
		return ui.text("#login-error")
	}
	ui.do("open the dashboard", chromedp.Navigate(p.admin+"/ui/"))
	if got := submit("a wrong token", "wrong-token-1"); got != "Wrong token." {
		t.Errorf("after a wrong token the form says %q, want Wrong token.", got)
	}
	// The seconds left count down from the hour: a slow step may see 3599.
	throttled := regexp.MustCompile(`^Too many wrong tokens from your address: try again in 3(600|5[0-9]{2}) seconds\.$`)
	if got := submit("a second wrong token", "wrong-token-2"); !throttled.MatchString(got) {
		t.Errorf("after a second wrong token the form says %q, want %s", got, throttled)
	}
	if got := submit("the right token", token); !throttled.MatchString(got) {
		t.Errorf("the right token from the throttled address: the form says %q, want %s", got, throttled)
	}
	if got := eval[string](ui, `location.pathname`); got != "/ui/login" {
		t.Errorf("the right token from the throttled address leads to %s, want /ui/login", got)
	}
	ui.shot("login-throttled")
	p.stop(t)
}
