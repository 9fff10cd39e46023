package main

import (
	"testing"

	"github.com/chromedp/chromedp"
)

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
