package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestAdminCrossOrigin attacks the admin listener of a real hookd from a
// page served on another loopback port, in headless chromium, as any web
// page the operator opens could: a form posting a dead letter's retry and
// the logout, no-cors fetches resuming a target and retrying the dead
// letter, and a fetch deleting a suppression. Without the admin token (the
// default) and with it, the browser logged in (its SameSite=Strict cookie
// goes with requests from another port of the same host): hookd answers
// 403 and nothing changes, while the dashboard's own buttons retry, resume,
// remove and log out. A page under a name of its own resolved to 127.0.0.1
// (DNS rebinding) gets 421, and a name in admin.hosts is served.
func TestAdminCrossOrigin(t *testing.T) {
	for _, tt := range []struct{ name, token string }{
		{"without token", ""},
		{"with token, logged in", "dash-admin-token-0123"},
	} {
		t.Run(tt.name, func(t *testing.T) { crossOrigin(t, tt.token) })
	}
}

func crossOrigin(t *testing.T, token string) {
	target := newHookReceiver(t, 2)
	rules := "rules:\n  - name: alert-bounce\n    when: type == \"bounce\"\n    actions:\n      - http: { url: \"" + target.URL + "/alert\" }\n        retry: 1x10ms\n" +
		"  - name: suppress-blocked\n    when: type == \"blocked\"\n    actions:\n      - suppress: { reason: \"blocked\" }\n"
	admin := "admin:\n  hosts: [hookd.test]\n"
	if token != "" {
		admin += "  token: " + token + "\n"
	}
	config, _ := rulesConfig(t, admin, "r.yaml", rules)
	p := startHookd(t, t.TempDir(), "--config", config)
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	postHook(t, p.hooks, "["+mailjetEvent("bounce", 1, "bad@bounce.test", at, `"hard_bounce":true,"error":"user unknown"`)+","+
		mailjetEvent("blocked", 2, "blk@bounce.test", at, `"error":"spam content"`)+"]")

	// state is what the attacks must leave as it is.
	type state struct {
		dead       []int64
		suspended  []int64
		suppressed []string
	}
	read := func() state {
		var (
			dead struct{ Jobs []struct{ ID int64 } }
			tgts struct {
				Targets []struct {
					ID        int64
					Suspended bool
				}
			}
			supp struct{ Suppressions []struct{ Email string } }
			s    state
		)
		adminGet(t, p, token, "/api/deadletters", &dead)
		adminGet(t, p, token, "/api/targets", &tgts)
		adminGet(t, p, token, "/api/suppressions", &supp)
		for _, j := range dead.Jobs {
			s.dead = append(s.dead, j.ID)
		}
		for _, tg := range tgts.Targets {
			if tg.Suspended {
				s.suspended = append(s.suspended, tg.ID)
			}
		}
		for _, sp := range supp.Suppressions {
			s.suppressed = append(s.suppressed, sp.Email)
		}
		return s
	}
	var before state
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if before = read(); len(before.dead) == 1 && len(before.suspended) == 1 && len(before.suppressed) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%+v: want a dead letter, a suspended target and a suppression\n%s", before, p.output())
		}
	}
	job, tgt := before.dead[0], before.suspended[0]

	// The attacker's page: same host, another port, so the same site.
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>attacker</title>
<form id="retry" method="post" action="%[1]s/api/deadletters/%[2]d/retry"><input name="x" value="1"></form>
<form id="logout" method="post" action="%[1]s/ui/logout"></form>`, p.admin, job)
	}))
	t.Cleanup(attacker.Close)
	if !strings.HasPrefix(attacker.URL, "http://127.0.0.1:") || !strings.HasPrefix(p.admin, "http://127.0.0.1:") {
		t.Fatalf("attacker at %s, hookd at %s: want two ports of 127.0.0.1", attacker.URL, p.admin)
	}
	adminPort := p.admin[strings.LastIndexByte(p.admin, ':')+1:]

	ctx := browser(t, 2*time.Minute, chromedp.Flag("host-resolver-rules", "MAP rebind.test 127.0.0.1, MAP hookd.test 127.0.0.1"))
	ui := &ui{t: t, ctx: ctx, shots: t.TempDir()}
	// The status of every answer the browser gets, by URL.
	var (
		mu       sync.Mutex
		statuses = map[string][]int64{}
	)
	if err := chromedp.Listen(ctx, func(ev any) {
		if r, ok := ev.(*network.EventResponseReceived); ok {
			mu.Lock()
			statuses[r.Response.URL] = append(statuses[r.Response.URL], r.Response.Status)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	answered := func(u string) []int64 {
		mu.Lock()
		defer mu.Unlock()
		return statuses[u]
	}
	if token != "" {
		ui.logIn(p, token)
	}

	ui.do("open the attacker's page", chromedp.Navigate(attacker.URL+"/"))
	resume := fmt.Sprintf("%s/api/targets/%d/resume", p.admin, tgt)
	retry := fmt.Sprintf("%s/api/deadletters/%d/retry", p.admin, job)
	for _, u := range []string{resume, retry} {
		js := fmt.Sprintf(`fetch(%q, {method: "POST", mode: "no-cors", credentials: "include"}).then(r => r.type)`, u)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil || got != "opaque" {
			t.Fatalf("no-cors fetch of %s: %q, %v", u, got, err)
		}
	}
	// A DELETE needs a CORS preflight, which hookd does not grant.
	del := fmt.Sprintf(`fetch(%q, {method: "DELETE", credentials: "include"}).then(r => "sent", e => "refused")`, p.admin+"/api/suppressions/blk@bounce.test")
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[string](del, chromedp.EvalAwaitPromise)); err != nil || got != "refused" {
		t.Errorf("cross-origin DELETE: %q, %v; want refused", got, err)
	}
	forms := []string{"retry"}
	if token != "" {
		forms = append(forms, "logout")
	}
	for _, form := range forms {
		ui.do("open the attacker's page", chromedp.Navigate(attacker.URL+"/"))
		resp, err := chromedp.RunResponse(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[chromedp.Void](fmt.Sprintf("document.getElementById(%q).submit()", form))(ctx, tg)
			return err
		}))
		if err != nil {
			t.Fatalf("the attacker's %s form: %v", form, err)
		}
		if resp.Status != http.StatusForbidden {
			t.Errorf("the attacker's %s form posted to %s: %d, want 403", form, resp.URL, resp.Status)
		}
		if body := eval[string](ui, "document.body.innerText"); !strings.Contains(body, "cross-origin request refused") {
			t.Errorf("the attacker's %s form got %q, want the JSON error", form, body)
		}
	}
	for _, u := range []string{resume, retry} {
		if got := answered(u); len(got) == 0 || got[0] != http.StatusForbidden {
			t.Errorf("%s answered %v to the attacker, want 403", u, got)
		}
	}
	if after := read(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("after the attacks: %+v, want %+v as before", after, before)
	}
	if got := target.received(); len(got) != 0 {
		t.Errorf("the dead job ran again: target received %v", got)
	}

	// DNS rebinding: a page of rebind.test, which resolves to 127.0.0.1,
	// is same-origin to itself; hookd does not answer it.
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse("http://rebind.test:"+adminPort+"/api/events"))
	if err != nil {
		t.Fatal(err)
	}
	if body := eval[string](ui, "document.body.innerText"); resp.Status != http.StatusMisdirectedRequest || strings.Contains(body, "bounce.test") {
		t.Errorf("GET /api/events as rebind.test: %d %s, want 421 and no event", resp.Status, body)
	}
	// admin.hosts admits hookd.test (which has no session of its own).
	resp, err = chromedp.Run(ctx, chromedp.NavigateResponse("http://hookd.test:"+adminPort+"/api/events"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]int64{true: http.StatusOK, false: http.StatusUnauthorized}[token == ""]; resp.Status != want {
		t.Errorf("GET /api/events as hookd.test, in admin.hosts: %d, want %d", resp.Status, want)
	}

	// The dashboard itself, same-origin: the session survived the
	// attacker's logout, and its buttons work.
	ui.do("open the dead letters", chromedp.Navigate(p.admin+"/ui/#/deadletters"), chromedp.WaitVisible(chromedp.CSS("#dead-table")))
	ui.do("retry", chromedp.Click(chromedp.CSS(fmt.Sprintf("#retry-%d", job))))
	// A retry resumes the job's suspended target, so that it runs.
	ui.waitFor("the retry's message", fmt.Sprintf(`document.querySelector("#dl-message").textContent.startsWith("Job %d retried; its target ")`, job))
	target.waitReceived(t, 1)
	ui.goTo("#/suppressions", "#suppressions-table")
	ui.answerDialogs()
	ui.do("remove the suppression", chromedp.Click(chromedp.CSS(`tr[data-email="blk@bounce.test"] button`)))
	ui.waitFor("the removal's message", `document.querySelector("#supp-message").textContent === "blk@bounce.test removed."`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		s := read()
		if len(s.dead) == 0 && len(s.suspended) == 0 && len(s.suppressed) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the dashboard's retry, resume and remove: %+v, want none left\n%s", s, p.output())
		}
	}
	if token != "" {
		ui.do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#token")))
		ui.do("the session is over", chromedp.Navigate(p.admin+"/ui/#/overview"), chromedp.WaitVisible(chromedp.CSS("#token")))
	}
	p.stop(t)
}

// TestAdminListenerHTTP checks over HTTP, as curl and scripts reach it,
// the protections a real hookd serve puts on its whole admin listener,
// with admin.token, admin.hosts and admin.secure_cookie set: requests
// without Origin (not from a web page) work, writes included; a foreign
// Host is refused 421 on every route, the probes and /metrics too; a
// cross-origin write is refused 403; every answer carries the security
// headers; and the login's cookie is Secure.
func TestAdminListenerHTTP(t *testing.T) {
	const token = "admin-token-0123456789"
	p := startWithConfig(t, "admin:\n  token: "+token+"\n  hosts: [hookd.test]\n  secure_cookie: true\nsources:\n  - name: mailjet\n    provider: mailjet\n")
	bearer := map[string]string{"Authorization": "Bearer " + token}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct {
		name, method, path, host string
		header                   map[string]string
		form                     string
		want                     int
	}{
		{"curl reads", http.MethodGet, "/api/events", "", bearer, "", http.StatusOK},
		{"curl writes", http.MethodPost, "/api/targets/99/resume", "", bearer, "", http.StatusNotFound},
		{"under a name of admin.hosts", http.MethodGet, "/api/events", "hookd.test:8081", bearer, "", http.StatusOK},
		{"a foreign Host", http.MethodGet, "/api/events", "attacker.example:8081", bearer, "", http.StatusMisdirectedRequest},
		{"a foreign Host, metrics", http.MethodGet, "/metrics", "attacker.example", nil, "", http.StatusMisdirectedRequest},
		{"a foreign Host, healthz", http.MethodGet, "/healthz", "attacker.example", nil, "", http.StatusMisdirectedRequest},
		{"metrics", http.MethodGet, "/metrics", "", nil, "", http.StatusOK},
		{"healthz", http.MethodGet, "/healthz", "", nil, "", http.StatusOK},
		{"a cross-origin write", http.MethodPost, "/api/targets/99/resume", "", map[string]string{"Authorization": "Bearer " + token, "Origin": "http://attacker.example"}, "", http.StatusForbidden},
		{"login", http.MethodPost, "/ui/login", "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "token=" + token, http.StatusSeeOther},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, p.admin+tt.path, strings.NewReader(tt.form))
			if err != nil {
				t.Fatal(err)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s (Host %q): %d %s, want %d", tt.method, tt.path, tt.host, resp.StatusCode, body, tt.want)
			}
			if tt.want == http.StatusMisdirectedRequest || tt.want == http.StatusForbidden {
				var e struct{ Error string }
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Errorf("answer %s is not a JSON error: %v", body, err)
				}
			}
			for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
				if resp.Header.Get(h) == "" {
					t.Errorf("no %s", h)
				}
			}
			if tt.path == "/ui/login" {
				cookies := resp.Cookies()
				if len(cookies) != 1 || !cookies[0].Secure || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
					t.Errorf("Set-Cookie %q: want one cookie, Secure (admin.secure_cookie), HttpOnly and SameSite=Strict", resp.Header.Values("Set-Cookie"))
				}
			}
		})
	}
	p.stop(t)
}
