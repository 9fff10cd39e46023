package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestDashboardDeepEvent shows an event whose data is nested thousands
// deep, as a sender may post one: the search and the event's page show it
// (the page's JSON reviver recursed past the stack and the pages failed).
func TestDashboardDeepEvent(t *testing.T) {
	const token = "dash-admin-token-0123"
	p := startDashSources(t, token, "mailjet")
	const depth = 9000
	deep := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	postHookTo(t, p.hooks, "mailjet", fmt.Sprintf(`{"event":"open","time":1433103519,"MessageID":19421777396190490,"email":"deep@example.com","nested":%s}`, deep))
	var page struct{ Events []struct{ ID string } }
	for deadline := time.Now().Add(30 * time.Second); len(page.Events) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the event is not in the store\n%s", p.output())
		}
		adminGet(t, p, token, "/api/events?limit=1", &page)
	}
	ui := logIn(t, p, token)
	ui.load("#/search")
	if got := searchEmails(ui); fmt.Sprint(got) != "[deep@example.com]" {
		t.Errorf("the search shows %q, want the deep event (page error: %q)", got, eval[string](ui, `document.querySelector("#page-error")?.textContent ?? ""`))
	}
	ui.load("#/event/" + url.PathEscape(page.Events[0].ID))
	if got := eval[string](ui, `document.querySelector("#page-error")?.textContent ?? ""`); got != "" {
		t.Fatalf("the event's page shows an error: %s", got)
	}
	if got := eval[bool](ui, `document.querySelector("#event-rules") !== null`); !got {
		t.Error("the event's page does not show the event")
	}
	if raw := eval[string](ui, `document.querySelector("#raw")?.textContent ?? ""`); !strings.Contains(raw, `"email":"deep@example.com"`) || !strings.Contains(raw, deep) {
		t.Errorf("the raw payload does not show the event as sent: %.200s", raw)
	}
	p.stop(t)
}
