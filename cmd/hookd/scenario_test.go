package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/listener/mailjet"
	"github.com/hookd/hookd/rules"
	"github.com/hookd/hookd/store"
)

// scenarios are the folders of testdata/scenarios: a hookd.yaml, its
// rules.yaml and events.json, a Mailjet webhook body.
var scenarios = []string{"discount-on-open", "list-cleanup", "blocked-surge"}

// scenarioEvents decodes a scenario's events as the listener would.
func scenarioEvents(t testing.TB, file string) []event.Event {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	events, err := mailjet.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		events[i].Source = "mailjet"
		events[i].Received = events[i].Time.Add(time.Second)
	}
	return events
}

// appendEvents appends events to the SQLite log in data, as the listener
// does, in one transaction.
func appendEvents(t testing.TB, data string, events []event.Event) {
	t.Helper()
	log := openDataLog(t, data)
	defer log.Close()
	appendToLog(t, log, events)
}

// appendToLog appends events to log, as the listener does, in one Append.
func appendToLog(t testing.TB, log eventlog.Log, events []event.Event) {
	t.Helper()
	msgs := make([]*message.Message, len(events))
	for i := range events {
		p, err := events[i].Marshal()
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = message.NewMessage(events[i].ID, p)
		msgs[i].Metadata.Set(eventlog.DedupKey, events[i].ID)
	}
	if _, err := log.Append(context.Background(), eventlog.TopicEvents, msgs); err != nil {
		t.Fatal(err)
	}
}

// projectLog runs the store's projector with the rules of the
// configuration cfgFile on the log in data, as hookd serve does, until the
// store holds want events.
func projectLog(t testing.TB, cfgFile, data string, want int64) {
	t.Helper()
	ctx := context.Background()
	cfg, err := (&config.Flags{File: cfgFile, Data: data}).Load(knownNames())
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(ctx, cfg.Rules, ruleOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	log := openDataLog(t, data)
	defer log.Close()
	st := openDataStore(t, data)
	defer st.Close()
	project(t, log, st, set, want)
}

// project runs the store's projector with the rules of set, none when
// nil, on log, as hookd serve does, until st holds want events and the
// projector has acked every message of log.
func project(t testing.TB, log eventlog.Log, st *store.Store, set *rules.Set, want int64) {
	t.Helper()
	ctx := context.Background()
	var en store.Evaluator
	if set != nil {
		e, err := rules.NewEngine(func() *rules.Set { return set }, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		en = e
	}
	sub, err := log.Subscriber(store.Group, eventlog.InFlight(store.Batch))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Run(runCtx, sub, en) }()
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := st.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Every message of both topics acked, the quarantined ones too.
		caughtUp := true
		lags, err := log.(eventlog.Lagger).Lag(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lags {
			if l.Group == "store" && l.Messages > 0 {
				caughtUp = false
			}
		}
		if n >= want && caughtUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the projector stored %d events in a minute, want %d (lag %+v)", n, want, lags)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// runScenario appends a scenario's events to a new log, projects them with
// its rules and returns the data directory and the events.
func runScenario(t testing.TB, name string) (data, cfgFile string, events []event.Event) {
	t.Helper()
	dir := filepath.Join("testdata", "scenarios", name)
	data = filepath.Join(t.TempDir(), "data")
	cfgFile = filepath.Join(dir, "hookd.yaml")
	events = scenarioEvents(t, filepath.Join(dir, "events.json"))
	appendEvents(t, data, events)
	projectLog(t, cfgFile, data, int64(len(events)))
	return data, cfgFile, events
}

func TestExplainScenarios(t *testing.T) {
	for _, name := range scenarios {
		t.Run(name, func(t *testing.T) {
			data, _, events := runScenario(t, name)
			var b strings.Builder
			for _, e := range events {
				out, stderr, err := runHookd(t, "explain", "--data", data, e.ID)
				if err != nil || stderr != "" {
					t.Fatalf("explain %s: %v %s", e.ID, err, stderr)
				}
				b.WriteString(out)
			}
			out, _, err := runHookd(t, "explain", "--data", data, "--json", events[len(events)-1].ID)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString(out)
			goldenText(t, filepath.Join("testdata", "scenarios", name, "explain.golden"), b.String())
		})
	}
}

func TestExplainErrors(t *testing.T) {
	data, _ := seedStore(t)
	if _, _, err := runHookd(t, "explain", "--data", data, "nope"); err == nil || !strings.Contains(err.Error(), `event "nope" is not in the store`) {
		t.Errorf("explain of a missing event: %v", err)
	}
	out, _, err := runHookd(t, "explain", "--data", data, "mailjet:00")
	if err != nil || !strings.Contains(out, "not evaluated by the rules when it arrived") {
		t.Errorf("explain of an event stored without rules = %q, %v", out, err)
	}
}

// TestExplainFailedRule checks that explain prints the error of a rule
// that failed on the event, whose caret snippet takes lines of its own,
// indented under the rule, as hookd test prints it.
func TestExplainFailedRule(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"hookd.yaml":  "sources: [ { name: mailjet, provider: mailjet } ]\nrules: [ rules.yaml ]\n",
		"rules.yaml":  "rules:\n  - name: many\n    when: type == \"open\" && data.n > 3\n    actions: [ { log: {} } ]\n",
		"events.json": `{"event":"open","time":1740830400,"MessageID":1,"email":"ann@a.com"}`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	events := scenarioEvents(t, filepath.Join(dir, "events.json"))
	appendEvents(t, data, events)
	projectLog(t, filepath.Join(dir, "hookd.yaml"), data, 1)
	out, _, err := runHookd(t, "explain", "--data", data, events[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := "event " + events[0].ID + ": open ann@a.com at 2025-03-01T12:00:00Z\n" +
		"  error  many: " + filepath.Join(dir, "rules.yaml") + ":3:36: rule \"many\": when: invalid operation: <nil> > int\n" +
		"          | type == \"open\" && data.n > 3\n" +
		"          | .........................^\n"
	if out != want {
		t.Errorf("explain prints\n%s\nwant\n%s", out, want)
	}
}

// openDataLog opens the SQLite event log in data, failing the test if it
// cannot; the caller closes it.
func openDataLog(t testing.TB, data string) eventlog.Log {
	t.Helper()
	log, err := eventlog.Open(context.Background(), eventlog.Config{Backend: "sqlite", Dir: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// openDataStore opens the SQLite store of the data directory data for
// writing; the caller closes it.
func openDataStore(t testing.TB, data string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Dir: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
