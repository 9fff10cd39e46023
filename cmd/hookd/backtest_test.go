package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestBacktestCommand backtests each scenario's own rules (no difference)
// and a discount window widened from 24h to 27h (bob's open after 26h3m
// is added), twice, with identical output.
func TestBacktestCommand(t *testing.T) {
	for _, name := range scenarios {
		t.Run(name, func(t *testing.T) {
			data, cfgFile, _ := runScenario(t, name)
			out, _, err := runHookd(t, "backtest", "--config", cfgFile, "--data", data, "--rules", filepath.Join("testdata", "scenarios", name, "rules.yaml"), "--json")
			if err != nil {
				t.Fatal(err)
			}
			var rep struct {
				Rules []struct {
					Rule           string
					Live, Backtest int
					Added, Removed int
				}
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.Rules {
				if r.Live == 0 || r.Live != r.Backtest || r.Added != 0 || r.Removed != 0 {
					t.Errorf("backtest of the live rules: %+v", r)
				}
			}
		})
	}
	data, cfgFile, _ := runScenario(t, "discount-on-open")
	args := []string{"backtest", "--config", cfgFile, "--data", data, "--rules", filepath.Join("testdata", "scenarios", "discount-on-open", "rules-27h.yaml")}
	first, stderr, err := runHookd(t, args...)
	if err != nil || stderr != "" {
		t.Fatalf("backtest: %v %s", err, stderr)
	}
	second, _, err := runHookd(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Errorf("two runs differ:\n%s\n%s", first, second)
	}
	goldenText(t, filepath.Join("testdata", "scenarios", "discount-on-open", "backtest-27h.golden"), first)
	// Times as hookd events takes them: the events are from 2025, more
	// than a day and less than 20000 days ago.
	if out, _, err := runHookd(t, append(args, "--since", "20000d", "--until", "24h")...); err != nil || out != first {
		t.Errorf("backtest --since 20000d --until 24h: %v\n%s\nwant\n%s", err, out, first)
	}
	if out, _, err := runHookd(t, append(args, "--since", "24h")...); err != nil || !strings.Contains(out, "(0 in range)") {
		t.Errorf("backtest --since 24h: %v\n%s", err, out)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no rules", []string{"backtest", "--data", data}, "--rules FILE is required"},
		{"bad since", []string{"backtest", "--data", data, "--rules", "x.yaml", "--since", "yesterday"}, `backtest: --since "yesterday" is not an RFC 3339 time`},
		{"bad rules", []string{"backtest", "--data", data, "--rules", filepath.Join("testdata", "test", "broken.yaml")}, "broken.yaml"},
		{"until before since", append(args, "--since", "24h", "--until", "20000d"), "backtest: --until must be after --since"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runHookd(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestBacktestFailedRule checks that backtest says, per rule, on how many
// events it failed and the first error, where a rule failing on every
// event looked like one that matched none.
func TestBacktestFailedRule(t *testing.T) {
	dir, data, cfg, events := failingRuleData(t)
	rules := filepath.Join(dir, "rules.yaml")
	out, stderr, err := runHookd(t, "backtest", "--config", cfg, "--data", data, "--rules", rules)
	if err != nil {
		t.Fatalf("backtest: %v %s", err, stderr)
	}
	want := []string{
		"  failed on 2 events, which it made no job for; the first, " + events[0].ID + ": " +
			rules + ":3:36: rule \"many\": when: invalid operation: <nil> > int\n   | type == \"open\" && data.n > 3\n",
		"  failed on 1 event, which it made no job for; the first, " + events[1].ID + ": " +
			rules + ":7:43: rule \"opens\": actions[0].log.message: <.data.agent>: map has no entry for key \"agent\"\n",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("backtest prints\n%s\nwant it to hold\n%s", out, w)
		}
	}
	out, _, err = runHookd(t, "backtest", "--config", cfg, "--data", data, "--rules", rules, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Rules []struct {
			Rule         string
			Failed       int
			FirstFailure struct{ Event, Error string } `json:"first_failure"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rules) != 2 || rep.Rules[0].Failed != 2 || rep.Rules[0].FirstFailure.Event != events[0].ID ||
		rep.Rules[1].Failed != 1 || !strings.Contains(rep.Rules[1].FirstFailure.Error, `map has no entry for key "agent"`) {
		t.Errorf("backtest --json rules: %+v", rep.Rules)
	}
}
