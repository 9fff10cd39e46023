package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/internal/smtptest"
	"github.com/hookd/hookd/store"
)

// hits counts the requests an http action makes, by event id (the body).
type hits struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *hits) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.n[string(body)]++
	h.mu.Unlock()
}

func (h *hits) counts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for k, v := range h.n {
		out[k] = v
	}
	return out
}

// surgeRules is a rule that posts the id of each blocked event after at
// least min blocked events of its domain within 15 minutes.
func surgeRules(url string, min int) string {
	return fmt.Sprintf(`rules:
  - name: surge
    when: type == "blocked" && count("blocked", "domain", "15m") >= %d
    actions:
      - http: { url: %q, body: "{{ .id }}", content_type: text/plain }
`, min, url)
}

// runJobs runs the action runner on the store in data until no job is
// pending or running.
func runJobs(t *testing.T, data string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openDataStore(t, data)
	defer st.Close()
	r, err := actions.NewRunner(st, actions.RunnerConfig{Owner: "test", Poll: 20 * time.Millisecond}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		busy := 0
		for _, status := range []string{actions.Pending, actions.Running} {
			page, err := st.Jobs(ctx, store.JobQuery{Status: status})
			if err != nil {
				t.Fatal(err)
			}
			busy += len(page.Jobs)
		}
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still pending after 30s", busy)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestReplay(t *testing.T) {
	h := &hits{n: map[string]int{}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "hookd.yaml")
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(cfgFile, []byte("sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - rules.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	setRules := func(min int) {
		if err := os.WriteFile(rulesFile, []byte(surgeRules(srv.URL, min)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setRules(4)
	data := filepath.Join(dir, "data")
	events := scenarioEvents(t, filepath.Join("testdata", "scenarios", "blocked-surge", "events.json"))
	appendEvents(t, data, events)
	projectLog(t, cfgFile, data, int64(len(events)))
	runJobs(t, data)
	// Blocked events 5 and 6 of x.com see 4 and 5 blocked before them.
	want := map[string]int{events[9].ID: 1, events[10].ID: 1}
	check := func(when string) {
		t.Helper()
		if got := h.counts(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: requests by event = %v, want %v", when, got, want)
		}
	}
	check("live")

	replay := func(args ...string) string {
		t.Helper()
		out, stderr, err := runHookd(t, append([]string{"replay", "--config", cfgFile, "--data", data}, args...)...)
		if err != nil || stderr != "" {
			t.Fatalf("replay %v: %v %s", args, err, stderr)
		}
		return out
	}
	// Times as hookd events takes them: the events are from 2025-03-01,
	// more than a day and less than 20000 days ago.
	for _, args := range [][]string{
		{"--since", "2025-01-01"},
		{"--since", "2025-01-01"},
		{"--since", "20000d"},
		{"--since", "20000d", "--until", "24h"},
	} {
		if out := replay(args...); out != "replayed 13 events: queued 0 jobs\n" {
			t.Errorf("replay %q with the live rules: %q", args, out)
		}
	}
	if out := replay("--since", "24h"); out != "replayed 0 events: queued 0 jobs\n" {
		t.Errorf("replay of the last day: %q", out)
	}
	runJobs(t, data)
	check("after replaying twice")

	// A lower threshold: blocked events 3 and 4 fire as well, only them.
	setRules(2)
	out := replay("--since", "2025-03-01T10:01:00Z", "--until", "2025-03-01T10:02:00Z", "--dry-run")
	if !strings.HasPrefix(out, "replayed 7 events: would queue 2 jobs\n") ||
		!strings.Contains(out, "surge/0/"+events[7].ID) || !strings.Contains(out, "surge/0/"+events[8].ID) {
		t.Errorf("dry run:\n%s", out)
	}
	runJobs(t, data)
	check("after a dry run")
	if out := replay("--since", "2025-03-01", "--rule", "surge"); !strings.HasPrefix(out, "replayed 13 events: queued 2 jobs\n") {
		t.Errorf("replay after the fix:\n%s", out)
	}
	if out := replay("--since", "2025-03-01"); out != "replayed 13 events: queued 0 jobs\n" {
		t.Errorf("second replay after the fix:\n%s", out)
	}
	runJobs(t, data)
	want[events[7].ID], want[events[8].ID] = 1, 1
	check("after the fix")

	// An action inserted before the http one moves it to index 1, where
	// its key is new: the replay must not post again, and the new action's
	// key at index 0 is the http job's.
	moved := strings.Replace(surgeRules(srv.URL, 2), "    actions:\n", "    actions:\n      - log: { message: \"surge {{ .domain }}\" }\n", 1)
	if err := os.WriteFile(rulesFile, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	out = replay("--since", "2025-03-01")
	for _, want := range []string{
		"replayed 13 events: queued 0 jobs\n",
		"not queued, 4 jobs: the same action already has a job for the event under another key (its position in the rule's actions, or the rule's once, changed since)\n",
		"  surge/1/" + events[7].ID + "  http ",
		"not queued, 4 jobs: the key belongs to a job of another action or target (the rule's actions moved or changed since)\n",
		"  surge/0/" + events[10].ID + "  log",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("replay after inserting an action: want %q in\n%s", want, out)
		}
	}
	runJobs(t, data)
	check("after inserting an action")

	// The rule gains a once: its jobs' keys hold the once key instead of
	// the event id, and the replay must not post again.
	once := strings.Replace(surgeRules(srv.URL, 2), "    actions:\n", "    once: domain\n    actions:\n", 1)
	if err := os.WriteFile(rulesFile, []byte(once), 0o600); err != nil {
		t.Fatal(err)
	}
	out = replay("--since", "2025-03-01")
	if !strings.HasPrefix(out, "replayed 13 events: queued 0 jobs\nnot queued, 1 job: the same action already has a job for the event under another key") {
		t.Errorf("replay after adding once:\n%s", out)
	}
	runJobs(t, data)
	check("after adding once")

	// A renamed rule is a new rule: its once keys and its jobs' keys hold
	// its name, so a replay would post again for the firings of the old
	// name (the README says so where it describes once).
	renamed := strings.Replace(once, "name: surge", "name: surge-renamed", 1)
	if err := os.WriteFile(rulesFile, []byte(renamed), 0o600); err != nil {
		t.Fatal(err)
	}
	out = replay("--since", "2025-03-01", "--dry-run")
	if !strings.HasPrefix(out, "replayed 13 events: would queue 1 job\n  surge-renamed/0/once:x.com  http ") {
		t.Errorf("dry run after renaming the rule:\n%s", out)
	}
	if err := os.WriteFile(rulesFile, []byte(once), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no since", nil, "--since TIME is required"},
		{"unknown rule", []string{"--since", "2025-03-01", "--rule", "nope"}, `no rule named "nope"`},
		{"until before since", []string{"--since", "2025-03-02", "--until", "2025-03-01"}, "--until must be after --since"},
		{"until before since, relative", []string{"--since", "1h", "--until", "2h"}, "--until must be after --since"},
		{"bad since", []string{"--since", "yesterday"}, `replay: --since "yesterday" is not an RFC 3339 time such as 2025-03-01T12:00:00Z, a date such as 2025-03-01 (its midnight UTC) or a duration ago such as 24h`},
		{"zero since", []string{"--since", "0d"}, `replay: --since "0d" is a duration of zero`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runHookd(t, append([]string{"replay", "--config", cfgFile, "--data", data}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestReplayOnceEmail replays examples/discount-on-open after its emails
// went out, its text template was edited and a log action was inserted
// before the email: the email's job has a new key (index 1) and new
// parameters, but the same rule, action and recipient for the same event,
// so the replay queues nothing and no second discount is sent.
func TestReplayOnceEmail(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := exampleDir(t, "discount-on-open", map[string]string{"port: 1025": "port: " + strconv.Itoa(srv.Port)})
	cfgFile := filepath.Join(dir, "hookd.yaml")
	data := t.TempDir()
	p := startHookd(t, data, "--config", cfgFile)
	hook := p.hooks + "/hooks/mailjet"
	hookdSend(t, "--concurrency", "1", "--file", filepath.Join(dir, "events", "sent.json"), hook)
	hookdSend(t, "--group", "--file", filepath.Join(dir, "events", "opens.json"), hook)
	wantJobs := "discount-for-early-openers email email ann@example.com done \n" +
		"discount-for-early-openers email email cat@example.org done \n"
	if got := jobSummary(settle(t, p, 8)); got != wantJobs {
		t.Fatalf("jobs:\n%s\nwant\n%s", got, wantJobs)
	}
	p.stop(t)

	text := filepath.Join(dir, "templates", "discount.txt")
	if err := os.WriteFile(text, []byte(readFile(t, text)+"\nP.S. Free shipping too.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(dir, "rules.yaml")
	edited := strings.Replace(readFile(t, rulesFile), "    actions:\n",
		"    actions:\n      - log: { message: \"discount for {{ .email }}\" }\n", 1)
	if err := os.WriteFile(rulesFile, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runHookd(t, "replay", "--config", cfgFile, "--data", data, "--since", "2025-11-01", "--rule", "discount-for-early-openers")
	if err != nil || stderr != "" {
		t.Fatalf("replay: %v %s", err, stderr)
	}
	for _, want := range []string{
		"replayed 8 events: queued 0 jobs\n",
		"not queued, 2 jobs: the same action already has a job for the event",
		"  discount-for-early-openers/1/once:ann@example.com/november-news  email (\"email ann@example.com\")  event ",
		"not queued, 2 jobs: the key belongs to a job of another action or target",
		"  discount-for-early-openers/0/once:cat@example.org/november-news  log  event ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("replay: want %q in\n%s", want, out)
		}
	}

	p = startHookd(t, data, "--config", cfgFile)
	if got := jobSummary(settle(t, p, 8)); got != wantJobs {
		t.Errorf("jobs after the replay:\n%s\nwant\n%s", got, wantJobs)
	}
	p.stop(t)
	if msgs := srv.Messages(); len(msgs) != 2 {
		t.Errorf("%d emails after the replay, want 2", len(msgs))
	}
}

// TestReplayFailedRule checks that replay says which rules failed on the
// events it evaluated, on how many, and the first error, where it said
// only that it queued nothing: a rule that is still broken after a fix
// makes no job, as in serve.
func TestReplayFailedRule(t *testing.T) {
	dir, data, cfg, events := failingRuleData(t)
	for _, dry := range []bool{true, false} {
		args := []string{"replay", "--config", cfg, "--data", data, "--since", "2025-03-01"}
		if dry {
			args = append(args, "--dry-run")
		}
		out, stderr, err := runHookd(t, args...)
		if err != nil {
			t.Fatalf("replay: %v %s", err, stderr)
		}
		rules := filepath.Join(dir, "rules.yaml")
		want := []string{
			"rule many failed on 2 events, which it made no job for; the first, event " + events[0].ID + ": " +
				rules + ":3:36: rule \"many\": when: invalid operation: <nil> > int\n   | type == \"open\" && data.n > 3\n",
			"rule opens failed on 1 event, which it made no job for; the first, event " + events[1].ID + ": " +
				rules + ":7:43: rule \"opens\": actions[0].log.message: <.data.agent>: map has no entry for key \"agent\"\n",
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("replay (dry run %v) prints\n%s\nwant it to hold\n%s", dry, out, w)
			}
		}
	}
}

// failingRuleData stores three opens, evaluated as serve evaluates them,
// with a rule that fails on two of them (many) and one that fails on one
// (opens), and returns the folder of the configuration, the data
// directory, the configuration file and the events.
func failingRuleData(t *testing.T) (dir, data, cfg string, events []event.Event) {
	t.Helper()
	dir = t.TempDir()
	files := map[string]string{
		"hookd.yaml": "sources: [ { name: mailjet, provider: mailjet } ]\nrules: [ rules.yaml ]\n",
		"rules.yaml": "rules:\n  - name: many\n    when: type == \"open\" && data.n > 3\n    actions: [ { log: {} } ]\n" +
			"  - name: opens\n    when: type == \"open\"\n    actions: [ { log: { message: \"{{ .data.agent }}\" } } ]\n",
		"events.json": `[{"event":"open","time":1740830400,"MessageID":1,"email":"ann@a.com","agent":"A"},
			{"event":"open","time":1740830401,"MessageID":1,"email":"ann@a.com","n":5},
			{"event":"open","time":1740830402,"MessageID":1,"email":"ann@a.com","n":"x","agent":"B"}]`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data = filepath.Join(dir, "data")
	events = scenarioEvents(t, filepath.Join(dir, "events.json"))
	appendEvents(t, data, events)
	cfg = filepath.Join(dir, "hookd.yaml")
	projectLog(t, cfg, data, int64(len(events)))
	return dir, data, cfg, events
}
