package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

func TestTestCommand(t *testing.T) {
	dir := filepath.Join("testdata", "test")
	config := filepath.Join(dir, "hookd.yaml")
	tests := []struct {
		name string
		args []string
	}{
		// A hard bounce matches one rule; the others say why not.
		{"bounce", []string{"--event", filepath.Join(dir, "bounce.json")}},
		// last() sees the send only from an open after it in both the
		// file and time; the second send is held by once.
		{"sequence", []string{"--event", filepath.Join(dir, "sequence.json")}},
		{"sequence_json", []string{"--event", filepath.Join(dir, "sequence.json"), "--json"}},
		// At one time, every open after the send in the file sees it, and
		// the second is held by cooldown.
		{"at", []string{"--event", filepath.Join(dir, "sequence.json"), "--at", "2025-03-01T12:00:00+01:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHookd(t, append([]string{"test", "--config", config}, tt.args...)...)
			if err != nil {
				t.Fatalf("err = %v; stderr %s", err, stderr)
			}
			goldenText(t, filepath.Join(dir, tt.name+".golden"), stdout)
		})
	}
}

// TestTestOnceCooldown tests that test applies once and cooldown as serve
// does: with a cooldown, a rule fires at most once per cooldown per once
// key (not once ever), in event time before or after the event, whatever
// order the events come in. The events of each case are then stored by the
// store's projector with the same rules, as serve stores them, and test
// must show every rule's outcome on every event as serve explains it; so
// must it for the events of each scenario.
func TestTestOnceCooldown(t *testing.T) {
	dir := filepath.Join("testdata", "test")
	type testCase struct {
		name, config, events string
		// want is each rule's outcome on each event, in order.
		want map[string][]string
	}
	tests := []testCase{
		// Blocks of x.com at T, T+30m, T+1h, T+1h1s and T+2h1m.
		{"once with cooldown", filepath.Join(dir, "once.yaml"), filepath.Join(dir, "once-cooldown.json"), map[string][]string{
			"alert-per-domain": {"match", "held", "match", "held", "match"},
			"alert":            {"match", "held", "match", "held", "match"},
			"first-block":      {"match", "held", "held", "held", "held"},
		}},
		// Blocks of x.com at T, then at T-2h.
		{"cooldown out of order", filepath.Join(dir, "once.yaml"), filepath.Join(dir, "cooldown-order.json"), map[string][]string{
			"alert-per-domain": {"match", "match"},
			"alert":            {"match", "match"},
			"first-block":      {"match", "held"},
		}},
		// Blocks of x.com at T, its retry, T+2h and its retry: each retry
		// is a duplicate, on which serve runs no rule.
		{"duplicates", filepath.Join(dir, "once.yaml"), filepath.Join(dir, "duplicates.json"), map[string][]string{
			"alert-per-domain": {"match", "match"},
			"alert":            {"match", "match"},
			"first-block":      {"match", "held"},
		}},
		{"sequence", filepath.Join(dir, "hookd.yaml"), filepath.Join(dir, "sequence.json"), nil},
	}
	for _, name := range scenarios {
		d := filepath.Join("testdata", "scenarios", name)
		tests = append(tests, testCase{name, filepath.Join(d, "hookd.yaml"), filepath.Join(d, "events.json"), nil})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHookd(t, "test", "--config", tt.config, "--event", tt.events, "--json")
			if err != nil {
				t.Fatalf("err = %v; stderr %s", err, stderr)
			}
			var results []testResult
			dec := json.NewDecoder(strings.NewReader(stdout))
			for dec.More() {
				var r testResult
				if err := dec.Decode(&r); err != nil {
					t.Fatal(err)
				}
				results = append(results, r)
			}
			got := map[string][]string{}
			for _, r := range results {
				for _, rt := range r.Rules {
					got[rt.Rule] = append(got[rt.Rule], rt.Outcome)
				}
			}
			for rule, want := range tt.want {
				if !slices.Equal(got[rule], want) {
					t.Errorf("%s: outcomes %q, want %q", rule, got[rule], want)
				}
			}

			inFile := scenarioEvents(t, tt.events)
			if len(inFile) != len(results) {
				t.Fatalf("%d events in the file, test shows %d", len(inFile), len(results))
			}
			// serve stores each event once, and evaluates it once.
			var served []event.Event
			first := map[string]int{}
			for i, e := range inFile {
				if j, ok := first[e.ID]; ok {
					if r := results[i]; r.DuplicateOf != j+1 || len(r.Rules) != 0 {
						t.Errorf("event %d, a duplicate of event %d: test shows it as a duplicate of %d with %d rules", i+1, j+1, r.DuplicateOf, len(r.Rules))
					}
					continue
				}
				first[e.ID] = i
				served = append(served, e)
			}
			results = slices.DeleteFunc(results, func(r testResult) bool { return r.DuplicateOf != 0 })
			data := filepath.Join(t.TempDir(), "data")
			appendEvents(t, data, served)
			projectLog(t, tt.config, data, int64(len(served)))
			st := openDataStore(t, data)
			defer st.Close()
			for i, e := range served {
				x, err := st.Explanation(context.Background(), e.ID)
				if err != nil || x == nil {
					t.Fatalf("explanation of event %d: %v, %v", i+1, x, err)
				}
				r := results[i]
				if r.Event.ID != e.ID || len(r.Rules) != len(x.Rules) {
					t.Fatalf("event %d: test shows %s with %d rules, serve explains %s with %d", i+1, r.Event.ID, len(r.Rules), e.ID, len(x.Rules))
				}
				for j, rt := range r.Rules {
					want := x.Rules[j]
					outcome := string(want.Result)
					if want.Result == store.Fired {
						outcome = "match"
					}
					if rt.Rule != want.Rule || rt.Outcome != outcome {
						t.Errorf("event %d: test: %s %s; serve: %s %s", i+1, rt.Rule, rt.Outcome, want.Rule, want.Result)
					}
					if want.Result == store.Held && !strings.HasPrefix(rt.Why, want.Reason) {
						t.Errorf("event %d, rule %s: test holds it with %q, serve with %q", i+1, rt.Rule, rt.Why, want.Reason)
					}
				}
			}
		})
	}
}

// TestTestRenderError tests a rule whose action reads a field the event
// lacks: the results are printed, and test exits non-zero.
func TestTestRenderError(t *testing.T) {
	dir := filepath.Join("testdata", "test")
	stdout, _, err := runHookd(t, "test", "--config", filepath.Join(dir, "render.yaml"), "--event", filepath.Join(dir, "bounce.json"))
	if err == nil || !strings.Contains(err.Error(), "test: rule outcomes that are errors: 1 ") {
		t.Errorf("err = %v, want one counting the error", err)
	}
	if !strings.Contains(stdout, "error") || !strings.Contains(stdout, "needs-url") || !strings.Contains(stdout, `"url"`) {
		t.Errorf("stdout = %q, want the rule's error", stdout)
	}
}

// TestTestRedactsSecrets checks that test shows the rendered parameters
// of actions with their secrets (an http action's URL password, query
// values and header values; an exec action's environment) as [redacted],
// in both forms.
func TestTestRedactsSecrets(t *testing.T) {
	dir := filepath.Join("testdata", "test")
	args := []string{"test", "--config", filepath.Join(dir, "secrets.yaml"), "--event", filepath.Join(dir, "bounce.json")}
	tests := []struct {
		name  string
		extra []string
		want  []string
	}{
		{"text", nil, []string{
			`"url": "http://[redacted]@127.0.0.1:19199/[redacted]?token=[redacted]"`,
			`"Authorization": "[redacted]"`, `"X-Email": "[redacted]"`, `"API_TOKEN": "[redacted]"`,
			`"bounce@mailjet.com"`,
		}},
		{"json", []string{"--json"}, []string{
			`"url":"http://[redacted]@127.0.0.1:19199/[redacted]?token=[redacted]"`,
			`"headers":{"Authorization":"[redacted]","X-Email":"[redacted]"}`, `"env":{"API_TOKEN":"[redacted]"}`,
			`"args":["bounce@mailjet.com"]`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHookd(t, append(args, tt.extra...)...)
			if err != nil {
				t.Fatalf("err = %v; stderr %s", err, stderr)
			}
			for _, secret := range []string{"s3cretPW", "q-s3cret", "h-s3cret", "e-s3cret"} {
				if strings.Contains(stdout, secret) {
					t.Errorf("stdout holds the secret %q:\n%s", secret, stdout)
				}
			}
			for _, want := range tt.want {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %s:\n%s", want, stdout)
				}
			}
		})
	}
}

func TestTestCommandErrors(t *testing.T) {
	dir := filepath.Join("testdata", "test")
	events := filepath.Join(dir, "bounce.json")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"rule file error", []string{"--config", filepath.Join(dir, "bad.yaml"), "--event", events},
			filepath.Join(dir, "broken.yaml") + `:3:`},
		{"bad --at", []string{"--config", filepath.Join(dir, "hookd.yaml"), "--event", events, "--at", "yesterday"},
			`test: --at "yesterday": want an RFC 3339 time`},
		{"no --event", []string{"--config", filepath.Join(dir, "hookd.yaml")}, "test: --event FILE is required"},
		{"not Mailjet", []string{"--config", filepath.Join(dir, "hookd.yaml"), "--event", filepath.Join(dir, "rules.yaml")},
			"test: " + filepath.Join(dir, "rules.yaml") + ": not a delivery the mailjet source mailjet takes: decode mailjet delivery"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runHookd(t, append([]string{"test"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

// TestTestSource checks that test gives the events the name of the
// configuration's Mailjet source, or of the one --source names, as serve
// gives its events their source's: a rule on source decides in test as
// it does in serve.
func TestTestSource(t *testing.T) {
	dir := t.TempDir()
	rules := `rules:
  - name: eu
    when: source == "mj-eu" && count("bounce", "source", "1h") == 0
    actions: [ { log: {} } ]
  - name: us
    when: source == "mj-us"
    actions: [ { log: {} } ]
`
	config := `sources:
  - { name: app, provider: generic, map: { type: kind, email: to } }
  - { name: mj-eu, provider: mailjet }
  - { name: mj-us, provider: mailjet }
rules: [ rules.yaml ]
`
	for name, text := range map[string]string{"rules.yaml": rules, "hookd.yaml": config} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	events := filepath.Join("testdata", "test", "bounce.json")
	tests := []struct {
		name    string
		extra   []string
		want    map[string]string // rule: outcome
		wantErr string
	}{
		{"the first mailjet source", nil, map[string]string{"eu": "match", "us": "no"}, ""},
		{"another one", []string{"--source", "mj-us"}, map[string]string{"eu": "no", "us": "match"}, ""},
		{"not a source", []string{"--source", "mailjet"}, nil, `--source "mailjet": the configuration has no source of that name`},
		// The generic source's map reads a kind the Mailjet event lacks.
		{"a source of another provider", []string{"--source", "app"}, nil,
			`not a delivery the generic source app takes: decode generic delivery: element 0: map.type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"test", "--config", filepath.Join(dir, "hookd.yaml"), "--event", events, "--json"}, tt.extra...)
			stdout, stderr, err := runHookd(t, args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v; stderr %s", err, stderr)
			}
			var r testResult
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, rt := range r.Rules {
				got[rt.Rule] = rt.Outcome
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("outcomes %v, want %v", got, tt.want)
			}
		})
	}

	// Without a Mailjet source, the only source is the one test decodes
	// the file as.
	only := filepath.Join(dir, "only.yaml")
	if err := os.WriteFile(only, []byte("sources:\n  - { name: app, provider: generic, map: { type: event, email: email } }\nrules: [ rules.yaml ]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runHookd(t, "test", "--config", only, "--event", events, "--json")
	if err != nil {
		t.Fatalf("err = %v; stderr %s", err, stderr)
	}
	var r testResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if e := r.Event; e.Source != "app" || e.Provider != "generic" || e.Type != "bounce" || !strings.HasPrefix(e.ID, "generic:") {
		t.Errorf("the only source: event %+v, want one of source app, provider generic", e)
	}
}
