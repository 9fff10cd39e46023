package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/emersion/go-smtp"

	"github.com/hookd/hookd/internal/smtptest"
)

var uiShots = flag.String("ui.shots", "", "directory to copy the dashboard test's screenshots to (they are always saved in the test's temp dir)")

// chromium returns the path of the chromium binary. Without one the test
// skips, unless CI is set: there .ci/run installs it, so its absence is a
// failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "" {
		t.Skip("chromium is not installed (apt-get install -y chromium); with CI set this test fails instead of skipping")
	}
	t.Fatal("chromium is not installed and CI is set: .ci/run installs Debian's chromium")
	return ""
}

// browser starts a headless chromium with a fresh profile, and the
// options extra, and returns a context of one tab in it, bounded to
// timeout. The test fails if a page of the admin listener breaks its
// Content-Security-Policy (an inline script or style, say): the browser
// blocks what does, so the page would not work as written.
func browser(t *testing.T, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	var (
		mu         sync.Mutex
		violations []string
	)
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*log.EventEntryAdded); ok && strings.Contains(e.Entry.Text, "Content Security Policy") {
			mu.Lock()
			violations = append(violations, e.Entry.URL+": "+e.Entry.Text)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range violations {
			t.Errorf("Content-Security-Policy violated: %s", v)
		}
	})
	return ctx
}

// mailjetEvent is one Mailjet event of type typ at time at, with extra
// fields (a JSON object's members, without braces) when not empty.
func mailjetEvent(typ string, n int, email string, at time.Time, extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"event":%q,"time":%d,"MessageID":%d,"Message_GUID":"g-%d","email":%q,"mj_campaign_id":42,"mj_contact_id":%d,"customcampaign":"spring","CustomID":"","Payload":""%s}`,
		typ, at.Unix(), 19421777396190490+n, n, email, n, extra)
}

// chartSums is the script that adds up the overview chart's bars per key.
const chartSums = `(() => { const m = {}; for (const r of document.querySelectorAll("#overview-chart rect[data-key]")) m[r.dataset.key] = (m[r.dataset.key] || 0) + Number(r.dataset.count); return m; })()`

// adminGet GETs path on the admin listener with the bearer token and
// decodes the JSON answer into v.
func adminGet(t *testing.T, p *proc, token, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// TestDashboard drives the real dashboard of a real hookd in headless
// chromium: it logs in with the admin token, checks that the overview,
// deliverability, search, event, rules and live pages show exactly the
// events posted, retries a dead letter with its button, which resumes its
// target, and sees the job done, sees rule load errors in red, and saves
// screenshots.
func TestDashboard(t *testing.T) {
	const token = "dash-admin-token-0123"
	target := newHookReceiver(t, 2)
	rule := "rules:\n  - name: alert-bounce\n    when: type == \"bounce\"\n    actions:\n      - http: { url: \"" + target.URL + "/alert\" }\n        retry: 1x10ms\n" +
		"  - name: suppress-blocked\n    when: type == \"blocked\"\n    actions:\n      - suppress: { reason: \"blocked\" }\n"
	p, rulesDir := startDashHookd(t, token, rule)

	// Known events, ten minutes ago: 7 sent (2 to bounce.test), 3 opens,
	// 2 clicks, a hard bounce and a block at bounce.test.
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	var events []string
	n := 0
	add := func(typ, email, extra string) {
		n++
		events = append(events, mailjetEvent(typ, n, email, at, extra))
	}
	for i := range 5 {
		add("sent", fmt.Sprintf("s%d@example.com", i), "")
	}
	add("sent", "bad@bounce.test", "")
	add("sent", "blk@bounce.test", "")
	for i := range 3 {
		add("open", fmt.Sprintf("s%d@example.com", i), `"ip":"127.0.0.1","geo":"FR","agent":"test"`)
	}
	for i := range 2 {
		add("click", fmt.Sprintf("s%d@example.com", i), `"url":"https://example.com/","ip":"127.0.0.1","geo":"FR","agent":"test"`)
	}
	add("bounce", "bad@bounce.test", `"blocked":false,"hard_bounce":true,"error_related_to":"recipient","error":"user unknown"`)
	add("blocked", "blk@bounce.test", `"error_related_to":"content","error":"spam content"`)
	if a := postHook(t, p.hooks, "["+strings.Join(events, ",")+"]"); a.Accepted != 14 {
		t.Fatalf("posted 14 events, %d accepted", a.Accepted)
	}

	// The page needs the token; the API answers 401 without it.
	if resp, err := http.Get(p.admin + "/api/events"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /api/events without token: %v %v", resp, err)
	}
	// Wait for the store and for the bounce's job to be dead.
	deadline := time.Now().Add(30 * time.Second)
	var dead struct {
		Jobs []struct {
			ID       int64
			Attempts int
			Target   string
		}
	}
	for {
		var page struct{ Events []struct{ ID string } }
		adminGet(t, p, token, "/api/events?limit=1000", &page)
		adminGet(t, p, token, "/api/deadletters", &dead)
		if len(page.Events) == 14 && len(dead.Jobs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events stored, %d dead letters; want 14 and 1\n%s", len(page.Events), len(dead.Jobs), p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	jobID := dead.Jobs[0].ID

	ctx := browser(t, 2*time.Minute)
	ui := &ui{t: t, ctx: ctx, shots: t.TempDir()}

	// Log in through the form: /ui/ sends a browser without the cookie
	// there.
	ui.do("log in",
		chromedp.Navigate(p.admin+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#total-all")),
	)
	// By category: Mailjet's sent is delivered.
	ui.texts(map[string]string{
		"#total-all": "14", "#total-delivered": "7", "#total-open": "3", "#total-click": "2",
		"#total-bounce": "1", "#total-blocked": "1",
		"#funnel-delivered": "7", "#funnel-open": "3", "#funnel-click": "2",
		"#rate-open": "42.9%", "#rate-click": "66.7%", "#rate-click-delivered": "28.6%",
	})
	want := map[string]int{"delivered": 7, "open": 3, "click": 2, "bounce": 1, "blocked": 1}
	if got := eval[map[string]int](ui, chartSums); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("overview chart bars add up to %v, want %v", got, want)
	}
	// The legend's swatches take their colours from the script (the
	// Content-Security-Policy allows no style attribute).
	if got := eval[[]string](ui, `[...document.querySelectorAll(".legend i")].map(i => getComputedStyle(i).backgroundColor)`); len(got) != len(want) || slices.Contains(got, "rgba(0, 0, 0, 0)") {
		t.Errorf("legend swatches %q, want a colour for each of %d categories", got, len(want))
	}
	ui.shot("overview")
	// Each range draws the same events.
	for _, r := range []string{"1h", "7d", "30d", "24h"} {
		ui.do("range "+r,
			chromedp.Click(chromedp.CSS(`#ranges button[data-range="`+r+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#ranges button.active[data-range="`+r+`"]`)),
		)
		ui.texts(map[string]string{"#total-all": "14", "#total-bounce": "1"})
		if got := eval[map[string]int](ui, chartSums); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("range %s: chart bars add up to %v, want %v", r, got, want)
		}
	}

	// Deliverability: only bounce.test had trouble, 2 sent, 1 bounce, 1 block.
	ui.goTo("#/deliverability", "#deliv-table")
	const cells = `[...document.querySelectorAll(%q)].map(r => [...r.cells].map(c => c.textContent).join("|"))`
	if got := eval[[]string](ui, fmt.Sprintf(cells, "#deliv-table tbody tr")); fmt.Sprint(got) != "[bounce.test|2|1|1|0|50.0%]" {
		t.Errorf("deliverability rows %v, want one for bounce.test", got)
	}
	if got := eval[[]string](ui, fmt.Sprintf(cells, "#errors-table tbody tr")); fmt.Sprint(got) != "[blocked|spam content|1 bounce|user unknown|1]" {
		t.Errorf("top errors %v", got)
	}
	ui.texts(map[string]string{"#hard-bounces": "1", "#soft-bounces": "0"})
	ui.shot("deliverability")

	// Search by email and type, then the event's page: its rule, its dead
	// job with both attempts, its raw payload.
	ui.goTo("#/search?email=bad%40bounce.test&type=bounce", "#search-rows tr")
	if n := ui.count("#search-results > tbody > tr"); n != 1 {
		t.Errorf("search by email and type found %d events, want 1", n)
	}
	ui.do("open event", chromedp.Click(chromedp.CSS("#search-rows tr a")), chromedp.WaitVisible(chromedp.CSS("#event-jobs")))
	ui.texts(map[string]string{"#event-rules": "alert-bounce", "#field-type": "bounce", "#field-category": "bounce", "#field-bounce_class": "hard", "#field-email": "bad@bounce.test",
		`#explanation tr[data-rule="alert-bounce"] .result`: "fired", `#explanation tr[data-rule="suppress-blocked"] .result`: "no",
		`#explanation tr[data-rule="suppress-blocked"] .why`: `type == "blocked" is false: type = "bounce"`})
	// MessageID exceeds 2^53: the raw payload shows it as sent, not rounded.
	if id := ui.text("#field-message_id"); !strings.Contains(ui.text("#raw"), `"MessageID": `+id+",") {
		t.Errorf("raw payload does not show MessageID %s exactly:\n%s", id, ui.text("#raw"))
	}
	if got := eval[string](ui, `document.querySelector("#event-jobs tbody tr").cells[4].textContent + " " + document.querySelectorAll("#event-jobs .attempts li").length`); got != "dead 2" {
		t.Errorf("the event's job shows %q, want dead after 2 attempts", got)
	}
	if raw := ui.text("#raw"); !strings.Contains(raw, `"hard_bounce": true`) || !strings.Contains(raw, `"error": "user unknown"`) {
		t.Errorf("raw payload shows %s", raw)
	}
	ui.shot("event")

	// Rules: one match, its job dead.
	ui.goTo("#/rules", "#rules-table")
	ui.texts(map[string]string{`tr[data-rule="alert-bounce"] .matches`: "1", `tr[data-rule="alert-bounce"] .dead`: "1", `tr[data-rule="alert-bounce"] .done`: "0"})
	// Jobs are counted apart from matches: a match makes a job per action.
	if got := eval[[]string](ui, `[...document.querySelectorAll("#rules-table th.num")].map(th => th.textContent)`); fmt.Sprint(got) != "[matches jobs done jobs pending jobs dead]" {
		t.Errorf("the rules table's counts are headed %q", got)
	}
	// No rule file fails to load: nothing shows in the errors' place.
	if got := eval[[]string](ui, `[...document.querySelector("#main").childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent)`); len(got) != 0 {
		t.Errorf("the rules page shows the text %q between its parts", got)
	}
	if got := eval[[]string](ui, `[...document.querySelectorAll('tr[data-rule="alert-bounce"] svg polyline')].map(p => p.dataset.key + "=" + p.dataset.total)`); fmt.Sprint(got) != "[matches=1 dead=1]" {
		t.Errorf("rule chart lines %v, want one match and one dead job", got)
	}

	// Retry the dead letter, resume its target, and see the job done.
	status := fmt.Sprintf("#status-%d", jobID)
	ui.goTo("#/deadletters", "#dead-table")
	ui.texts(map[string]string{status: "dead", "#targets-table tbody tr td:first-child": dead.Jobs[0].Target, "#targets-table tbody button": "Resume"})
	ui.shot("deadletters")
	ui.do("retry", chromedp.Click(chromedp.CSS(fmt.Sprintf("#retry-%d", jobID))))
	// The retry resumes the job's target, and says so: the job runs
	// without a click on Resume.
	resumed := fmt.Sprintf("Job %d retried; its target %s resumed.", jobID, dead.Jobs[0].Target)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector("#dl-message").textContent === %q`, resumed),
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("retry does not report: %v (shows %q)", err, ui.text("#dl-message"))
	}
	// The target's row says so too, where it still offered Resume.
	if got := eval[string](ui, `(b => b.textContent + " " + b.disabled)(document.querySelector("#targets-table tbody button"))`); got != "Resumed true" {
		t.Errorf("after the retry resumed its target, the target's button shows %q, want Resumed, disabled", got)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector(%q).textContent === "done"`, status),
		chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("the retried job does not show done: %v (shows %q)\n%s", err, ui.text(status), p.output())
	}
	ui.shot("deadletters-retried")
	if got := target.received(); len(got) != 1 {
		t.Errorf("target received %v, want the retried job once", got)
	}
	// The retry numbers its attempt on from the two before it, in the API
	// and on the event's page.
	var retried struct {
		RetriedAfter int `json:"retried_after"`
		History      []struct{ Attempt int }
	}
	adminGet(t, p, token, fmt.Sprintf("/api/jobs/%d", jobID), &retried)
	if fmt.Sprint(retried) != "{2 [{1} {2} {3}]}" {
		t.Errorf("the retried job = %+v, want retried after 2 with attempts 1, 2, 3", retried)
	}
	ui.do("open the retried job's event", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-job="%d"] a`, jobID))),
		chromedp.WaitVisible(chromedp.CSS("#event-jobs")))
	if got := eval[[]int](ui, `[...document.querySelectorAll("#event-jobs .attempts li")].map(li => li.value)`); fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("the event's page numbers the retried job's attempts %v, want [1 2 3]", got)
	}
	ui.goTo("#/rules", "#rules-table")
	ui.texts(map[string]string{`tr[data-rule="alert-bounce"] .done`: "1", `tr[data-rule="alert-bounce"] .dead`: "0"})

	// Suppressions: the blocked address, by its rule; Remove takes it off.
	ui.goTo("#/suppressions", "#suppressions-table")
	ui.texts(map[string]string{`tr[data-email="blk@bounce.test"] td:nth-child(2)`: "blocked",
		`tr[data-email="blk@bounce.test"] td:nth-child(3)`: "suppress-blocked"})
	ui.shot("suppressions")
	asked := ui.answerDialogs()
	ui.do("remove a suppression", chromedp.Click(chromedp.CSS(`tr[data-email="blk@bounce.test"] button`)))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#supp-message").textContent === "blk@bounce.test removed."`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("remove does not report: %v (shows %q)", err, ui.text("#supp-message"))
	}
	if got := asked.messages(); len(got) != 1 || !strings.HasPrefix(got[0], "Remove blk@bounce.test from the suppression list?") {
		t.Errorf("Remove asked %q, want to confirm the removal of blk@bounce.test", got)
	}
	var supp struct {
		Suppressions []struct{ Email string } `json:"suppressions"`
	}
	adminGet(t, p, token, "/api/suppressions", &supp)
	if len(supp.Suppressions) != 0 {
		t.Errorf("after Remove, /api/suppressions lists %+v, want none", supp.Suppressions)
	}

	// Live: an open posted now shows up; a sent, filtered out, does not.
	ui.goTo("#/live", "#live-table")
	ui.do("filter live",
		chromedp.SetValue(chromedp.CSS("#live-type"), "open"),
		chromedp.Click(chromedp.CSS("#live-apply")),
	)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#live-status").textContent.startsWith("connected")`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("live stream does not connect: %v", err)
	}
	postHook(t, p.hooks, "["+mailjetEvent("sent", 100, "late@example.com", time.Now(), "")+","+
		mailjetEvent("open", 101, "late@example.com", time.Now(), `"ip":"127.0.0.1","geo":"FR","agent":"test"`)+"]")
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#live-rows tr").length >= 1`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("live: the new event does not show: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // the filtered-out sent would have arrived with it
	ui.texts(map[string]string{"#live-count": "1", "#live-table > tbody > tr > td:nth-child(4)": "late@example.com", "#live-table > tbody > tr > td:nth-child(3)": "open"})
	ui.shot("live")

	// A rule file that does not load: its error, with file and line, in red.
	if err := os.WriteFile(filepath.Join(rulesDir, "broken.yaml"), []byte("rules:\n  - name: broken\n    when: type ==\n    actions:\n      - log: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		var rs struct{ Errors []any }
		adminGet(t, p, token, "/api/rules", &rs)
		if len(rs.Errors) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broken rule file is not reported\n%s", p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	ui.goTo("#/overview", "#total-all")
	ui.goTo("#/rules", "#rule-errors")
	if got := ui.text("#rule-errors li"); !strings.Contains(got, "broken.yaml:3:") {
		t.Errorf("rule error %q does not name broken.yaml and its line", got)
	}
	if got := eval[string](ui, `getComputedStyle(document.querySelector("#rule-errors li")).color`); got != "rgb(198, 40, 40)" {
		t.Errorf("rule error color %s, want red rgb(198, 40, 40)", got)
	}
	ui.shot("rules")
	shots := ui.shots
	t.Logf("screenshots in %s", shots)
	p.stop(t)
}

// ui drives one tab of the dashboard; its methods fail the test on error.
type ui struct {
	t     *testing.T
	ctx   context.Context
	shots string
}

func (u *ui) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	if err := chromedp.Do(u.ctx, steps...); err != nil {
		u.t.Fatalf("%s: %v", what, err)
	}
}

// goTo shows the page of hash and waits until the element ready shows.
func (u *ui) goTo(hash, ready string) {
	u.t.Helper()
	u.do("go to "+hash,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", hash))(ctx, t)
			return err
		}),
		chromedp.WaitVisible(chromedp.CSS(ready)),
	)
}

// load shows the page of hash, as following a link to it does, and waits
// until the page is drawn anew: unlike goTo, it does not take the page
// shown before, which may hold the same elements, for the new one.
func (u *ui) load(hash string) {
	u.t.Helper()
	eval[bool](u, `document.querySelectorAll("#main > *").forEach(e => e.dataset.old = "1"), true`)
	eval[string](u, fmt.Sprintf("location.hash = %q", hash))
	u.waitFor("the page of "+hash, `document.querySelector("#main[aria-busy]") === null && document.querySelector("#main > *") !== null && document.querySelector("#main > [data-old]") === null`)
}

func (u *ui) text(sel string) string {
	u.t.Helper()
	s, err := chromedp.Run(u.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		u.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// texts checks the text of each selector.
func (u *ui) texts(want map[string]string) {
	u.t.Helper()
	for sel, w := range want {
		if got := u.text(sel); got != w {
			u.t.Errorf("%s shows %q, want %q", sel, got, w)
		}
	}
}

// shot saves a screenshot of the whole page as name.png in u.shots, and
// in -ui.shots when given.
func (u *ui) shot(name string) {
	u.t.Helper()
	png, err := chromedp.Run(u.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.t.Fatalf("screenshot: %v", err)
	}
	for _, dir := range []string{u.shots, *uiShots} {
		if dir == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			u.t.Fatal(err)
		}
	}
}

// asked returns the query strings of the requests the page made to path
// since the last call, as the browser's resource timing recorded them,
// each as url.Values.Encode writes it (parameters in name order).
func (u *ui) asked(path string) []string {
	u.t.Helper()
	var asked []string
	for _, q := range eval[[]string](u, fmt.Sprintf(`(() => {
		const asked = performance.getEntriesByType("resource").map(e => new URL(e.name)).filter(u => u.pathname === %q).map(u => u.search.slice(1));
		performance.clearResourceTimings();
		return asked;
	})()`, path)) {
		v, err := url.ParseQuery(q)
		if err != nil {
			u.t.Fatalf("the page asked %s?%s: %v", path, q, err)
		}
		asked = append(asked, v.Encode())
	}
	return asked
}

// eval evaluates a JavaScript expression in u's page.
func eval[T any](u *ui, js string) T {
	u.t.Helper()
	v, err := chromedp.Run(u.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		u.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// fitsWidth checks that the page is no wider than the window: a wide table
// scrolls inside its card.
func (u *ui) fitsWidth() {
	u.t.Helper()
	if got := eval[[]int](u, `[document.documentElement.scrollWidth, innerWidth]`); got[0] > got[1] {
		u.t.Errorf("the page %s is %d px wide in a window of %d", u.text("#main h1"), got[0], got[1])
	}
}

// waitFor waits until the JavaScript expression js is true, failing the
// test with what after 20 seconds.
func (u *ui) waitFor(what, js string) {
	u.t.Helper()
	if _, err := chromedp.Run(u.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		u.t.Fatalf("%s: %v", what, err)
	}
}

// dialogs answers the confirm dialogs of a dashboard tab, as its user
// would: OK, or Cancel once dismiss is set.
type dialogs struct {
	dismiss atomic.Bool
	mu      sync.Mutex
	asked   []string
}

// answerDialogs answers every dialog u's page opens from now on, keeping
// what each asked.
func (u *ui) answerDialogs() *dialogs {
	u.t.Helper()
	d := &dialogs{}
	ctx := u.ctx
	if err := chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*page.EventJavascriptDialogOpening)
		if !ok {
			return
		}
		d.mu.Lock()
		d.asked = append(d.asked, e.Message)
		d.mu.Unlock()
		accept := !d.dismiss.Load()
		// The listener may not run a command: the answer goes from
		// another goroutine, and fails only when the tab is gone.
		go chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
			return err
		}))
	}); err != nil {
		u.t.Fatal(err)
	}
	return d
}

// wait returns what the dialogs asked once they have asked n times, or
// after 20 seconds.
func (d *dialogs) wait(t *testing.T, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); len(d.messages()) < n && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	return d.messages()
}

// messages returns what the dialogs asked so far, in order.
func (d *dialogs) messages() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.asked)
}

// count returns how many elements the page has that match the CSS selector sel.
func (u *ui) count(sel string) int {
	u.t.Helper()
	return eval[int](u, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// TestDashboardProviders checks in headless chromium that the overview and
// the deliverability page count the events of Mailjet and Postmark
// together by category: Postmark's Delivery and Mailjet's sent are both
// delivered, Postmark's Open and Mailjet's open one KPI and one funnel
// step, Postmark's bounce and spam complaint show for its domain with the
// bounce's error text.
func TestDashboardProviders(t *testing.T) {
	const token = "dash-admin-token-0123"
	p := startWithConfig(t, "admin:\n  token: "+token+"\nsources:\n  - name: mailjet\n    provider: mailjet\n  - name: postmark\n    provider: postmark\n")

	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second).UTC()
	ts := at.Format(time.RFC3339)
	mj := []string{
		mailjetEvent("sent", 1, "a@mj.test", at, ""), mailjetEvent("sent", 2, "b@mj.test", at, ""),
		mailjetEvent("open", 1, "a@mj.test", at, `"ip":"127.0.0.1","geo":"FR","agent":"test"`),
	}
	if a := postHookTo(t, p.hooks, "mailjet", "["+strings.Join(mj, ",")+"]"); a.Accepted != 3 {
		t.Fatalf("posted 3 Mailjet events, %d accepted", a.Accepted)
	}
	for _, body := range []string{
		`{"RecordType":"Delivery","MessageID":"m-1","Recipient":"c@example.com","DeliveredAt":"` + ts + `"}`,
		`{"RecordType":"Delivery","MessageID":"m-2","Recipient":"d@example.com","DeliveredAt":"` + ts + `"}`,
		`{"RecordType":"Open","MessageID":"m-1","Recipient":"c@example.com","ReceivedAt":"` + ts + `"}`,
		`{"RecordType":"Open","MessageID":"m-2","Recipient":"d@example.com","ReceivedAt":"` + ts + `"}`,
		`{"RecordType":"Click","MessageID":"m-1","Recipient":"c@example.com","ReceivedAt":"` + ts + `","OriginalLink":"https://example.com/"}`,
		`{"RecordType":"Bounce","ID":7,"Type":"HardBounce","MessageID":"m-3","Email":"e@example.com","BouncedAt":"` + ts + `","Details":"smtp;550 5.1.1 user unknown"}`,
		`{"RecordType":"SpamComplaint","ID":8,"Type":"SpamComplaint","MessageID":"m-2","Email":"d@example.com","BouncedAt":"` + ts + `"}`,
	} {
		if a := postHookTo(t, p.hooks, "postmark", body); a.Accepted != 1 {
			t.Fatalf("posted %s, %d accepted", body, a.Accepted)
		}
	}
	waitEvents(t, p, token, 10)

	ui := logIn(t, p, token)
	ui.texts(map[string]string{
		"#total-all": "10", "#total-delivered": "4", "#total-open": "3", "#total-click": "1",
		"#total-bounce": "1", "#total-complaint": "1",
		"#funnel-delivered": "4", "#funnel-open": "3", "#funnel-click": "1",
		"#rate-open": "75.0%", "#rate-click": "33.3%", "#rate-click-delivered": "25.0%",
	})
	if got := eval[[]string](ui, `[...document.querySelectorAll("#totals .kpi .l")].map(l => l.textContent)`); fmt.Sprint(got) != "[events delivered open click bounce complaint]" {
		t.Errorf("overview KPIs %v, want one per category", got)
	}
	want := map[string]int{"delivered": 4, "open": 3, "click": 1, "bounce": 1, "complaint": 1}
	if got := eval[map[string]int](ui, chartSums); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("overview chart bars add up to %v, want %v", got, want)
	}
	ui.shot("overview-providers")

	ui.goTo("#/deliverability", "#deliv-table")
	const cells = `[...document.querySelectorAll(%q)].map(r => [...r.cells].map(c => c.textContent).join("|"))`
	if got := eval[[]string](ui, fmt.Sprintf(cells, "#deliv-table tbody tr")); fmt.Sprint(got) != "[example.com|2|1|0|1|66.7%]" {
		t.Errorf("deliverability rows %v, want one for example.com", got)
	}
	if got := eval[[]string](ui, fmt.Sprintf(cells, "#errors-table tbody tr")); fmt.Sprint(got) != "[bounce|smtp;550 5.1.1 user unknown|1]" {
		t.Errorf("top errors %v", got)
	}
	ui.texts(map[string]string{"#hard-bounces": "1", "#soft-bounces": "0"})
	ui.shot("deliverability-providers")
}

// startDashHookd starts hookd with an admin token, one unauthenticated
// Mailjet source and the rule file rules (YAML), and returns it with the
// directory of its rule files, where the test may add more.
func startDashHookd(t *testing.T, token, rules string) (*proc, string) {
	t.Helper()
	config, rulesDir := dashConfig(t, token, rules)
	return startHookd(t, t.TempDir(), "--config", config), rulesDir
}

// dashConfig writes startDashHookd's configuration and returns its file
// and the directory of its rule files.
func dashConfig(t *testing.T, token, rules string) (config, rulesDir string) {
	t.Helper()
	config, rulesFile := rulesConfig(t, "admin:\n  token: "+token+"\n", "dash.yaml", rules)
	return config, filepath.Dir(rulesFile)
}

// TestDashboardRetryAll drives the Dead letters page after two outages of
// a mail relay, which leave a dead job and a suspended target per
// recipient: after the first, Retry all retries every dead letter and
// resumes every target, and each recipient gets its message once; after
// the second, Resume all lifts every suspension and leaves the dead
// letters dead.
func TestDashboardRetryAll(t *testing.T) {
	const token = "dash-admin-token-0123"
	var down atomic.Bool
	down.Store(true)
	relay := smtptest.Start(t, smtptest.Options{})
	relay.Reject = func(string) error {
		if down.Load() {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "relay down"}
		}
		return nil
	}
	rule := "rules:\n  - name: welcome\n    when: type == \"open\"\n    actions:\n      - email: { to: \"{{ .email }}\", subject: Welcome, text: Hello }\n        retry: none\n"
	config, rulesDir := dashConfig(t, token, rule)
	if err := os.WriteFile(config, fmt.Appendf(nil, "admin:\n  token: %s\nsources:\n  - name: mailjet\n    provider: mailjet\n"+
		"smtp: { host: 127.0.0.1, port: %d, tls: none, from: shop@example.com }\nrules:\n  - %s/*.yaml\n", token, relay.Port, rulesDir), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHookd(t, t.TempDir(), "--config", config)
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	outage := func(first int) {
		t.Helper()
		var events []string
		for i := range 3 {
			events = append(events, mailjetEvent("open", first+i, fmt.Sprintf("r%d@example.com", i), at, `"ip":"127.0.0.1","geo":"FR","agent":"test"`))
		}
		if a := postHook(t, p.hooks, "["+strings.Join(events, ",")+"]"); a.Accepted != 3 {
			t.Fatalf("posted 3 events, %d accepted", a.Accepted)
		}
		waitFor(t, p, "3 dead letters and 3 suspended targets", func() bool {
			var dead struct{ Jobs []struct{ ID int64 } }
			var ts struct{ Targets []struct{ Suspended bool } }
			adminGet(t, p, token, "/api/deadletters", &dead)
			adminGet(t, p, token, "/api/targets", &ts)
			n := 0
			for _, tg := range ts.Targets {
				if tg.Suspended {
					n++
				}
			}
			return len(dead.Jobs) == 3 && n == 3
		})
	}
	outage(1)

	ui := logIn(t, p, token)
	down.Store(false)
	ui.asked("/api/targets")
	ui.goTo("#/deadletters", "#dead-table")
	if n := ui.count("#dead-table tbody tr"); n != 3 {
		t.Errorf("%d dead letters shown, want 3", n)
	}
	if n := ui.count("#targets-table tbody tr"); n != 3 {
		t.Errorf("%d suspended targets shown, want 3", n)
	}
	// The page asks for the suspended targets only, a page at a time.
	if got := ui.asked("/api/targets"); !slices.Equal(got, []string{"limit=100&suspended=true"}) {
		t.Errorf("the page asked /api/targets%q, want the suspended ones, 100 at most", got)
	}
	ui.shot("deadletters-outage")
	asked := ui.answerDialogs()
	ui.do("retry all", chromedp.Click(chromedp.CSS("#retry-all")), chromedp.WaitVisible(chromedp.CSS("#no-dead")))
	ui.texts(map[string]string{"#dl-message": "Retried 3 dead letters; resumed 3 targets."})
	if n := ui.count("#no-suspended"); n != 1 {
		t.Errorf("after Retry all the page shows suspended targets")
	}
	ui.shot("deadletters-retried-all")
	waitFor(t, p, "the 3 jobs done", func() bool {
		var jobs struct{ Jobs []struct{ Status string } }
		adminGet(t, p, token, "/api/jobs?status=done", &jobs)
		return len(jobs.Jobs) == 3
	})
	var to []string
	for _, m := range relay.Messages() {
		to = append(to, m.To...)
	}
	slices.Sort(to)
	if fmt.Sprint(to) != "[r0@example.com r1@example.com r2@example.com]" {
		t.Errorf("the relay took messages to %v, want one to each recipient", to)
	}

	down.Store(true)
	outage(4)
	ui.goTo("#/overview", "#total-all") // the hash changes, so the page is drawn anew
	ui.goTo("#/deadletters", "#targets-table")
	ui.do("resume all", chromedp.Click(chromedp.CSS("#resume-all")), chromedp.WaitVisible(chromedp.CSS("#no-suspended")))
	ui.texts(map[string]string{"#dl-message": "Resumed 3 targets; their dead letters stay dead."})
	if got := asked.messages(); len(got) != 2 || !strings.HasPrefix(got[0], "Retry every dead letter") || !strings.HasPrefix(got[1], "Resume every suspended target") {
		t.Errorf("Retry all and Resume all asked %q, want each to be confirmed", got)
	}
	if n := ui.count("#dead-table tbody tr"); n != 3 {
		t.Errorf("%d dead letters shown after Resume all, want 3", n)
	}
	ui.shot("deadletters-resumed-all")
}

// TestDashboardLargeJobs shows, in headless chromium, the jobs of events
// so large that a page of /api/jobs or /api/deadletters holds only some of
// those asked for (store.PageBytes): the event's page, the rule's jobs and
// the dead letters still show every job, following next.
func TestDashboardLargeJobs(t *testing.T) {
	const token = "dash-admin-token-0123"
	// Five jobs per open, done; five per click, each to a target of its
	// own that refuses connections, so that each dies without suspending
	// the others' targets.
	rule := "rules:\n  - name: fan-out\n    when: type == \"open\"\n    actions:\n" +
		strings.Repeat("      - log: { message: \"open {{ .email }}\" }\n", 5) +
		"  - name: dead-click\n    when: type == \"click\"\n    actions:\n"
	for i := range 5 {
		rule += fmt.Sprintf("      - http: { url: \"http://127.0.0.1:1/%d\" }\n        retry: 1x10ms\n", i)
	}
	p, _ := startDashHookd(t, token, rule)

	// Each event is about 900 KiB, one per request (limits.max_body is a
	// MiB): the five jobs of one event pass a page.
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	pad := `"agent":"` + strings.Repeat("z", 900<<10) + `"`
	for i := range 2 {
		postHook(t, p.hooks, "["+mailjetEvent("open", i, fmt.Sprintf("o%d@example.com", i), at, pad)+"]")
	}
	postHook(t, p.hooks, "["+mailjetEvent("click", 10, "c@example.com", at, pad)+"]")
	type page struct {
		Jobs []struct{ ID int64 }
		Next string
	}
	var opens struct{ Events []struct{ ID string } }
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var jobs, dead page
		adminGet(t, p, token, "/api/events?type=open&limit=1", &opens)
		adminGet(t, p, token, "/api/jobs?rule=fan-out&status=done&limit=1000", &jobs)
		adminGet(t, p, token, "/api/deadletters?limit=1000", &dead)
		// The answers are cut short by size: the dashboard has pages
		// to follow.
		if len(opens.Events) == 1 && len(jobs.Jobs) == 4 && jobs.Next != "" && len(dead.Jobs) == 4 && dead.Next != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d fan-out jobs done (next %q) and %d dead (next %q) in the first page; want 4 of 10 and 4 of 5\n%s",
				len(jobs.Jobs), jobs.Next, len(dead.Jobs), dead.Next, p.output())
		}
	}

	ui := logIn(t, p, token)
	ui.goTo("#/event/"+opens.Events[0].ID, "#event-jobs")
	if n := ui.count("#event-jobs tbody tr"); n != 5 {
		t.Errorf("the open's page shows %d jobs, want 5", n)
	}
	ui.goTo("#/search-jobs/fan-out", "#rule-jobs")
	if n := ui.count("#rule-jobs tbody tr"); n != 10 {
		t.Errorf("the rule's page shows %d jobs, want 10", n)
	}
	ui.goTo("#/deadletters", "#dead-table")
	if n := ui.count("#dead-table tbody tr"); n != 5 {
		t.Errorf("the dead letters page shows %d jobs, want 5", n)
	}
	ui.shot("deadletters-large")
	p.stop(t)
}

// TestDashboardSuppressions shows a suppression list longer than a page
// in headless chromium: the first 100 addresses, then the rest through
// More, and Remove keeps the count. A reason of 3,000 characters without a
// space shows cut, whole in its tooltip, and the page stays as wide as the
// window.
func TestDashboardSuppressions(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token,
		"rules:\n  - name: suppress-opens\n    when: type == \"open\"\n    actions:\n      - suppress: { reason: \"opened\" }\n"+
			"  - name: suppress-bounces\n    when: type == \"bounce\"\n    actions:\n      - suppress: { reason: \"{{ .data.error }}\" }\n")
	const n = 150
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	opens := make([]string, n)
	for i := range opens {
		opens[i] = mailjetEvent("open", i, fmt.Sprintf("s%03d@example.com", i), at, "")
	}
	// Ordered before every s… address, the bounced one is on the first page.
	smtpError := strings.Repeat("550_5.1.1_mailbox_unavailable_", 100)
	opens = append(opens, mailjetEvent("bounce", n, "long@example.com", at, `"hard_bounce":true,"error":"`+smtpError+`"`))
	postHook(t, p.hooks, "["+strings.Join(opens, ",")+"]")
	var list struct{ Suppressions []struct{ Email string } }
	for deadline := time.Now().Add(60 * time.Second); len(list.Suppressions) < n+1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d addresses suppressed, want %d\n%s", len(list.Suppressions), n+1, p.output())
		}
		adminGet(t, p, token, "/api/suppressions?limit=1000", &list)
	}

	ui := logIn(t, p, token)
	ui.goTo("#/suppressions", "#suppressions-table")
	if got := ui.count("#suppressions-table tbody tr"); got != 100 {
		t.Errorf("the first page shows %d addresses, want 100", got)
	}
	ui.texts(map[string]string{"#supp-count": "100", "#suppressions-table tbody tr:last-child td:first-child": "s098@example.com"})
	const long = `tr[data-email="long@example.com"] td:nth-child(2)`
	if got := ui.text(long); len([]rune(got)) > 80 || !strings.HasSuffix(got, "…") {
		t.Errorf("the long reason shows as %d characters %q, want at most 80 ending in …", len([]rune(got)), got)
	}
	if got := eval[string](ui, `document.querySelector('`+long+`').title`); got != smtpError {
		t.Errorf("the long reason's tooltip is %q, want the whole reason", got)
	}
	ui.fitsWidth()
	if right := eval[float64](ui, `document.querySelector('tr[data-email="long@example.com"] button').getBoundingClientRect().right`); right > 1400 {
		t.Errorf("the long reason's Remove button ends %.0f px from the left, off a window 1400 px wide", right)
	}
	ui.do("show more",
		chromedp.Click(chromedp.CSS("#supp-more")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-email="s149@example.com"]`)),
		chromedp.WaitNotVisible(chromedp.CSS("#supp-more")),
	)
	if got := ui.count("#suppressions-table tbody tr"); got != n+1 {
		t.Errorf("after More, %d addresses shown, want %d", got, n+1)
	}
	// Cancel keeps the address; OK removes it.
	asked := ui.answerDialogs()
	asked.dismiss.Store(true)
	ui.do("cancel a removal", chromedp.Click(chromedp.CSS(`tr[data-email="s120@example.com"] button`)))
	if got := asked.wait(t, 1); len(got) != 1 || !strings.HasPrefix(got[0], "Remove s120@example.com from the suppression list?") {
		t.Fatalf("Remove asked %q, want to confirm the removal of s120@example.com", got)
	}
	adminGet(t, p, token, "/api/suppressions?limit=1000", &list)
	if len(list.Suppressions) != n+1 {
		t.Errorf("after a cancelled Remove, %d addresses suppressed, want %d", len(list.Suppressions), n+1)
	}
	ui.texts(map[string]string{"#supp-count": "151", "#supp-message": ""})
	asked.dismiss.Store(false)
	ui.do("remove one",
		chromedp.Click(chromedp.CSS(`tr[data-email="s120@example.com"] button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`tr[data-email="s120@example.com"]`)),
	)
	ui.texts(map[string]string{"#supp-count": "150", "#supp-message": "s120@example.com removed."})
	p.stop(t)
}

// logIn opens the dashboard in headless chromium and logs in with token
// through its form.
func logIn(t *testing.T, p *proc, token string) *ui {
	t.Helper()
	ui := &ui{t: t, ctx: browser(t, 2*time.Minute), shots: t.TempDir()}
	ui.logIn(p, token)
	return ui
}

// logIn logs in to the dashboard of p with token through its form.
func (u *ui) logIn(p *proc, token string) {
	u.t.Helper()
	u.do("log in",
		chromedp.Navigate(p.admin+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#total-all")),
	)
}

// TestDashboardSearchUTC searches a time window in headless chromium set to
// New York's time zone: the since and until inputs are UTC, as every time
// the page shows, so the window finds the event inside it and the export
// links ask for the same window.
func TestDashboardSearchUTC(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	hour := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	postHook(t, p.hooks, "["+mailjetEvent("sent", 1, "in@example.com", hour.Add(30*time.Minute), "")+","+
		mailjetEvent("sent", 2, "before@example.com", hour.Add(-30*time.Minute), "")+","+
		mailjetEvent("sent", 3, "after@example.com", hour.Add(90*time.Minute), "")+"]")
	waitEvents(t, p, token, 3)

	ui := logIn(t, p, token)
	ui.do("New York time",
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"})
			return err
		}),
		chromedp.Reload(),
	)
	if off := eval[int](ui, `new Date("2025-01-15T12:00:00Z").getTimezoneOffset()`); off != 300 {
		t.Fatalf("the browser's time zone is %d minutes behind UTC, want New York's 300", off)
	}
	ui.goTo("#/search", "#search-form")
	ui.texts(map[string]string{`label:has(#search-since)`: "since (UTC)", `label:has(#search-until)`: "until (UTC)"})
	const local = "2006-01-02T15:04"
	eval[any](ui, `document.querySelector("#search-form").dataset.old = "1"`)
	ui.do("search an hour",
		chromedp.SetValue(chromedp.CSS("#search-since"), hour.Format(local)),
		chromedp.SetValue(chromedp.CSS("#search-until"), hour.Add(time.Hour).Format(local)),
		chromedp.Click(chromedp.CSS("#search-go")),
	)
	ui.waitFor("the search's answer", `document.querySelector("#search-form:not([data-old])") !== null`)
	if got := eval[[]string](ui, `[...document.querySelectorAll("#search-rows tr td:nth-child(3)")].map(td => td.textContent)`); fmt.Sprint(got) != "[in@example.com]" {
		t.Errorf("the hour from %s finds %v, want in@example.com", hour.Format(time.RFC3339), got)
	}
	want := "since=" + url.QueryEscape(hour.Format("2006-01-02T15:04:05.000Z")) + "&until=" + url.QueryEscape(hour.Add(time.Hour).Format("2006-01-02T15:04:05.000Z"))
	for _, link := range []string{"#export-csv", "#export-ndjson"} {
		if href := eval[string](ui, `document.querySelector("`+link+`").getAttribute("href")`); !strings.Contains(href, want) {
			t.Errorf("%s links to %s, want the window %s", link, href, want)
		}
	}
	p.stop(t)
}

// TestDashboardLogin follows a link to a dashboard page without a session
// in headless chromium: the login form, then that page rather than the
// overview; Log out in the header ends the session.
func TestDashboardLogin(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	ui := &ui{t: t, ctx: browser(t, 2*time.Minute), shots: t.TempDir()}
	ui.do("log in from a link to the dead letters",
		chromedp.Navigate(p.admin+"/ui/#/deadletters"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#nav")),
	)
	ui.waitFor("a dashboard page", `document.querySelector("#main[data-page]") !== null`)
	if got := eval[string](ui, `location.pathname + location.hash + " " + document.querySelector("#main").dataset.page`); got != "/ui/#/deadletters deadletters" {
		t.Errorf("logging in lands on %s, want /ui/#/deadletters", got)
	}
	if ui.count("header #logout") != 1 {
		t.Fatal("the header has no Log out button")
	}
	ui.shot("logged-in")
	ui.do("log out",
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#token")),
	)
	if got := eval[string](ui, `location.pathname`); got != "/ui/login" {
		t.Errorf("logging out lands on %s, want /ui/login", got)
	}
	ui.do("the session is over",
		chromedp.Navigate(p.admin+"/ui/#/overview"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
	)
	p.stop(t)
}

// TestDashboardNarrow shows every page in a window 400 px wide in headless
// chromium: the header grows with its links rather than letting them spill
// over the page, and no page is wider than the window (wide tables scroll
// inside their cards).
func TestDashboardNarrow(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules:\n  - name: suppress-bounces\n    when: type == \"bounce\"\n    actions:\n      - suppress: { reason: \"{{ .data.error }}\" }\n"+
		"  - name: alert-bounce\n    when: type == \"bounce\"\n    actions:\n      - http: { url: \"http://127.0.0.1:1/a-rather-long-path/to-a-target-that-refuses\" }\n        retry: 1x10ms\n")
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	smtpError := strings.Repeat("550_5.1.1_mailbox_unavailable_", 20)
	postHook(t, p.hooks, "["+mailjetEvent("sent", 1, "a-rather-long-address-for-a-phone@a-long-domain-name.example.com", at, "")+","+
		mailjetEvent("bounce", 2, "a-rather-long-address-for-a-phone@a-long-domain-name.example.com", at, `"hard_bounce":true,"error":"`+smtpError+`"`)+"]")
	// A malformed body with a long word in it, for the quarantine.
	postMalformed(t, p, "mailjet", "application/json", `[{"event":"bounce","error":"`+smtpError)
	var events struct{ Events []struct{ ID string } }
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var (
			dead       struct{ Jobs []struct{ ID int64 } }
			quarantine struct{ Quarantine []struct{ ID string } }
		)
		adminGet(t, p, token, "/api/events?type=bounce", &events)
		adminGet(t, p, token, "/api/deadletters", &dead)
		adminGet(t, p, token, "/api/quarantine", &quarantine)
		if len(events.Events) == 1 && len(dead.Jobs) == 1 && len(quarantine.Quarantine) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bounces stored, %d dead letters and %d bodies quarantined, want 1 of each\n%s",
				len(events.Events), len(dead.Jobs), len(quarantine.Quarantine), p.output())
		}
	}

	ui := logIn(t, p, token)
	ui.do("narrow the window", chromedp.EmulateViewport(400, 800))
	for _, page := range []struct{ hash, ready string }{
		{"#/overview", "#total-all"},
		{"#/deliverability", "#deliv-table"},
		{"#/live", "#live-table"},
		{"#/search", "#search-results"},
		{"#/event/" + events.Events[0].ID, "#raw"},
		{"#/rules", "#rules-table"},
		{"#/deadletters", "#dead-table"},
		{"#/suppressions", "#suppressions-table"},
		{"#/quarantine", "#quarantine-table"},
	} {
		ui.goTo(page.hash, page.ready)
		ui.fitsWidth()
		if page.hash == "#/deliverability" {
			// The store counts errors by their first 120 characters.
			if got := ui.text("#errors-table td:nth-child(2)"); got != smtpError[:120]+"…" {
				t.Errorf("the long error shows as %q, want its first 120 characters and …", got)
			}
		}
		// The links stay inside the header, and the page starts below it.
		if got := eval[string](ui, `(() => {
			const h = document.querySelector("header").getBoundingClientRect(), m = document.querySelector("main").getBoundingClientRect();
			const out = [...document.querySelectorAll("header a, header button")].filter(a => { const r = a.getBoundingClientRect(); return r.top < h.top || r.bottom > h.bottom || r.right > h.right; });
			return out.map(a => a.textContent).join(", ") + (m.top < h.bottom ? " main under the header" : "");
		})()`); got != "" {
			t.Errorf("%s at 400 px: %s spill out of the header", page.hash, got)
		}
	}
	ui.shot("narrow-quarantine")
	p.stop(t)
}

// TestDashboardErrors stops hookd under an open dashboard in headless
// chromium: More and the page itself say that hookd did not answer, with
// Retry; the link to the page shown shows it again; once hookd is back,
// Retry and More work and their errors go. An error of the API shows its
// own message.
func TestDashboardErrors(t *testing.T) {
	const token = "dash-admin-token-0123"
	config, _ := dashConfig(t, token, "rules: []\n")
	data := t.TempDir()
	p := startHookd(t, data, "--config", config)
	admin := strings.TrimPrefix(p.admin, "http://")
	// The same data and the same admin address: the browser's session and
	// the search's cursor stay good.
	restart := func() {
		t.Helper()
		p = startHookd(t, data, "--config", config, "--admin-listen", admin)
	}
	const n = 150
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	sent := make([]string, n)
	for i := range sent {
		sent[i] = mailjetEvent("sent", i, fmt.Sprintf("s%03d@example.com", i), at, "")
	}
	postHook(t, p.hooks, "["+strings.Join(sent, ",")+"]")
	waitEvents(t, p, token, n)

	ui := logIn(t, p, token)
	const down = "hookd did not answer: is it running?"
	ui.goTo("#/search", "#search-more")
	p.stop(t)
	ui.do("More without hookd", chromedp.Click(chromedp.CSS("#search-more")))
	ui.waitFor("More's error", `document.querySelector("#search-more-error .error")?.textContent === "`+down+`"`)
	restart()
	ui.do("More again", chromedp.Click(chromedp.CSS("#search-more-error button.retry")))
	ui.waitFor("the second page", fmt.Sprintf(`document.querySelectorAll("#search-rows tr").length === %d`, n))
	if got := ui.count("#search-more-error > *"); got != 0 {
		t.Errorf("after a More that worked, %d errors stay next to it", got)
	}

	p.stop(t)
	ui.do("the page shown, without hookd", chromedp.Click(chromedp.CSS(`#nav a[data-page="search"]`)))
	ui.waitFor("the page's error", `document.querySelector("#page-error .error")?.textContent === "`+down+`"`)
	restart()
	ui.do("Retry", chromedp.Click(chromedp.CSS("#page-error button.retry")))
	ui.waitFor("the page again", `document.querySelectorAll("#search-rows tr").length === 100`)

	ui.goTo("#/search?since=yesterday", "#page-error")
	if got := ui.text("#page-error .error"); !strings.HasPrefix(got, `hookd answered 400: since: "yesterday" is not an RFC 3339 time`) {
		t.Errorf("a bad since shows %q, want the API's error", got)
	}
	p.stop(t)
}

// TestDashboardCharts reads the overview's chart axes in headless chromium:
// over 7 days the x axis names days, over 24 hours times; one event per
// bucket at most gives the y axis 0 and 1, each once; a window without
// events says so.
func TestDashboardCharts(t *testing.T) {
	const token = "dash-admin-token-0123"
	p, _ := startDashHookd(t, token, "rules: []\n")
	now := time.Now()
	postHook(t, p.hooks, "["+mailjetEvent("sent", 1, "a@example.com", now.Add(-50*time.Hour), "")+","+
		mailjetEvent("sent", 2, "b@example.com", now.Add(-3*time.Hour), "")+"]")
	waitEvents(t, p, token, 2)
	ui := logIn(t, p, token)
	ticks := func(axis string) []string {
		return eval[[]string](ui, `[...document.querySelectorAll("#overview-chart text.`+axis+`")].map(t => t.textContent)`)
	}
	pick := func(r string) {
		ui.do("range "+r,
			chromedp.Click(chromedp.CSS(`#ranges button[data-range="`+r+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#ranges button.active[data-range="`+r+`"]`)),
		)
	}

	pick("7d")
	days := ticks("x-tick")
	if len(days) < 6 || len(days) > 8 {
		t.Errorf("over 7 days the x axis shows %q, want a label a day", days)
	}
	for _, d := range days {
		if _, err := time.Parse("Jan 2", d); err != nil {
			t.Errorf("over 7 days the x axis shows %q, want days such as %q", days, now.UTC().Format("Jan 2"))
			break
		}
	}
	if got := ticks("y-tick"); fmt.Sprint(got) != "[0 1]" {
		t.Errorf("with one event an hour at most, the y axis shows %q, want [0 1]", got)
	}
	ui.shot("chart-7d")

	pick("24h")
	for _, x := range ticks("x-tick") {
		if _, err := time.Parse("15:04", x); err != nil {
			t.Errorf("over 24 hours the x axis shows %q, want times", ticks("x-tick"))
			break
		}
	}

	pick("1h")
	if got := ticks("empty"); fmt.Sprint(got) != "[no events in this window]" {
		t.Errorf("an empty window's chart says %q, want [no events in this window]", got)
	}
	p.stop(t)
}

// TestDashboardMoreJobs shows more jobs of a rule and more dead letters
// than a page holds in headless chromium: the first 100, and the rest
// through More.
func TestDashboardMoreJobs(t *testing.T) {
	const token = "dash-admin-token-0123"
	// One click makes n jobs, each to a target of its own that refuses
	// connections, so that each dies without suspending the others'
	// targets.
	const n = 110
	rule := "rules:\n  - name: dead-click\n    when: type == \"click\"\n    actions:\n"
	for i := range n {
		rule += fmt.Sprintf("      - http: { url: \"http://127.0.0.1:1/%d\" }\n        retry: none\n", i)
	}
	p, _ := startDashHookd(t, token, rule)
	postHook(t, p.hooks, "["+mailjetEvent("click", 1, "c@example.com", time.Now().Add(-10*time.Minute), `"url":"https://example.com/"`)+"]")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var dead struct{ Jobs []struct{ ID int64 } }
		adminGet(t, p, token, "/api/deadletters?limit=1000", &dead)
		if len(dead.Jobs) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters, want %d\n%s", len(dead.Jobs), n, p.output())
		}
	}

	ui := logIn(t, p, token)
	for _, page := range []struct{ hash, id string }{{"#/search-jobs/dead-click", "rule-jobs"}, {"#/deadletters", "dead"}} {
		ui.goTo(page.hash, "#"+page.id+"-more")
		rows := fmt.Sprintf("#%s-table tbody tr", page.id)
		if page.id == "rule-jobs" {
			rows = "#rule-jobs tbody tr"
		}
		if got := ui.count(rows); got != 100 {
			t.Errorf("%s shows %d jobs first, want 100", page.hash, got)
		}
		ui.texts(map[string]string{"#" + page.id + "-count": "100"})
		ui.do(page.hash+": More",
			chromedp.Click(chromedp.CSS("#"+page.id+"-more")),
			chromedp.WaitNotVisible(chromedp.CSS("#"+page.id+"-more")),
		)
		if got := ui.count(rows); got != n {
			t.Errorf("%s shows %d jobs after More, want %d", page.hash, got, n)
		}
		ui.texts(map[string]string{"#" + page.id + "-count": fmt.Sprint(n)})
	}
	p.stop(t)
}

// waitEvents waits, at most 30 s, until the store of p holds n events.
func waitEvents(t *testing.T, p *proc, token string, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var page struct{ Events []struct{ ID string } }
		adminGet(t, p, token, "/api/events?limit=1000", &page)
		if len(page.Events) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events stored, want %d\n%s", len(page.Events), n, p.output())
		}
	}
}
