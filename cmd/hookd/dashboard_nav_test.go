package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardURLState drives the dashboard in headless chromium the way
// one goes back and forth: the overview's range and the Live page's
// filters live in the URL, so a reload and the back button show what was
// shown; Search pressed again with the same filters shows the events as
// they now are, where it did nothing.
func TestDashboardURLState(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	postHook(t, p.hooks, "["+mailjetEvent("sent", 1, "a@again.test", at, "")+"]")
	waitEvents(t, p, token, 1)
	ui := logIn(t, p, token)

	// Search again: one more event of the search's domain shows.
	ui.goTo("#/search?domain=again.test", "#search-results")
	ui.texts(map[string]string{"#search-count": "1"})
	postHook(t, p.hooks, "["+mailjetEvent("sent", 2, "b@again.test", at, "")+"]")
	waitEvents(t, p, token, 2)
	ui.do("search again", chromedp.Click(chromedp.CSS("#search-go")))
	ui.waitFor("the new event", `document.querySelectorAll("#search-rows tr").length === 2`)

	for _, c := range []struct{ page, tabs string }{{"overview", "ranges"}, {"deliverability", "dranges"}} {
		ui.load("#/" + c.page)
		ui.do("pick 7d on "+c.page, chromedp.Click(chromedp.CSS(`#`+c.tabs+` button[data-range="7d"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#`+c.tabs+` button.active[data-range="7d"]`)))
		if got := eval[string](ui, "location.hash"); got != "#/"+c.page+"?range=7d" {
			t.Errorf("7d picked on %s: the URL's fragment is %q, want the range in it", c.page, got)
		}
		ui.do("reload "+c.page, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#`+c.tabs+` button.active`)))
		if got := ui.text(`#` + c.tabs + ` button.active`); got != "7d" {
			t.Errorf("%s after a reload shows %s, want 7d", c.page, got)
		}
		ui.do("back on "+c.page, chromedp.NavigateBack())
		ui.waitFor(c.page+" back at 24h", `document.querySelector("#`+c.tabs+` button.active")?.textContent === "24h"`)
	}

	// Live: the type applied is in the URL; a reload keeps it, and the
	// stream it opens filters by it.
	ui.load("#/live")
	ui.waitFor("the live stream", `document.querySelector("#live-status").textContent.startsWith("connected")`)
	ui.do("filter live", chromedp.SetValue(chromedp.CSS("#live-type"), "open"), chromedp.Click(chromedp.CSS("#live-apply")))
	ui.waitFor("the filter in the URL", `location.hash === "#/live?type=open"`)
	ui.do("reload live", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#live-type")))
	ui.waitFor("the live stream", `document.querySelector("#live-status").textContent.startsWith("connected")`)
	if got := eval[string](ui, `document.querySelector("#live-type").value`); got != "open" {
		t.Errorf("Live after a reload filters by type %q, want open", got)
	}
	postHook(t, p.hooks, "["+mailjetEvent("sent", 3, "c@again.test", time.Now(), "")+","+
		mailjetEvent("open", 4, "c@again.test", time.Now(), `"ip":"127.0.0.1","geo":"FR","agent":"test"`)+"]")
	waitEvents(t, p, token, 4)
	ui.waitFor("the open", `document.querySelectorAll("#live-rows tr").length >= 1`)
	if got := eval[[]string](ui, `[...document.querySelectorAll("#live-rows tr")].map(r => r.dataset.type)`); fmt.Sprint(got) != "[open]" {
		t.Errorf("Live after a reload shows types %q, want [open]", got)
	}
	ui.do("back on live", chromedp.NavigateBack())
	ui.waitFor("Live unfiltered", `location.hash === "#/live" && document.querySelector("#live-type").value === ""`)
	p.stop(t)
}

// TestDashboardLiveRefused leaves the Live page open in headless chromium
// while its session ends and hookd restarts: the browser's reconnection
// is answered 401, after which it gives up on the stream, and the page
// goes to the login, keeping its filter, where it said "reconnecting…"
// for ever.
func TestDashboardLiveRefused(t *testing.T) {
	const token = "dash-admin-token-0123"
	config, _ := dashConfig(t, token, "rules: []\n")
	data := t.TempDir()
	p := startHookd(t, data, "--config", config)
	ui := logIn(t, p, token)
	ui.goTo("#/live?type=open", "#live-table")
	ui.waitFor("the live stream", `document.querySelector("#live-status").textContent.startsWith("connected")`)
	// The session ends (as at its age); hookd stops before it ends the
	// open stream for that (TestDashboardLiveLogout), so that the
	// browser reconnects to a hookd that knows nothing of the stream.
	if got, err := chromedp.Run(ui.ctx, chromedp.Evaluate[int](`fetch("/ui/logout", { method: "POST" }).then(r => r.status)`, chromedp.EvalAwaitPromise)); err != nil || got != 200 {
		t.Fatalf("log out: %d %v", got, err)
	}
	p.stop(t)
	p = startHookd(t, data, "--config", config, "--admin-listen", strings.TrimPrefix(p.admin, "http://"))
	ctx, cancel := context.WithTimeout(ui.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#login-form"))); err != nil {
		t.Fatalf("the Live page refused does not go to the login: %v (it says %q)", err, ui.text("#live-status"))
	}
	if got := eval[string](ui, "location.pathname + location.hash"); got != "/ui/login#/live?type=open" {
		t.Errorf("the Live page refused went to %s, want /ui/login#/live?type=open", got)
	}
	p.stop(t)
}

// TestDashboardLiveLogout leaves the Live page open in headless chromium
// while its session is logged out (from another tab, say): hookd ends the
// stream the session opened, the browser's reconnection is answered 401,
// and the page goes to the login, where the stream went on sending every
// event to a session that was over.
func TestDashboardLiveLogout(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	ui := logIn(t, p, token)
	ui.goTo("#/live", "#live-table")
	ui.waitFor("the live stream", `document.querySelector("#live-status").textContent.startsWith("connected")`)
	if got, err := chromedp.Run(ui.ctx, chromedp.Evaluate[int](`fetch("/ui/logout", { method: "POST" }).then(r => r.status)`, chromedp.EvalAwaitPromise)); err != nil || got != 200 {
		t.Fatalf("log out: %d %v", got, err)
	}
	ctx, cancel := context.WithTimeout(ui.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#login-form"))); err != nil {
		t.Fatalf("the Live page of a session logged out does not go to the login: %v (it says %q)", err, ui.text("#live-status"))
	}
	p.stop(t)
}

// TestDashboardSlowPage follows a link in headless chromium while the page
// before it still loads: the Dead letters page asked for stays when the
// search comes, where the search's page replaced it under a URL and a nav
// naming Dead letters.
func TestDashboardSlowPage(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	ui := logIn(t, p, token)
	// The page's answers from /api/events are held until release(); once
	// the page has read the held one, every step of the route that
	// asked for it has run by the next task, which sets staleDone.
	eval[bool](ui, `(() => {
		const f = window.fetch;
		window.fetch = (url, opts) => {
			if (!String(url).startsWith("/api/events")) return f(url, opts);
			return new Promise(resolve => { window.release = () => resolve(f(url, opts).then(r => {
				const text = r.text.bind(r);
				r.text = () => text().then(t => { setTimeout(() => { window.staleDone = true; }); return t; });
				return r;
			})); });
		};
		return true;
	})()`)
	ui.do("search", chromedp.Click(chromedp.CSS(`#nav a[data-page="search"]`)))
	ui.waitFor("the search asked for", `typeof window.release === "function"`)
	ui.do("dead letters", chromedp.Click(chromedp.CSS(`#nav a[data-page="deadletters"]`)), chromedp.WaitVisible(chromedp.CSS("#no-dead")))
	eval[bool](ui, `window.release(), true`)
	ui.waitFor("the search's answer read", `window.staleDone === true`)
	if got := ui.text("#main h1"); got != "Dead letters and suspended targets" {
		t.Errorf("after the slow search came, the page shows %q under %s, want the Dead letters page", got, eval[string](ui, "location.hash"))
	}
	p.stop(t)
}
