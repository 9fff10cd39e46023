package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// hostile is markup that runs script in every way a page could let it:
// an attribute closed early, an image whose onerror runs, an svg whose
// onload runs, a script element, a javascript: link, a right-to-left
// override that would make the text read otherwise. Each sets
// window.pwned to tag, so that what ran names the field it came from.
func hostile(tag string) string {
	return fmt.Sprintf(`'"><img src=x onerror="window.pwned='%[1]s'"><svg onload="window.pwned='%[1]s'"></svg>`+
		`<script>window.pwned='%[1]s'</script><a href="javascript:window.pwned='%[1]s'">%[1]s</a>`+"\u202e\u2066", tag)
}

// TestDashboardHostile fills every field a sender controls with markup
// (hostile) and opens every page of the dashboard that shows it in
// headless chromium, as an attacker who can reach an unauthenticated hook
// would have the operator do: an address (and so its domain), a campaign,
// a click's url (javascript:), a bounce's error, data's keys and values,
// a generic sender's id, type and message id, and, through rules, a
// suppression's reason, an exec action's error (the program's output,
// which repeats the data) and the values a rule's explanation saw; a
// malformed body and its Content-Type in quarantine; and the same events
// arriving on the Live page. On every page nothing runs (window.pwned
// stays undefined, and the browser reports no script refused by the
// Content-Security-Policy, which would mean markup became elements), no
// element has an event handler attribute, no link leads anywhere but the
// dashboard and the API, the markup shows as text, and a hostile address
// is removed from the suppression list by its Remove button.
func TestDashboardHostile(t *testing.T) {
	const token = "dash-admin-token-0123"
	dir := t.TempDir()
	rules := `rules:
  - name: suppress-bounces
    when: type == "bounce"
    actions:
      - suppress: { reason: "{{ .data.error }}" }
  - name: fail-clicks
    when: type == "click"
    actions:
      - exec: { command: /bin/sh, args: ["-c", 'printf "%s" "$1"; exit 3', "sh", "{{ .data.url }} {{ .data.error }}"] }
        retry: none
  - name: explain-bounces
    when: type == "bounce" && data.error == "none"
    actions:
      - log: {}
`
	if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules", "hostile.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(config, []byte("admin:\n  token: "+token+"\nsources:\n  - name: mailjet\n    provider: mailjet\n"+
		"  - name: app\n    provider: generic\n    map: { id: id, type: kind, email: to, message_id: msg, campaign: camp }\n"+
		"rules:\n  - rules/*.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHookd(t, t.TempDir(), "--config", config)

	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	mj := func(typ string, n int, fields map[string]any) string {
		m := map[string]any{"event": typ, "time": at.Unix(), "MessageID": 19421777396190490 + n, "Message_GUID": hostile("guid"),
			"email": hostile("local") + "@" + hostile("domain") + ".test", "mj_campaign_id": 42, "mj_contact_id": n,
			"customcampaign": hostile("campaign"), "CustomID": hostile("customid"), "Payload": hostile("payload"),
			hostile("key"): hostile("value")}
		for k, v := range fields {
			m[k] = v
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const suppressed = `"<img src=x onerror=window.pwned='supp'><svg onload=window.pwned='supp'>"@example.com`
	long := hostile("long") + strings.Repeat("\u202eW", 5000)
	mailjet := "[" + strings.Join([]string{
		mj("sent", 1, nil),
		mj("bounce", 2, map[string]any{"hard_bounce": true, "error": hostile("error"), "error_related_to": hostile("related")}),
		mj("click", 3, map[string]any{"url": "javascript:window.pwned='url'//" + hostile("url"), "error": hostile("clickerror")}),
		mj("open", 4, map[string]any{"agent": long}),
		// The suppress action takes an address only: markup in a quoted
		// local part is one.
		mj("bounce", 5, map[string]any{"email": suppressed, "hard_bounce": false, "error": hostile("error")}),
	}, ",") + "]"
	generic, err := json.Marshal(map[string]any{"id": hostile("id"), "kind": hostile("type"), "to": hostile("to") + "@x.test",
		"msg": hostile("msgid"), "camp": hostile("gcampaign"), hostile("gkey"): map[string]any{hostile("nested"): []any{hostile("item")}}})
	if err != nil {
		t.Fatal(err)
	}

	ui := logIn(t, p, token)
	// On the Live page first, so that the events arrive on it.
	ui.goTo("#/live", "#live-table")
	ui.waitFor("the live stream connected", `document.querySelector("#live-status").textContent.startsWith("connected")`)
	if a := postHookTo(t, p.hooks, "mailjet", mailjet); a.Accepted != 5 {
		t.Fatalf("posted 5 Mailjet events, %+v", a)
	}
	if a := postHookTo(t, p.hooks, "app", string(generic)); a.Accepted != 1 {
		t.Fatalf("posted 1 generic event, %+v", a)
	}
	req, err := http.NewRequest(http.MethodPost, p.hooks+"/hooks/mailjet", strings.NewReader(hostile("body")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/html; x="+hostile("ctype"))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a malformed body: %d, want 400", resp.StatusCode)
	}
	ui.waitFor("6 events on the Live page", `document.querySelectorAll("#live-rows tr").length === 6`)

	type ev struct{ ID, Type string }
	var events struct{ Events []ev }
	var dead struct{ Jobs []struct{ ID int64 } }
	var supp struct{ Suppressions []struct{ Email string } }
	var quarantined struct{ Quarantine []struct{ ID string } }
	waitFor(t, p, "a dead letter, a suppression and a quarantined body", func() bool {
		adminGet(t, p, token, "/api/deadletters", &dead)
		adminGet(t, p, token, "/api/suppressions", &supp)
		adminGet(t, p, token, "/api/quarantine", &quarantined)
		return len(dead.Jobs) == 1 && len(supp.Suppressions) == 1 && len(quarantined.Quarantine) == 1
	})
	adminGet(t, p, token, "/api/events?limit=100", &events)
	if len(events.Events) != 6 {
		t.Fatalf("%d events stored, want 6", len(events.Events))
	}

	// harmless checks the page shown: nothing ran, no element came of the
	// markup, and every link stays on the admin listener.
	harmless := func(page string, shows ...string) {
		t.Helper()
		time.Sleep(100 * time.Millisecond) // an image's onerror would have run by now
		if got := eval[string](ui, `String(window.pwned)`); got != "undefined" {
			t.Errorf("%s: markup of %s ran", page, got)
		}
		if n := ui.count(`#main img, #main script, #main iframe, #main [onerror], #main [onload], #main svg:not(.chart):not(.spark)`); n != 0 {
			t.Errorf("%s: %d elements came of the markup: %s", page, n,
				eval[string](ui, `[...document.querySelectorAll("#main img, #main script, #main iframe, #main [onerror], #main [onload], #main svg:not(.chart):not(.spark)")].map(e => e.outerHTML.slice(0, 200)).join("\n")`))
		}
		if bad := eval[[]string](ui, `[...document.querySelectorAll("a[href]")].map(a => a.href).filter(h => !h.startsWith(location.origin + "/"))`); len(bad) > 0 {
			t.Errorf("%s: links away from the dashboard: %q", page, bad)
		}
		// A long value shows cut, whole in its tooltip.
		text := eval[string](ui, `document.querySelector("#main").innerText + [...document.querySelectorAll("#main [title]")].map(e => e.title).join("\n")`)
		for _, tag := range shows {
			if !strings.Contains(text, "window.pwned='"+tag+"'") {
				t.Errorf("%s does not show the markup of %s as text", page, tag)
			}
		}
	}
	harmless("Live", "local", "campaign", "gcampaign", "to")

	// Each event's page shows its fields and raw data as text.
	for _, e := range events.Events {
		ui.load("#/event/" + url.PathEscape(e.ID))
		ui.waitFor("the event's page", `document.querySelector("#raw") !== null`)
		switch e.Type {
		case "bounce":
			harmless("a bounce's page", "campaign", "key", "value", "error")
			if n := ui.count(`#explanation tr[data-rule="explain-bounces"]`); n != 1 {
				t.Errorf("the bounce's page explains explain-bounces %d times, want once", n)
			}
		case "click":
			harmless("the click's page", "url", "clickerror")
		case "open":
			harmless("the open's page", "long")
		case "sent":
			harmless("the sent's page", "guid", "customid", "payload")
		default:
			harmless("the generic event's page", "id", "type", "to", "msgid", "gcampaign", "gkey", "nested", "item")
		}
	}
	ui.goTo("#/overview", "#total-all")
	harmless("Overview")
	ui.goTo("#/deliverability", "#deliv-table")
	harmless("Deliverability", "domain", "error")
	ui.load("#/search")
	ui.waitFor("the search's results", `document.querySelectorAll("#search-rows tr").length === 6`)
	harmless("Search", "local", "campaign", "to", "gcampaign")
	ui.goTo("#/rules", "#rules-table")
	harmless("Rules")
	ui.load("#/search-jobs/fail-clicks")
	ui.waitFor("the rule's job", `document.querySelectorAll("#rule-jobs tbody tr").length === 1`)
	harmless("fail-clicks's jobs", "url", "clickerror")
	ui.goTo("#/deadletters", "#dead-table")
	if got := eval[string](ui, `document.querySelector("#dead-table td.error").title || document.querySelector("#dead-table td.error").textContent`); !strings.Contains(got, "window.pwned='url'") {
		t.Errorf("the dead letter's error %q does not hold the program's output", got)
	}
	harmless("Dead letters")
	ui.goTo("#/quarantine", "#quarantine-table")
	ui.do("open the body", chromedp.Click(chromedp.CSS("#quarantine-table summary")))
	harmless("Quarantine", "body")
	if got := eval[string](ui, `document.querySelector("#quarantine-table td:nth-child(4)").title || document.querySelector("#quarantine-table td:nth-child(4)").textContent`); !strings.Contains(got, "window.pwned='ctype'") {
		t.Errorf("the content type shows %q, want the markup as text", got)
	}
	ui.goTo("#/suppressions", "#suppressions-table")
	harmless("Suppressions", "supp", "error")
	if got := eval[[]string](ui, `[...document.querySelectorAll("#suppressions-table td")].map(td => td.title || td.textContent)`); !slices.Contains(got, supp.Suppressions[0].Email) ||
		!slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "window.pwned='error'") }) {
		t.Errorf("the suppression shows %q, want its address and reason as text", got)
	}
	asked := ui.answerDialogs()
	ui.do("remove the hostile address",
		chromedp.Click(chromedp.CSS("#suppressions-table button")),
		chromedp.WaitVisible(chromedp.CSS("#no-suppressions")),
	)
	if got := asked.wait(t, 1); len(got) != 1 || !strings.Contains(got[0], supp.Suppressions[0].Email) {
		t.Errorf("Remove asked %q, want the address as text", got)
	}
	harmless("Suppressions, emptied")
	adminGet(t, p, token, "/api/suppressions", &supp)
	if len(supp.Suppressions) != 0 {
		t.Errorf("after Remove %d addresses are suppressed, want none", len(supp.Suppressions))
	}
	ui.shot("hostile")
	p.stop(t)
}
