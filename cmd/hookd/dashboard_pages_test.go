package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
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

// startSuspended starts hookd with a rule whose http action goes to a
// receiver that always fails, without retries: the job of the first open
// dies and suspends its target, and the job of the second waits, pending,
// for the target to be resumed. It returns hookd, the events' ids (the
// first's, the second's) and the dead job.
func startSuspended(t *testing.T, token string) (p *proc, first, second string, dead deadJob) {
	t.Helper()
	target := newHookReceiver(t, 1<<30)
	p, _ = startDashHookd(t, token, "rules:\n  - name: notify\n    when: type == \"open\"\n    actions:\n      - http: { url: \""+target.URL+"/notify\" }\n        retry: none\n")
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	postHook(t, p.hooks, "["+mailjetEvent("open", 1, "a@example.com", at, "")+"]")
	var page struct{ Jobs []deadJob }
	waitFor(t, p, "the first job dead", func() bool {
		adminGet(t, p, token, "/api/deadletters", &page)
		return len(page.Jobs) == 1
	})
	dead = page.Jobs[0]
	postHook(t, p.hooks, "["+mailjetEvent("open", 2, "b@example.com", at, "")+"]")
	waitFor(t, p, "the second job pending", func() bool {
		var jobs struct{ Jobs []deadJob }
		adminGet(t, p, token, "/api/jobs?status=pending", &jobs)
		if len(jobs.Jobs) == 1 {
			second = jobs.Jobs[0].EventID
		}
		return second != ""
	})
	return p, dead.EventID, second, dead
}

// deadJob is what the tests read of a job.
type deadJob struct {
	ID      int64
	EventID string `json:"event_id"`
	Target  string
	Updated time.Time
}

// TestDashboardDeadLetterTime reads the Dead letters page in headless
// chromium: each row shows when its job died (in UTC), the time the list
// is sorted by, where no row said when.
func TestDashboardDeadLetterTime(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _, _, dead := startSuspended(t, token)
	ui := logIn(t, p, token)
	ui.goTo("#/deadletters", "#dead-table")
	if got := eval[string](ui, `document.querySelector("#dead-table thead th").textContent`); got != "died" {
		t.Errorf("the first column is headed %q, want died", got)
	}
	died := eval[string](ui, fmt.Sprintf(`document.querySelector('#dead-table tr[data-job="%d"] td.died')?.textContent ?? "(no such cell)"`, dead.ID))
	if want := dead.Updated.UTC().Truncate(time.Second).Format("2006-01-02 15:04:05Z"); died != want {
		t.Errorf("the dead letter shows it died %q, want %q (UTC)", died, want)
	}
	p.stop(t)
}

// TestDashboardWaitingJob opens, in headless chromium, the page of an
// event whose job waits for its suspended target: the job says so, with
// a link to where the target is resumed, where it showed "pending" as if
// it would run; the page of the event whose job died says nothing of it.
func TestDashboardWaitingJob(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, first, second, dead := startSuspended(t, token)
	ui := logIn(t, p, token)
	// The page looks up the target of its pending job alone, not every
	// target there is.
	lookup := url.Values{"suspended": {"true"}, "target": {dead.Target}}.Encode()
	for _, c := range []struct {
		name, event, status string
		waits               bool
		asked               []string
	}{
		{"waiting", second, "pending", true, []string{lookup}},
		{"dead", first, "dead", false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			sub := *ui
			sub.t = t
			ui := &sub
			ui.asked("/api/targets")
			ui.load("#/event/" + url.PathEscape(c.event))
			if got := ui.asked("/api/targets"); !slices.Equal(got, c.asked) {
				t.Errorf("the page asked /api/targets%q, want %q", got, c.asked)
			}
			got := eval[string](ui, `document.querySelector("#event-jobs tbody tr td.status").textContent`)
			if !strings.HasPrefix(got, c.status) {
				t.Errorf("the job's status shows %q, want %s", got, c.status)
			}
			if waits := strings.Contains(got, "waits for its target, suspended"); waits != c.waits {
				t.Errorf("the job's status shows %q: says it waits for its target %v, want %v", got, waits, c.waits)
			}
			if c.waits {
				if href := eval[string](ui, `document.querySelector("#event-jobs .waiting a").getAttribute("href")`); href != "#/deadletters" {
					t.Errorf("the waiting job links to %q, want #/deadletters", href)
				}
			}
		})
	}
	p.stop(t)
}

// TestDashboardNavActive opens pages reached from others in headless
// chromium: the nav highlights the page they belong to, where a rule's
// jobs highlighted none.
func TestDashboardNavActive(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules:\n  - name: welcome\n    when: type == \"open\"\n    actions:\n      - log: { message: hi }\n")
	ui := logIn(t, p, token)
	for _, c := range []struct{ hash, want string }{
		{"#/search-jobs/welcome", "Rules"},
		{"#/event/nope", "Search"},
		{"#/deadletters", "Dead letters"},
	} {
		ui.load(c.hash)
		if got := eval[[]string](ui, `[...document.querySelectorAll("#nav a.active")].map(a => a.textContent)`); fmt.Sprint(got) != "["+c.want+"]" {
			t.Errorf("%s highlights %q in the nav, want [%s]", c.hash, got, c.want)
		}
	}
	p.stop(t)
}

// TestDashboardSmallRatios shows, in headless chromium, ratios that are
// neither 0 nor 1 but round to 0.0% or 100.0%: one click of 2,001 opens,
// 2,001 opens of 2,002 messages delivered, one bounce of 2,002 messages,
// 2,000 bounces of 2,001. They show as <0.1% and >99.9%, where they read
// as none and all.
func TestDashboardSmallRatios(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	var events []string
	add := func(n int, typ, email, extra string) {
		for range n {
			events = append(events, mailjetEvent(typ, len(events), email, at, extra))
		}
	}
	add(2001, "sent", "big@big.test", "")
	add(2001, "open", "big@big.test", "")
	add(1, "click", "big@big.test", `"url":"https://example.com/"`)
	add(1, "bounce", "big@big.test", `"hard_bounce":true,"error":"user unknown"`)
	add(1, "sent", "bad@bad.test", "")
	add(2000, "bounce", "bad@bad.test", `"hard_bounce":true,"error":"user unknown"`)
	for len(events) > 0 {
		n := min(1000, len(events))
		postHook(t, p.hooks, "["+strings.Join(events[:n], ",")+"]")
		events = events[n:]
	}
	waitFor(t, p, "every event counted", func() bool {
		var stats struct {
			Buckets []struct{ Counts map[string]int }
		}
		adminGet(t, p, token, "/api/stats?by=category&interval=1h&since="+at.Add(-time.Hour).UTC().Format(time.RFC3339)+
			"&until="+at.Add(time.Hour).UTC().Format(time.RFC3339), &stats)
		total := 0
		for _, b := range stats.Buckets {
			for _, n := range b.Counts {
				total += n
			}
		}
		return total == 6005
	})

	ui := logIn(t, p, token)
	ui.texts(map[string]string{"#rate-open": ">99.9%", "#rate-click": "<0.1%", "#rate-click-delivered": "<0.1%"})
	ui.goTo("#/deliverability", "#deliv-table")
	ui.texts(map[string]string{`tr[data-domain="bad.test"] .rate`: ">99.9%", `tr[data-domain="big.test"] .rate`: "<0.1%"})
	p.stop(t)
}

// TestDashboardDeliverabilityCut shows in headless chromium 50 domains
// that bounced, then 51: the page lists 50 either way, and says that the
// list is cut once it is, where it did not.
func TestDashboardDeliverabilityCut(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	ui := logIn(t, p, token)
	posted := 0
	for _, c := range []struct {
		domains int
		cut     bool
	}{{50, false}, {51, true}} {
		var events []string
		for ; posted < c.domains; posted++ {
			events = append(events, mailjetEvent("bounce", posted, fmt.Sprintf("x@d%02d.test", posted), at, `"hard_bounce":true,"error":"user unknown"`))
		}
		postHook(t, p.hooks, "["+strings.Join(events, ",")+"]")
		waitEvents(t, p, token, c.domains)
		ui.load("#/overview") // the page of the same hash would not be drawn anew
		ui.load("#/deliverability")
		if n := ui.count("#deliv-table tbody tr"); n != 50 {
			t.Errorf("%d domains bounced: the page lists %d, want 50", c.domains, n)
		}
		cut := ui.count("#deliv-cut") == 1
		if cut != c.cut {
			t.Errorf("%d domains bounced: the page says the list is cut %v, want %v", c.domains, cut, c.cut)
		}
		if cut {
			ui.texts(map[string]string{"#deliv-cut": "The 50 worst domains; more had a bounce, block or complaint in this window."})
		}
	}
	p.stop(t)
}
