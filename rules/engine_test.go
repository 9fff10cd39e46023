package rules_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/actions"
	_ "github.com/hookd/hookd/actions/email"
	_ "github.com/hookd/hookd/actions/http"
	_ "github.com/hookd/hookd/actions/log"
	_ "github.com/hookd/hookd/actions/suppress"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	_ "github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/rules"
	"github.com/hookd/hookd/store"
)

// pipe appends events to a new SQLite log, in order, projects it into a
// new SQLite store with the engine on set, reading inFlight messages at a
// time, and returns the store's jobs, oldest first, and the engine's
// metrics.
func pipe(t *testing.T, set *rules.Set, inFlight int, events ...event.Event) ([]actions.Job, *prometheus.Registry) {
	t.Helper()
	return pipeTo(t, store.Config{Dir: t.TempDir()}, set, inFlight, events...)
}

// pipeTo is pipe with the store that cfg configures.
func pipeTo(t *testing.T, cfg store.Config, set *rules.Set, inFlight int, events ...event.Event) ([]actions.Job, *prometheus.Registry) {
	t.Helper()
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	en, err := rules.NewEngine(func() *rules.Set { return set }, slog.New(slog.NewTextHandler(t.Output(), nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	log, err := eventlog.Open(ctx, eventlog.Config{Backend: "sqlite", Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	st, err := store.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs := make([]*message.Message, len(events))
	for i, e := range events {
		p, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = message.NewMessage(e.ID, p)
	}
	if _, err := log.Append(ctx, eventlog.TopicEvents, msgs); err != nil {
		t.Fatal(err)
	}
	sub, err := log.Subscriber("store", eventlog.InFlight(inFlight))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Run(runCtx, sub, en) }()
	waitFor(t, "every event projected", func() bool { return st.ProjectorStats().Events == uint64(len(events)) })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	page, err := st.Jobs(ctx, store.JobQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var jobs []actions.Job
	for _, j := range page.Jobs {
		jobs = append(jobs, j.Job)
	}
	slices.Reverse(jobs)
	return jobs, reg
}

// counter returns the value of the counter name with labels in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func keys(jobs []actions.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Key)
	}
	return out
}

// TestEngine runs the rules of testdata/engine on Mailjet events through
// the real log and store.
func TestEngine(t *testing.T) {
	set, err := rules.Load(context.Background(), []string{"testdata/engine/rules.yaml"}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	me, bob := "api@mailjet.com", "bob@example.com"
	sent := func(email string, msg json.Number, at int64) event.Event {
		return mj(t, "sent", map[string]any{"email": email, "MessageID": msg, "time": at})
	}
	open := func(email string, msg json.Number, at int64) event.Event {
		return mj(t, "open", map[string]any{"email": email, "MessageID": msg, "mj_campaign_id": 7257, "time": at})
	}
	blocked := func(email string, at int64) event.Event {
		return mj(t, "blocked", map[string]any{"email": email, "time": at})
	}
	firstOpen := open(me, messageID, sentAt+3600)
	surge, again := blocked("f@example.org", sentAt+180), blocked("r@example.org", sentAt+2*3600+180)
	log := []event.Event{
		sent(me, messageID, sentAt),
		sent(bob, "111", sentAt),
		firstOpen,                          // an hour after its send: fires
		open(me, messageID, sentAt+2*3600), // a second open: once already fired
		open(bob, "111", sentAt+25*3600),   // more than a day after its send
		sent("a@example.org", "1", sentAt),
		sent("b@example.org", "2", sentAt),
		sent("c@example.org", "3", sentAt),
		blocked("d@example.org", sentAt+60),  // 0 blocks before it of 3 sends
		blocked("e@example.org", sentAt+120), // 1
		surge,                                // 2 > 0.6*3: fires
		blocked("g@example.org", sentAt+240), // 3: within the cooldown
		sent("x@example.org", "4", sentAt+2*3600),
		sent("y@example.org", "5", sentAt+2*3600),
		sent("z@example.org", "6", sentAt+2*3600),
		blocked("p@example.org", sentAt+2*3600+60),
		blocked("q@example.org", sentAt+2*3600+120),
		again,               // two hours after the first surge: fires
		mj(t, "click", nil), // a rule whose template fails
		mj(t, "spam", nil),  // a rule whose action no package registered
	}

	jobs, reg := pipe(t, set, store.Batch, log...)
	once := "once:api@mailjet.com/7257"
	want := []string{
		"discount-for-early-openers/0/" + once,
		"discount-for-early-openers/1/" + once,
		"blocked-surge/0/" + surge.ID,
		"blocked-surge/0/" + again.ID,
	}
	if got := keys(jobs); !slices.Equal(got, want) {
		t.Fatalf("jobs %v\nwant %v", got, want)
	}

	logJob, httpJob := jobs[0], jobs[1]
	if logJob.Action != "log" || logJob.Target != "log" || string(logJob.Params) != `{"message":"discount for api@mailjet.com"}` ||
		logJob.Retry != actions.DefaultRetry || logJob.EventID != firstOpen.ID || logJob.Status != actions.Pending {
		t.Errorf("log job = %+v", logJob)
	}
	if httpJob.Action != "http" || httpJob.Index != 1 || httpJob.Target != "http POST https://shop.example.com/[redacted] (path c09f80da)" ||
		httpJob.Retry != "5x10s" || httpJob.Rule != "discount-for-early-openers" {
		t.Errorf("http job = %+v", httpJob)
	}
	if e, err := event.Unmarshal(httpJob.Event); err != nil || e.ID != firstOpen.ID || e.MessageID != string(messageID) || !e.Time.Equal(firstOpen.Time) {
		t.Errorf("job event = %+v, %v; want the open", e, err)
	}

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"hookd_rule_matches_total", []string{"rule", "discount-for-early-openers"}, 2},
		{"hookd_rule_skipped_total", []string{"rule", "discount-for-early-openers", "reason", "once"}, 1},
		{"hookd_rule_matches_total", []string{"rule", "blocked-surge"}, 3},
		{"hookd_rule_skipped_total", []string{"rule", "blocked-surge", "reason", "cooldown"}, 1},
		{"hookd_rule_errors_total", []string{"rule", "bad-template"}, 1},
		{"hookd_rule_errors_total", []string{"rule", "unknown-action"}, 1},
	} {
		if got := counter(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// The log projected one message at a time decides the same way.
	one, _ := pipe(t, set, 1, log...)
	if got := keys(one); !slices.Equal(got, want) {
		t.Errorf("one message at a time: jobs %v\nwant %v", got, want)
	}
}

// TestOnceWithCooldown checks that a rule with both once and cooldown
// fires at most once per cooldown per once key, not once ever: the same
// domain again within the hour is held, another domain fires, and the
// first domain fires again two hours later.
func TestOnceWithCooldown(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	rule := "rules:\n  - name: spam-alert\n    when: type == \"spam\"\n    once: domain\n    cooldown: 1h\n" +
		"    actions:\n      - log: { message: \"{{ .domain }}\" }\n"
	if err := os.WriteFile(file, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{file}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	spam := func(email string, at int64) event.Event {
		return mj(t, "spam", map[string]any{"email": email, "time": at})
	}
	log := []event.Event{
		spam("a@x.com", sentAt),          // fires
		spam("b@x.com", sentAt+1800),     // x.com within the hour: held
		spam("c@y.com", sentAt+1800),     // another domain: fires
		spam("d@x.com", sentAt+2*3600),   // x.com two hours later: fires
		spam("e@x.com", sentAt+2*3600+1), // held again
	}
	var want []string
	for _, i := range []int{0, 2, 3} {
		want = append(want, "spam-alert/0/"+log[i].ID)
	}
	jobs, reg := pipe(t, set, store.Batch, log...)
	if got := keys(jobs); !slices.Equal(got, want) {
		t.Errorf("jobs %v\nwant %v", got, want)
	}
	if n := counter(t, reg, "hookd_rule_skipped_total", "rule", "spam-alert", "reason", "cooldown"); n != 2 {
		t.Errorf("%v matches held by the cooldown, want 2", n)
	}
}

// TestLongOnceKey runs rules whose once key is a click's URL, one of
// several kilobytes (tracking parameters), on each store: the first click
// of the URL fires, the second is held, and every event after them is
// projected. PostgreSQL refuses an index entry beyond about 2.7 kB, which
// a once key held as it is made (rule_once's key, the job's key) passed:
// the projector's transaction failed on every delivery of the event, and
// no event after it was stored or evaluated.
func TestLongOnceKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	rule := `rules:
  - name: first-click
    when: type == "click"
    once: data.url
    actions:
      - log: { message: "first click" }
  - name: click-alert
    when: type == "click"
    once: data.url
    cooldown: 1h
    actions:
      - log: { message: "click" }
`
	if err := os.WriteFile(file, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{file}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := "https://shop.example.com/?t=" + incompressible(6000)
	click := func(email, url string, at int64) event.Event {
		return mj(t, "click", map[string]any{"email": email, "url": url, "time": at})
	}
	log := []event.Event{
		click("a@x.com", long, sentAt),                // fires both
		click("b@x.com", long, sentAt+60),             // held by once and by the cooldown
		click("c@x.com", "https://short", sentAt+120), // fires both
	}
	want := []string{"first-click", "click-alert", "first-click", "click-alert"}
	for _, tt := range stores {
		t.Run(tt.name, func(t *testing.T) {
			jobs, _ := pipeTo(t, tt.cfg(t), set, store.Batch, log...)
			var got []string
			for _, j := range jobs {
				got = append(got, j.Rule)
				if len(j.Key) > 1100 {
					t.Errorf("job key of %d bytes: %.80s...", len(j.Key), j.Key)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("jobs of rules %v, want %v", got, want)
			}
		})
	}
}

// stores are the stores a test of what PostgreSQL would refuse runs on.
var stores = []struct {
	name string
	cfg  func(t *testing.T) store.Config
}{
	{"sqlite", func(t *testing.T) store.Config { return store.Config{Dir: t.TempDir()} }},
	{"postgres", func(t *testing.T) store.Config {
		return store.Config{Driver: "postgres", DSN: testenv.PostgresSchema(t)}
	}},
}

// incompressible returns at least n bytes of URL-safe text that does not
// compress, as PostgreSQL compresses an index entry before it measures
// it.
func incompressible(n int) string {
	var b strings.Builder
	for sum := sha256.Sum256([]byte("seed")); b.Len() < n; sum = sha256.Sum256(sum[:]) {
		b.WriteString(base64.RawURLEncoding.EncodeToString(sum[:]))
	}
	return b.String()
}

// TestLongTarget runs a rule that mails an address taken from the event's
// data, one of several kilobytes, on each store: the job is made, with
// its target held as a hash, and the event after it is projected.
// PostgreSQL refuses an index entry beyond about 2.7 kB, which the target
// as it was made (targets' and jobs' indexes) passed: the projector's
// transaction failed on every delivery of the event.
func TestLongTarget(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	rule := `rules:
  - name: notify
    when: type == "click"
    actions:
      - email: { to: "{{ .data.notify }}", subject: "clicked", text: "clicked" }
`
	if err := os.WriteFile(file, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{file}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	click := func(notify string, at int64) event.Event {
		return mj(t, "click", map[string]any{"email": "a@x.com", "url": "https://x.com", "notify": notify, "time": at})
	}
	for _, tt := range stores {
		t.Run(tt.name, func(t *testing.T) {
			jobs, _ := pipeTo(t, tt.cfg(t), set, store.Batch, click(incompressible(3000)+"@x.com", sentAt), click("ops@x.com", sentAt+60))
			var got []string
			for _, j := range jobs {
				got = append(got, j.Target)
			}
			if len(got) != 2 || !strings.HasPrefix(got[0], "sha256:") || got[1] != "email ops@x.com" {
				t.Errorf("job targets %.100q, want sha256:... and email ops@x.com", got)
			}
		})
	}
}

// TestCheckedParams checks that a rule whose rendered parameters its
// action would refuse on every attempt fails on that event, making no job
// (which would die at once and suspend a target other events share), while
// the same rule makes its jobs for the other events.
func TestCheckedParams(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	rule := `rules:
  - name: alert
    when: type == "bounce"
    actions:
      - http: { url: "http://127.0.0.1:1/alert", body: '{"text":"{{ .data.comment }}"}' }
  - name: suppress-bounced
    when: type == "bounce"
    actions:
      - suppress: { reason: "bounced" }
`
	if err := os.WriteFile(file, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{file}, rules.Options{Check: actions.CheckerOf})
	if err != nil {
		t.Fatal(err)
	}
	bounce := func(email, comment string) event.Event {
		return mj(t, "bounce", map[string]any{"email": email, "comment": comment})
	}
	log := []event.Event{
		bounce("a@x.com", `he said "stop"`), // alert: the body is not JSON
		bounce("b c@x.com", "fine"),         // suppress: not an address
		bounce("d@x.com", "fine"),
	}
	want := []string{"suppress-bounced/0/" + log[0].ID, "alert/0/" + log[1].ID, "alert/0/" + log[2].ID, "suppress-bounced/0/" + log[2].ID}
	jobs, reg := pipe(t, set, store.Batch, log...)
	if got := keys(jobs); !slices.Equal(got, want) {
		t.Errorf("jobs %v\nwant %v", got, want)
	}
	for _, r := range []string{"alert", "suppress-bounced"} {
		if n := counter(t, reg, "hookd_rule_errors_total", "rule", r); n != 1 {
			t.Errorf("rule %s failed on %v events, want 1", r, n)
		}
	}
}

// TestEngineNoRules checks that an engine with no rules, or an empty set,
// enqueues nothing.
func TestEngineNoRules(t *testing.T) {
	empty, err := rules.Load(context.Background(), nil, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := mj(t, "open", nil)
	for _, set := range []*rules.Set{nil, empty} {
		if jobs, _ := pipe(t, set, store.Batch, e); len(jobs) != 0 {
			t.Errorf("jobs %v, want none", keys(jobs))
		}
	}
}

// memLedger is once and cooldown in memory, for Decide.
type memLedger struct {
	once  map[[2]string]string
	fired map[[2]string][]time.Time
}

func (l *memLedger) Once(_ context.Context, rule, key, eventID string) (bool, error) {
	k := [2]string{rule, key}
	if by, ok := l.once[k]; ok {
		return by == eventID, nil
	}
	l.once[k] = eventID
	return true, nil
}

func (l *memLedger) Cooldown(_ context.Context, rule, key string, at time.Time, window time.Duration, _ string) (bool, error) {
	k := [2]string{rule, key}
	for _, t := range l.fired[k] {
		if d := at.Sub(t); d > -window && d < window {
			return false, nil
		}
	}
	l.fired[k] = append(l.fired[k], at)
	return true, nil
}

// TestFailuresLogged runs clicks through a rule whose template fails on
// every click: its first failure is logged at once, the others of the
// same minute only counted, and the next line, a minute later, says how
// many it stands for; hookd_rule_errors_total counts each.
func TestFailuresLogged(t *testing.T) {
	set, err := rules.Load(context.Background(), []string{"testdata/engine/rules.yaml"}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	en, err := rules.NewEngine(func() *rules.Set { return set }, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	rules.SetFailureClock(en, func() time.Time { return now })
	ledger := &memLedger{once: map[[2]string]string{}, fired: map[[2]string][]time.Time{}}
	click := func(i int) {
		t.Helper()
		e := mj(t, "click", map[string]any{"time": sentAt + i})
		if _, err := en.Decide(context.Background(), set, memLog{e}, ledger, e, rules.DecideOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	lines := func() []string {
		var got []string
		for l := range strings.Lines(logs.String()) {
			if strings.Contains(l, "rule failed on an event") {
				got = append(got, l)
			}
		}
		return got
	}
	for i := range 5 {
		click(i)
		now = now.Add(10 * time.Second)
	}
	if got := lines(); len(got) != 1 || strings.Contains(got[0], "failures=") {
		t.Fatalf("after 5 failures in 50 s, logged %q; want one line, of the first", got)
	}
	now = now.Add(10 * time.Second)
	click(5)
	if got := lines(); len(got) != 2 || !strings.Contains(got[1], "failures=5 since=2026-11-29T12:00:00Z") {
		t.Fatalf("a minute after the first line, logged %q; want a second line of failures=5 since=2026-11-29T12:00:00Z", got)
	}
	if n := counter(t, reg, "hookd_rule_errors_total", "rule", "bad-template"); n != 6 {
		t.Errorf("hookd_rule_errors_total{rule=bad-template} = %v, want 6", n)
	}
}

// TestDecideNoOutcomes checks that a decision without outcomes has the
// same jobs and rules fired as one with them.
func TestDecideNoOutcomes(t *testing.T) {
	set, err := rules.Load(context.Background(), []string{"testdata/engine/rules.yaml"}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	en, err := rules.NewEngine(func() *rules.Set { return set }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	me := "api@mailjet.com"
	log := memLog{
		mj(t, "sent", map[string]any{"email": me, "MessageID": messageID, "time": sentAt}),
		mj(t, "open", map[string]any{"email": me, "MessageID": messageID, "mj_campaign_id": 7257, "time": sentAt + 3600}),
		mj(t, "open", map[string]any{"email": me, "MessageID": messageID, "mj_campaign_id": 7257, "time": sentAt + 7200}),
		mj(t, "click", nil),
	}
	ledgers := [2]*memLedger{}
	for i := range ledgers {
		ledgers[i] = &memLedger{once: map[[2]string]string{}, fired: map[[2]string][]time.Time{}}
	}
	var fired, outcomes int
	for _, e := range log {
		with, err := en.Decide(context.Background(), set, log, ledgers[0], e, rules.DecideOptions{})
		if err != nil {
			t.Fatal(err)
		}
		without, err := en.Decide(context.Background(), set, log, ledgers[1], e, rules.DecideOptions{NoOutcomes: true})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keys(with.Jobs), keys(without.Jobs)) || !slices.Equal(with.Fired, without.Fired) || len(without.Outcomes) != 0 {
			t.Errorf("event %s: jobs %v, fired %d, with outcomes; jobs %v, fired %d, %d outcomes without",
				e.ID, keys(with.Jobs), len(with.Fired), keys(without.Jobs), len(without.Fired), len(without.Outcomes))
		}
		fired += len(with.Fired)
		outcomes += len(with.Outcomes)
	}
	if fired == 0 || outcomes <= fired {
		t.Errorf("%d rules fired, %d outcomes: the events do not exercise Decide", fired, outcomes)
	}
}
