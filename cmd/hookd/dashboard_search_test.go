package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hookd/hookd/event"
)

// TestDashboardSearchFilters searches by domain, source, category and
// bounce class on the dashboard's Search page in headless chromium, over
// events of two sources of a real hookd: each filter, from the page's URL
// as a bookmark gives it or from the form, narrows the results to the
// events it selects and stays in the URL, the form and the export links,
// since and until in every form the API takes them (which a bookmark holds
// and Search sends again); More keeps the filters; a value the API refuses
// shows its error; an event's page says that it was not evaluated.
func TestDashboardSearchFilters(t *testing.T) {
	const token = "dash-admin-token-0123"
	p := startDashSources(t, token, "mailjet", "mailjet-eu")
	// Six events an hour older than 150 sent to bulk.test, so that a page
	// after the bulk ones that forgot a filter would show them.
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	older := at.Add(-time.Hour)
	for i, e := range []struct{ source, typ, email, extra string }{
		{"mailjet", "sent", "a@example.com", ""},
		{"mailjet", "sent", "b@other.test", ""},
		{"mailjet-eu", "bounce", "c@other.test", `"hard_bounce":true,"error":"user unknown"`},
		{"mailjet", "spam", "d@example.com", ""},
		{"mailjet-eu", "blocked", "e@other.test", `"error":"spam content"`},
		{"mailjet", "bounce", "f@example.com", `"hard_bounce":false,"error":"mailbox full"`},
	} {
		postHookTo(t, p.hooks, e.source, "["+mailjetEvent(e.typ, i, e.email, older, e.extra)+"]")
	}
	const bulk = 150
	sent := make([]string, bulk)
	for i := range sent {
		sent[i] = mailjetEvent("sent", 1000+i, fmt.Sprintf("g%03d@bulk.test", i), at, "")
	}
	postHookTo(t, p.hooks, "mailjet-eu", "["+strings.Join(sent, ",")+"]")
	waitEvents(t, p, token, bulk+6)

	ui := logIn(t, p, token)
	ui.goTo("#/search", "#search-form")
	// The form suggests the API's categories and bounce classes.
	if got := eval[[]string](ui, `[...document.querySelector("#search-category").list.options].map(o => o.value)`); fmt.Sprint(got) != fmt.Sprint(event.Categories) {
		t.Errorf("the category input suggests %q, want %q", got, event.Categories)
	}
	if got := eval[[]string](ui, `[...document.querySelector("#search-bounce_class").list.options].map(o => o.value)`); fmt.Sprint(got) != "[hard soft]" {
		t.Errorf("the bounce class input suggests %q, want [hard soft]", got)
	}
	// since and until in every form the API takes: RFC 3339 with an
	// offset, dates, durations ago.
	east, west := time.FixedZone("", 2*3600), time.FixedZone("", -5*3600)
	day := older.UTC().Truncate(24 * time.Hour)
	for _, tt := range []struct {
		name, query string
		want        []string
	}{
		{"domain", "domain=other.test", []string{"b@other.test", "c@other.test", "e@other.test"}},
		{"domain in any case", "domain=Other.TEST", []string{"b@other.test", "c@other.test", "e@other.test"}},
		{"source", "source=mailjet", []string{"a@example.com", "b@other.test", "d@example.com", "f@example.com"}},
		{"category", "category=complaint", []string{"d@example.com"}},
		{"category of two types", "category=bounce", []string{"c@other.test", "f@example.com"}},
		{"bounce class", "category=bounce&bounce_class=soft", []string{"f@example.com"}},
		{"domain, source and category", "domain=other.test&category=blocked&source=mailjet-eu", []string{"e@other.test"}},
		{"domain and source", "domain=other.test&source=mailjet", []string{"b@other.test"}},
		{"nothing", "domain=example.com&category=blocked", nil},
		{"since a duration", "domain=other.test&since=2h", []string{"b@other.test", "c@other.test", "e@other.test"}},
		{"until a duration", "source=mailjet-eu&until=30m", []string{"c@other.test", "e@other.test"}},
		{"since with an offset", "domain=other.test&since=" + url.QueryEscape(older.Add(-time.Minute).In(west).Format(time.RFC3339)), []string{"b@other.test", "c@other.test", "e@other.test"}},
		{"since with an offset, after", "domain=other.test&since=" + url.QueryEscape(older.Add(time.Minute).In(east).Format(time.RFC3339)), nil},
		{"until with an offset", "source=mailjet-eu&until=" + url.QueryEscape(at.Add(-time.Minute).In(east).Format(time.RFC3339)), []string{"c@other.test", "e@other.test"}},
		{"dates", "domain=other.test&since=" + day.AddDate(0, 0, -1).Format(time.DateOnly) + "&until=" + day.AddDate(0, 0, 1).Format(time.DateOnly), []string{"b@other.test", "c@other.test", "e@other.test"}},
		{"until a date", "domain=other.test&until=" + day.Format(time.DateOnly), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sub := *ui // failing this subtest, not its parent
			sub.t = t
			ui := &sub
			ui.load("#/search?" + tt.query)
			if got := searchEmails(ui); !slices.Equal(got, tt.want) {
				t.Errorf("finds %q, want %q", got, tt.want)
			}
			noun := "events"
			if len(tt.want) == 1 {
				noun = "event"
			}
			// No event found, the page says so rather than showing a count
			// of 0 over a table without rows.
			count, want := `document.querySelector("#search-count").parentElement.textContent`, fmt.Sprintf("%d %s shown, newest first.", len(tt.want), noun)
			if len(tt.want) == 0 {
				count, want = `document.querySelector("#search-empty").textContent`, "No event matches these filters."
			}
			if got := eval[string](ui, count); got != want {
				t.Errorf("the page reads %q, want %q", got, want)
			}
			q, _ := url.ParseQuery(tt.query)
			for k := range q {
				if got := eval[string](ui, `document.querySelector("#search-`+k+`").value`); got != q.Get(k) {
					t.Errorf("the %s input holds %q, want %q from the URL", k, got, q.Get(k))
				}
				for _, link := range []string{"#export-csv", "#export-ndjson"} {
					if href := eval[string](ui, `document.querySelector("`+link+`").getAttribute("href")`); !strings.Contains(href, k+"="+url.QueryEscape(q.Get(k))) {
						t.Errorf("%s links to %s, without %s=%s", link, href, k, q.Get(k))
					}
				}
			}
		})
	}

	// From the form: the filters go to the URL, so that reloading it (as
	// a bookmark does) searches the same.
	ui.load("#/search")
	ui.do("search with the form",
		chromedp.SetValue(chromedp.CSS("#search-domain"), "other.test"),
		chromedp.SetValue(chromedp.CSS("#search-category"), "bounce"),
		chromedp.SetValue(chromedp.CSS("#search-source"), "mailjet-eu"),
	)
	eval[bool](ui, `document.querySelectorAll("#main > *").forEach(e => e.dataset.old = "1"), true`)
	ui.do("submit", chromedp.Click(chromedp.CSS("#search-go")))
	ui.waitFor("the search's answer", `document.querySelector("#main[aria-busy]") === null && document.querySelector("#main > [data-old]") === null`)
	const formHash = "#/search?domain=other.test&category=bounce&source=mailjet-eu"
	if got := eval[string](ui, `location.hash`); got != formHash {
		t.Errorf("the search's URL is %s, want %s", got, formHash)
	}
	if got := searchEmails(ui); fmt.Sprint(got) != "[c@other.test]" {
		t.Errorf("the form's search finds %q, want [c@other.test]", got)
	}
	ui.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#search-results")))
	if got := searchEmails(ui); fmt.Sprint(got) != "[c@other.test]" {
		t.Errorf("reloaded, the search finds %q, want [c@other.test]", got)
	}
	if got := eval[[]string](ui, `["domain", "category", "source"].map(k => document.querySelector("#search-" + k).value)`); fmt.Sprint(got) != "[other.test bounce mailjet-eu]" {
		t.Errorf("reloaded, the form holds %q", got)
	}

	// A bookmark's since and until stay in the form, so that Search
	// searches them again, whatever their form.
	until := at.Add(-time.Minute).In(east).Format(time.RFC3339)
	ui.load("#/search?since=2h&domain=other.test&until=" + url.QueryEscape(until))
	if got := eval[[]string](ui, `["since", "until"].map(k => document.querySelector("#search-" + k).value)`); fmt.Sprint(got) != fmt.Sprint([]string{"2h", until}) {
		t.Errorf("from the bookmark, the since and until inputs hold %q, want [2h %s]", got, until)
	}
	eval[bool](ui, `document.querySelectorAll("#main > *").forEach(e => e.dataset.old = "1"), true`)
	ui.do("search again", chromedp.Click(chromedp.CSS("#search-go")))
	ui.waitFor("the search's answer", `document.querySelector("#main[aria-busy]") === null && document.querySelector("#main > [data-old]") === null`)
	if got, want := eval[string](ui, `location.hash`), "#/search?domain=other.test&since=2h&until="+url.QueryEscape(until); got != want {
		t.Errorf("searched again, the URL is %s, want %s", got, want)
	}
	if got := searchEmails(ui); fmt.Sprint(got) != "[b@other.test c@other.test e@other.test]" {
		t.Errorf("searched again, the search finds %q, want the three at other.test", got)
	}
	if got := eval[[]string](ui, `["since", "until"].map(k => document.querySelector("#search-" + k).value)`); fmt.Sprint(got) != fmt.Sprint([]string{"2h", until}) {
		t.Errorf("searched again, the since and until inputs hold %q, want [2h %s]", got, until)
	}

	// More asks for the next page with the same filters.
	ui.load("#/search?domain=bulk.test&source=mailjet-eu")
	if got := ui.count("#search-rows tr"); got != 100 {
		t.Errorf("the first page of bulk.test shows %d events, want 100", got)
	}
	ui.do("More",
		chromedp.Click(chromedp.CSS("#search-more")),
		chromedp.WaitNotVisible(chromedp.CSS("#search-more")),
	)
	got := searchEmails(ui)
	if len(got) != bulk || !strings.HasSuffix(got[0], "@bulk.test") || !strings.HasSuffix(got[len(got)-1], "@bulk.test") {
		t.Errorf("after More, the search for bulk.test shows %d events, from %q to %q; want the %d at bulk.test", len(got), got[0], got[len(got)-1], bulk)
	}
	ui.texts(map[string]string{"#search-count": fmt.Sprint(bulk)})

	// A value the API refuses: its error, as for a bad time, under the
	// form, which keeps the value to be put right.
	for _, tt := range []struct{ field, value, want string }{
		{"category", "bounced", `hookd answered 400: category: "bounced" is not one of [sent delivered deferred open click bounce blocked complaint unsubscribe]`},
		{"bounce_class", "permanent", `hookd answered 400: bounce_class: "permanent" is not hard or soft`},
	} {
		ui.load("#/search?" + tt.field + "=" + tt.value)
		if got := ui.text("#page-error .error"); got != tt.want {
			t.Errorf("%s=%s shows %q, want %q", tt.field, tt.value, got, tt.want)
		}
		if got := eval[string](ui, `document.querySelector("#search-form #search-`+tt.field+`")?.value ?? "no form"`); got != tt.value {
			t.Errorf("%s=%s: the form's %s reads %q, want the value refused", tt.field, tt.value, tt.field, got)
		}
	}

	// Without rules, an event's page says that it was not evaluated, not
	// that no rule would take it: a replay does not add explanations.
	ui.load("#/search?source=mailjet&domain=other.test")
	ui.load(eval[string](ui, `document.querySelector("#search-rows tr a").getAttribute("href")`))
	if got, want := ui.text("#explanation"), "Not evaluated by the rules when it arrived (or at the last rebuild). A replay does not add an explanation: the jobs it made, if any, are listed below."; got != want {
		t.Errorf("the event's explanation reads %q, want %q", got, want)
	}
	p.stop(t)
}

// searchEmails returns the addresses of the events the Search page shows,
// sorted.
func searchEmails(u *ui) []string {
	u.t.Helper()
	got := eval[[]string](u, `[...document.querySelectorAll("#search-rows tr td:nth-child(3)")].map(td => td.textContent)`)
	slices.Sort(got)
	return got
}

// TestDashboardLongValues checks in headless chromium that an event whose
// address, campaign and type are as long as hookd keeps (event.MaxText
// bytes; a sender may send them) shows on the Search and Live pages cut to a line, the whole of
// each in its tooltip, and whole on its own page: each took its row over
// many screens before.
func TestDashboardLongValues(t *testing.T) {
	const token = "dash-admin-token-0123"
	p := startDashSources(t, token, "mailjet")
	email := strings.Repeat("x", event.MaxText-len("@long.example")) + "@long.example"
	campaign := strings.Repeat("<b>campaign</b> ", event.MaxText/len("<b>campaign</b> "))
	typ := strings.Repeat("t", 500)
	long := func(n int, at time.Time) string {
		return fmt.Sprintf(`{"event":%q,"time":%d,"MessageID":%d,"email":%q,"customcampaign":%q}`, typ, at.Unix(), 19421777396190490+n, email, campaign)
	}
	postHookTo(t, p.hooks, "mailjet", long(1, time.Now().Add(-time.Minute)))
	waitEvents(t, p, token, 1)
	ui := logIn(t, p, token)

	// cells returns the text, tooltip and height of the row's cells of
	// the address, the campaign and the type.
	type cellView struct {
		Text, Title string
		Height      float64
	}
	cells := func(row string, email, campaign, typ int) []cellView {
		t.Helper()
		return eval[[]cellView](ui, fmt.Sprintf(`[%d, %d, %d].map(i => {
			const td = document.querySelector(%q + " td:nth-child(" + i + ")");
			const el = td.querySelector("[title]") || td;
			return { Text: td.textContent, Title: el.getAttribute("title") || "", Height: td.getBoundingClientRect().height };
		})`, email, campaign, typ, row))
	}
	check := func(page string, got []cellView) {
		t.Helper()
		for i, want := range []struct {
			whole string
			max   int
		}{{email, 80}, {campaign, 40}, {typ, 40}} {
			c := got[i]
			if n := len([]rune(c.Text)); n > want.max || !strings.HasSuffix(c.Text, "…") || !strings.HasPrefix(want.whole, strings.TrimSuffix(c.Text, "…")) {
				t.Errorf("%s: a value of %d characters shows as %d: %.100q", page, len(want.whole), n, c.Text)
			}
			if c.Title != want.whole {
				t.Errorf("%s: the tooltip holds %.100q, want the whole value", page, c.Title)
			}
			if c.Height > 200 {
				t.Errorf("%s: the cell of %.20q... is %.0f px high", page, want.whole, c.Height)
			}
		}
	}

	ui.load("#/search?domain=long.example")
	check("search", cells("#search-rows tr", 3, 4, 2))
	ui.load(eval[string](ui, `document.querySelector("#search-rows tr a").getAttribute("href")`))
	if got := ui.text("#field-email"); got != email {
		t.Errorf("the event's page shows the address as %.100q, want the whole of it", got)
	}

	ui.goTo("#/live", "#live-table")
	ui.waitFor("the live stream", `document.querySelector("#live-status").textContent.startsWith("connected")`)
	postHookTo(t, p.hooks, "mailjet", long(2, time.Now()))
	ui.waitFor("the new event", `document.querySelectorAll("#live-rows tr").length >= 1`)
	check("live", cells("#live-rows tr", 4, 5, 3))
	p.stop(t)
}
