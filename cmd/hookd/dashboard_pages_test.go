package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardLastSuppressionRemoved removes the only suppressed address
// in headless chromium: the page then says the list is empty, as it does
// when it opens on an empty list, where it showed "0 addresses shown"
// over a table without rows.
func TestDashboardLastSuppressionRemoved(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules:\n  - name: suppress-opens\n    when: type == \"open\"\n    actions:\n      - suppress: { reason: \"opened\" }\n")
	postHook(t, p.hooks, "["+mailjetEvent("open", 1, "only@example.com", time.Now().Add(-10*time.Minute), "")+"]")
	waitFor(t, p, "the address suppressed", func() bool {
		var list struct{ Suppressions []struct{ Email string } }
		adminGet(t, p, token, "/api/suppressions", &list)
		return len(list.Suppressions) == 1
	})

	ui := logIn(t, p, token)
	ui.goTo("#/suppressions", "#suppressions-table")
	ui.answerDialogs()
	ui.do("remove the last address", chromedp.Click(chromedp.CSS(`tr[data-email="only@example.com"] button`)))
	ui.waitFor("the empty list's message", `document.querySelector("#no-suppressions") !== null`)
	ui.texts(map[string]string{"#no-suppressions": "The suppression list is empty.", "#supp-message": "only@example.com removed."})
	if n := ui.count("#suppressions-table, #supp-count"); n != 0 {
		t.Errorf("with the list empty the page still shows the table or its count (%d elements)", n)
	}
	// The page opened anew says the same.
	ui.load("#/overview")
	ui.load("#/suppressions")
	ui.texts(map[string]string{"#no-suppressions": "The suppression list is empty."})
	p.stop(t)
}
