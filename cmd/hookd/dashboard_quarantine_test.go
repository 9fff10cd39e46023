package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/chromedp"
)

// TestDashboardQuarantine posts malformed bodies to the sources of a real
// hookd and reads them on the dashboard's Quarantine page in headless
// chromium: the empty state first; then, the most recently received first,
// each body's time in UTC, source, error and content type; a body of
// markup shows as text and runs nothing; a long body shows cut, the whole
// of it behind an expand; a body that is not UTF-8 shows its exact bytes;
// 150 bodies show 100 at a time with More; and the page shows one
// source's bodies alone.
func TestDashboardQuarantine(t *testing.T) {
	const token = "dash-admin-token-0123"
	p := startDashSources(t, token, "mailjet", "mailjet-eu")
	ui := logIn(t, p, token)
	ui.goTo("#/quarantine", "#no-quarantine")
	ui.texts(map[string]string{"#no-quarantine": "Nothing is quarantined.", `#nav a.active`: "Quarantine"})

	// Markup that would run if the page took a body for HTML: a script
	// element (which innerHTML would not run), an image whose onerror
	// would, and an element of its own.
	const markup = `<script>window.pwned = "script"</script><img src="x" onerror="window.pwned = 'img'"><b id="injected">bold</b>`
	special := []struct {
		name, source, contentType, body string
	}{
		{"markup", "mailjet-eu", "text/html", markup},
		{"long", "mailjet", "application/json", `[{"event":"sent","email":"` + markup + strings.Repeat("x", 3000) + `"}`},
		{"not utf-8", "mailjet", "application/json", "{\"event\":\"sent\",\"email\":\"\xff\xfe@example.com\"}"},
		{"empty", "mailjet-eu", "", ""},
	}
	const n = 150
	for i := range n - len(special) {
		postMalformed(t, p, "mailjet", "application/json", fmt.Sprintf(`{"event":"open","n":%d`, i))
	}
	for _, s := range special {
		postMalformed(t, p, s.source, s.contentType, s.body)
	}
	type item struct {
		ID, Source, Error, Body string
		Received                time.Time
		ContentType             string `json:"content_type"`
	}
	var all struct{ Quarantine []item }
	for deadline := time.Now().Add(30 * time.Second); len(all.Quarantine) < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bodies quarantined, want %d\n%s", len(all.Quarantine), n, p.output())
		}
		adminGet(t, p, token, "/api/quarantine?limit=1000", &all)
	}
	ids := func(items []item) []string {
		out := make([]string, len(items))
		for i, q := range items {
			out[i] = q.ID
		}
		return out
	}
	shownIDs := func() []string {
		return eval[[]string](ui, `[...document.querySelectorAll("#quarantine-table tbody tr")].map(tr => tr.dataset.id)`)
	}

	// The link to the page shown shows it again, now with the bodies.
	ui.do("show the page again",
		chromedp.Click(chromedp.CSS(`#nav a[data-page="quarantine"]`)),
		chromedp.WaitVisible(chromedp.CSS("#quarantine-table")),
	)
	if got, want := shownIDs(), ids(all.Quarantine[:100]); !slices.Equal(got, want) {
		t.Errorf("the first page shows %d bodies %v, want the API's 100 newest %v", len(got), got, want)
	}
	ui.texts(map[string]string{"#quarantine-count": "100"})

	// The special bodies, posted last, are the newest.
	for i, s := range special {
		q := all.Quarantine[len(special)-1-i]
		t.Run(s.name, func(t *testing.T) {
			sub := *ui // failing this subtest, not its parent
			sub.t = t
			ui := &sub
			if q.Source != s.source || q.Body != strings.ToValidUTF8(s.body, "\uFFFD") {
				t.Fatalf("the API's body %d is %+v, want %s's", len(special)-1-i, q, s.name)
			}
			row := fmt.Sprintf(`#quarantine-table tr[data-id=%q]`, q.ID)
			cells := eval[[]string](ui, `[...document.querySelector('`+row+`').cells].map(td => td.textContent)`)
			if len(cells) != 5 {
				t.Fatalf("the row shows %q, want 5 cells", cells)
			}
			if want := q.Received.UTC().Truncate(time.Second).Format("2006-01-02 15:04:05Z"); cells[0] != want {
				t.Errorf("received shows %q, want %q (UTC)", cells[0], want)
			}
			if cells[1] != s.source || cells[3] != s.contentType {
				t.Errorf("source and content type show %q and %q, want %q and %q", cells[1], cells[3], s.source, s.contentType)
			}
			// An error is cut as other long values are, whole in its tooltip.
			if got := eval[string](ui, `(c => c.title || c.textContent)(document.querySelector('`+row+`').cells[2])`); got != q.Error {
				t.Errorf("the error shows %q, want %q", got, q.Error)
			}
			body := cells[4]
			switch s.name {
			case "markup":
				if body != markup {
					t.Errorf("the body shows %q, want the markup as text %q", body, markup)
				}
			case "empty":
				if body != "(empty)" {
					t.Errorf("the empty body shows %q, want (empty)", body)
				}
			default:
				// Cut, with the whole body (and for one that is not UTF-8,
				// its exact bytes) behind an expand.
				summary := ui.text(row + " summary")
				if len(s.body) > 120 && (utf8.RuneCountInString(summary) > 120 || !strings.HasSuffix(summary, "…") || !strings.HasPrefix(q.Body, strings.TrimSuffix(summary, "…"))) {
					t.Errorf("the long body shows as %d characters %q, want its first ones, at most 120, ending in …", utf8.RuneCountInString(summary), summary)
				}
				ui.do("open the body", chromedp.Click(chromedp.CSS(row+" summary")), chromedp.WaitVisible(chromedp.CSS(row+" pre.whole")))
				if got := eval[string](ui, `document.querySelector('`+row+` pre.whole').textContent`); got != q.Body {
					t.Errorf("the opened body shows %d characters, want the %d of the whole body", len(got), len(q.Body))
				}
				if s.name == "not utf-8" {
					got := eval[string](ui, `document.querySelector('`+row+` pre.base64')?.textContent ?? ""`)
					if b, err := base64.StdEncoding.DecodeString(got); err != nil || string(b) != s.body {
						t.Errorf("the body's base64 shows %q, want the exact bytes %q", got, s.body)
					}
				}
				ui.fitsWidth()
			}
		})
	}
	ui.shot("quarantine")
	// Nothing in a body became an element, nor ran.
	if got := ui.count(`#quarantine-table script, #quarantine-table img, #injected`); got != 0 {
		t.Errorf("the bodies' markup made %d elements", got)
	}
	time.Sleep(200 * time.Millisecond) // an image's onerror would have run by now
	if got := eval[string](ui, `String(window.pwned)`); got != "undefined" {
		t.Errorf("a body's markup ran: window.pwned = %s", got)
	}

	ui.do("More",
		chromedp.Click(chromedp.CSS("#quarantine-more")),
		chromedp.WaitNotVisible(chromedp.CSS("#quarantine-more")),
	)
	if got, want := shownIDs(), ids(all.Quarantine); !slices.Equal(got, want) {
		t.Errorf("after More the page shows %d bodies, want the API's %d, newest first", len(got), len(want))
	}
	ui.texts(map[string]string{"#quarantine-count": fmt.Sprint(n)})

	// A row's source shows that source's bodies alone, the form keeping
	// it; another typed in the form shows its own, and none for a source
	// that quarantined nothing; All sources shows every body again.
	var eu struct{ Quarantine []item }
	adminGet(t, p, token, "/api/quarantine?source=mailjet-eu&limit=1000", &eu)
	if len(eu.Quarantine) != 2 {
		t.Fatalf("the API has %d bodies of mailjet-eu, want 2", len(eu.Quarantine))
	}
	markupRow := fmt.Sprintf(`#quarantine-table tr[data-id=%q]`, all.Quarantine[len(special)-1].ID)
	ui.do("click a row's source",
		chromedp.Click(chromedp.CSS(markupRow+" td:nth-child(2) a")),
		chromedp.WaitVisible(chromedp.CSS("#quarantine-all")),
	)
	if got, want := shownIDs(), ids(eu.Quarantine); !slices.Equal(got, want) {
		t.Errorf("mailjet-eu's bodies show as %v, want %v", got, want)
	}
	if got := eval[string](ui, `document.querySelector("#quarantine-source").value`); got != "mailjet-eu" {
		t.Errorf("the form's source is %q, want mailjet-eu", got)
	}
	ui.texts(map[string]string{"#quarantine-count": "2"})
	ui.load("#/quarantine?source=mailjet")
	if got := len(shownIDs()); got != 100 {
		t.Errorf("mailjet's first page shows %d bodies, want 100", got)
	}
	ui.do("show a source with nothing quarantined",
		chromedp.SetValue(chromedp.CSS("#quarantine-source"), "no-such-source"),
		chromedp.Click(chromedp.CSS("#quarantine-go")),
		chromedp.WaitVisible(chromedp.CSS("#no-quarantine")),
	)
	ui.texts(map[string]string{"#no-quarantine": "Nothing is quarantined from no-such-source."})
	ui.do("All sources",
		chromedp.Click(chromedp.CSS("#quarantine-all")),
		chromedp.WaitVisible(chromedp.CSS("#quarantine-table")),
	)
	if got, want := shownIDs(), ids(all.Quarantine[:100]); !slices.Equal(got, want) {
		t.Errorf("All sources shows %d bodies, want the API's 100 newest", len(got))
	}
	p.stop(t)
}

// startDashSources starts hookd with an admin token and an unauthenticated
// Mailjet source of each name, without rules.
func startDashSources(t *testing.T, token string, sources ...string) *proc {
	t.Helper()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "admin:\n  token: %s\nsources:\n", token)
	for _, s := range sources {
		fmt.Fprintf(&cfg, "  - name: %s\n    provider: mailjet\n", s)
	}
	return startWithConfig(t, cfg.String())
}

// postMalformed posts body to source's hook and checks that hookd
// quarantines it: 400, saying so.
func postMalformed(t *testing.T, p *proc, source, contentType, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.hooks+"/hooks/"+source, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct{ Error string }
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &answer); err != nil || resp.StatusCode != http.StatusBadRequest || !strings.Contains(answer.Error, "quarantined as") {
		t.Fatalf("POST %q to %s: %d %s, want 400 and the body quarantined", body, source, resp.StatusCode, b)
	}
}
