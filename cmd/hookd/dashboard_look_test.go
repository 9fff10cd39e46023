package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestDashboardEmptyStore checks in headless chromium what a person sees
// on a hookd that has stored no event yet: the Overview says where a
// provider must post them and Search says there are none, where both
// showed counts of 0 over an empty chart and an empty table, and Live says
// that no event came yet until one comes; once an event is stored, the
// Overview says so no more, and a search that finds nothing says so.
func TestDashboardEmptyStore(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	ui := logIn(t, p, token)
	if n := ui.count("#overview-empty"); n != 1 {
		t.Fatalf("the Overview of an empty store shows %d notices saying where to post events, want 1", n)
	}
	if got := ui.text("#overview-empty"); !strings.Contains(got, "No events yet") || !strings.Contains(got, "POST /hooks/SOURCE") {
		t.Errorf("the empty Overview says %q, want where to post events", got)
	}
	ui.shot("overview-empty")
	ui.load("#/search")
	if got := ui.text("#search-empty"); !strings.HasPrefix(got, "No events yet") {
		t.Errorf("the empty Search says %q, want that there are no events yet", got)
	}
	if n := ui.count("#search-results"); n != 0 {
		t.Errorf("the empty Search shows %d result tables, want none", n)
	}

	// Live says what it waits for until the first event comes.
	ui.load("#/live")
	ui.waitFor("the stream", `document.querySelector("#live-status").textContent.startsWith("connected")`)
	if !eval[bool](ui, `document.querySelector("#live-empty").checkVisibility()`) {
		t.Error("Live without events does not say that none came yet")
	}
	postHook(t, p.hooks, mailjetEvent("sent", 1, "a@example.com", time.Now().Add(-10*time.Minute), ""))
	waitEvents(t, p, token, 1)
	ui.waitFor("the event on Live", `document.querySelectorAll("#live-rows tr").length === 1`)
	if eval[bool](ui, `document.querySelector("#live-empty").checkVisibility()`) {
		t.Error("Live still says no event came, showing one")
	}
	ui.load("#/overview?range=1h")
	ui.texts(map[string]string{"#total-all": "1"})
	if n := ui.count("#overview-empty"); n != 0 {
		t.Errorf("with an event stored the Overview still says there are none")
	}
	// A window without the event, the store not empty: the chart says the
	// window is empty, the page does not say that nothing was ever posted.
	ui.load("#/search?domain=none.test")
	if got := ui.text("#search-empty"); got != "No event matches these filters." {
		t.Errorf("a search finding nothing says %q", got)
	}
}

// TestDashboardPhone checks the dashboard in headless chromium at a phone's
// width (390 px): no page is wider than the window, the Overview's funnel
// steps stand one under another, its chart keeps a readable width inside
// its card, scrolled to the newest buckets, and the KPIs do not touch the
// chart's card. Keyboard focus shows a ring.
func TestDashboardPhone(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	var events []string
	for i := range 1000 {
		typ := []string{"sent", "sent", "open", "click"}[i%4]
		events = append(events, mailjetEvent(typ, i, fmt.Sprintf("u%04d@d%d.example", i, i%7), at, ""))
	}
	postHook(t, p.hooks, "["+strings.Join(events, ",")+"]")
	waitEvents(t, p, token, 1000)

	ui := &ui{t: t, ctx: browser(t, 2*time.Minute, chromedp.WindowSize(390, 844)), shots: t.TempDir()}
	ui.do("narrow the window", chromedp.EmulateViewport(390, 844))
	ui.logIn(p, token)
	ui.load("#/overview")
	ui.texts(map[string]string{"#total-all": "1,000", "#funnel-delivered": "500"})
	ui.fitsWidth()
	steps := eval[[]float64](ui, `[...document.querySelectorAll("#funnel .step")].flatMap(s => { const r = s.getBoundingClientRect(); return [r.top, r.bottom]; })`)
	if len(steps) != 6 || steps[2] < steps[1] || steps[4] < steps[3] {
		t.Errorf("the funnel's steps span %v (top, bottom of each), want each under the one before", steps)
	}
	chart := eval[[]float64](ui, `(() => { const c = document.querySelector("#overview-chart"); return [c.querySelector("svg").getBoundingClientRect().width, c.scrollLeft, c.clientWidth, c.scrollWidth]; })()`)
	if chart[0] < 800 {
		t.Errorf("the chart is %.0f px wide, want 800 for its labels to be read", chart[0])
	}
	if chart[1]+chart[2] < chart[3]-1 {
		t.Errorf("the chart is scrolled to %.0f of %.0f px shown %.0f at a time, want its end: the newest buckets", chart[1], chart[3], chart[2])
	}
	if gap := eval[float64](ui, `document.querySelector("#overview-chart").closest(".card").getBoundingClientRect().top - document.querySelector("#totals").getBoundingClientRect().bottom`); gap < 8 {
		t.Errorf("the KPIs end %.0f px above the chart's card, want a gap", gap)
	}
	ui.shot("phone-overview")
	for _, page := range []string{"#/deliverability", "#/live", "#/search", "#/rules", "#/deadletters", "#/suppressions", "#/quarantine"} {
		ui.load(page)
		ui.fitsWidth()
		ui.shot("phone-" + strings.TrimPrefix(page, "#/"))
	}

	// The keyboard's focus shows, on the dark header as on the page.
	ui.do("tab to the first link", chromedp.KeyEvent(kb.Tab))
	if got := eval[string](ui, `(() => { const s = getComputedStyle(document.activeElement); return document.activeElement.tagName + " " + s.outlineStyle + " " + s.outlineWidth; })()`); got != "A solid 2px" {
		t.Errorf("the focused element and its outline: %q, want a link with a 2px solid ring", got)
	}
}

// TestDashboardLoadingDims follows a link in headless chromium to a page
// whose answer is held: the page shown dims while the next one loads, where
// nothing showed that the click was taken, and is whole again once it
// comes.
func TestDashboardLoadingDims(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	ui := logIn(t, p, token)
	eval[bool](ui, `(() => {
		const f = window.fetch;
		window.fetch = (url, opts) => {
			if (!String(url).startsWith("/api/events")) return f(url, opts);
			return new Promise(resolve => { window.release = () => resolve(f(url, opts)); });
		};
		return true;
	})()`)
	ui.do("search", chromedp.Click(chromedp.CSS(`#nav a[data-page="search"]`)))
	ui.waitFor("the search asked for", `typeof window.release === "function"`)
	ui.waitFor("the page dimmed", `getComputedStyle(document.querySelector("#main")).opacity === "0.5"`)
	eval[bool](ui, `window.release(), true`)
	ui.waitFor("the search shown", `document.querySelector("#search-empty") !== null`)
	if got := eval[string](ui, `getComputedStyle(document.querySelector("#main")).opacity`); got != "1" {
		t.Errorf("the page loaded, its opacity is %s, want 1", got)
	}
}

// TestDashboardLoginForm checks the login form in headless chromium at a
// phone's width: it says which token it asks for, its field is as wide as
// the form under its label, where it stood cut short beside it, and Log in
// is the page's primary button.
func TestDashboardLoginForm(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	ui := &ui{t: t, ctx: browser(t, time.Minute), shots: t.TempDir()}
	ui.do("open the login", chromedp.EmulateViewport(390, 844), chromedp.Navigate(p.admin+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	if got := ui.text("#login-help"); got != "The admin.token of hookd's configuration." {
		t.Errorf("the login says %q about its token", got)
	}
	widths := eval[[]float64](ui, `[document.querySelector("#token").getBoundingClientRect().width, document.querySelector("#login-form").getBoundingClientRect().width]`)
	if widths[0] < widths[1]-1 {
		t.Errorf("the token's field is %.0f px wide in a form of %.0f", widths[0], widths[1])
	}
	if got := eval[string](ui, `document.querySelector("#login").className`); got != "primary" {
		t.Errorf("Log in's class is %q, want primary", got)
	}
	ui.fitsWidth()
	ui.shot("login-phone")
	ui.do("log in", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("#total-all")))
}

// TestDashboardCountsSeparated checks in headless chromium that Live counts
// a thousand events as 1,000, as every count on the dashboard is written,
// where its counts of events, jobs' attempts and targets' jobs read 1000.
func TestDashboardCountsSeparated(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	ui := logIn(t, p, token)
	ui.load("#/live")
	ui.waitFor("the stream", `document.querySelector("#live-status").textContent.startsWith("connected")`)
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	var events []string
	for i := range 1000 {
		events = append(events, mailjetEvent("sent", i, fmt.Sprintf("u%04d@example.com", i), at, ""))
	}
	postHook(t, p.hooks, "["+strings.Join(events, ",")+"]")
	ui.waitFor("the thousand events on Live", `document.querySelector("#live-count").textContent === "1,000"`)
}
