package rules_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/internal/golden"
	"github.com/hookd/hookd/rules"
)

// corpusEvents are the events TestExplainCorpus explains, by name: opens
// whose data make the corpus's conditions true and false in turn, and a
// click.
func corpusEvents(t *testing.T) map[string]event.Event {
	return map[string]event.Event{
		"open-1": mj(t, "open", map[string]any{"time": sentAt + 1800, "x": false, "n": 5, "m": 1, "items": []int{1, 2, 3}, "flag": true,
			"m1": map[string]any{"ok": false}, "m2": map[string]any{"ok": true}, "s": `a"b\c`}),
		"open-2": mj(t, "open", map[string]any{"time": sentAt + 7200, "unsub": true, "x": true, "n": -3, "items": []int{0}, "flag": false,
			"m1": map[string]any{"ok": true}, "m2": map[string]any{"ok": false}, "s": "it's", "odd key": false}),
		"open-3": mj(t, "open", map[string]any{"time": sentAt + 60, "x": true, "n": 5, "items": []int{3, 4, 5}, "unsub": false, "flag": true,
			"m1": map[string]any{"ok": true}, "s": `a"b\c`}),
		"click": mj(t, "click", map[string]any{"n": 2}),
	}
}

// spaces and comments match what an explanation shows as one space: runs
// of white space and comments (there are none in the corpus's strings).
var (
	spaces   = regexp.MustCompile(`\s+`)
	comments = regexp.MustCompile(`(?m)//.*$|(?s)/\*.*?\*/`)
)

// TestExplainCorpus explains the events of corpusEvents with the rules of
// testdata/explain/corpus.yaml, written to catch a printer that changes an
// expression (??, !, unary minus, not, in, ternaries, pipes, && and || mixed,
// method calls, quotes and backslashes, closures, let, floats). Each
// condition shown must be the rule's own text, and the condition an
// explanation names must be the first one that is false when it is
// evaluated alone, compiled from that text as a rule of its own. The
// explanations are compared with testdata/explain/corpus.golden (go test
// -update rewrites it).
func TestExplainCorpus(t *testing.T) {
	ctx := context.Background()
	set, err := rules.Load(ctx, []string{filepath.Join("testdata", "explain", "corpus.yaml")}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Each condition as a rule of its own, named RULE.INDEX.
	var ref strings.Builder
	ref.WriteString("rules:\n")
	for _, r := range set.Rules() {
		when := spaces.ReplaceAllString(comments.ReplaceAllString(r.When, " "), " ")
		for i, c := range r.Conditions() {
			if !strings.Contains(when, c) {
				t.Errorf("rule %s: condition %d, %s, is not in its when: %s", r.Name, i, c, when)
			}
			q, _ := json.Marshal(c)
			fmt.Fprintf(&ref, "  - name: %s.%d\n    when: %s\n    actions: [log: {}]\n", r.Name, i, q)
		}
	}
	refFile := filepath.Join(t.TempDir(), "conditions.yaml")
	if err := os.WriteFile(refFile, []byte(ref.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	alone, err := rules.Load(ctx, []string{refFile}, rules.Options{})
	if err != nil {
		t.Fatalf("conditions do not compile alone: %v", err)
	}

	events := corpusEvents(t)
	names := []string{"open-1", "open-2", "open-3", "click"}
	sent := mj(t, "sent", nil)
	var out strings.Builder
	for _, r := range set.Rules() {
		fmt.Fprintf(&out, "%s: %s\n", r.Name, strings.Join(quoteAll(r.Conditions()), " && "))
	}
	for _, name := range names {
		e := events[name]
		st := memLog{sent, e}
		matches, err := set.Explain(ctx, e, st)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := alone.Explain(ctx, e, st)
		if err != nil {
			t.Fatal(err)
		}
		value := map[string]string{}
		for _, m := range ms {
			switch {
			case m.Err != nil:
				value[m.Rule.Name] = "error"
			case m.Why == "":
				value[m.Rule.Name] = "true"
			default:
				value[m.Rule.Name] = "false"
			}
		}
		fmt.Fprintf(&out, "\n%s:\n", name)
		for _, m := range matches {
			conds := m.Rule.Conditions()
			first, firstValue := len(conds), "true"
			for i := range conds {
				if v := value[fmt.Sprintf("%s.%d", m.Rule.Name, i)]; v != "true" {
					first, firstValue = i, v
					break
				}
			}
			switch {
			case m.Err != nil:
				fmt.Fprintf(&out, "  %s: error: %v\n", m.Rule.Name, m.Err)
				if firstValue != "error" {
					t.Errorf("%s on %s failed (%v), but its first condition not true alone is %d, %s", m.Rule.Name, name, m.Err, first, firstValue)
				}
			case m.Why == "":
				fmt.Fprintf(&out, "  %s: fired\n", m.Rule.Name)
				if first != len(conds) {
					t.Errorf("%s fired on %s, but its condition %d alone is %s", m.Rule.Name, name, first, firstValue)
				}
			default:
				fmt.Fprintf(&out, "  %s: %s\n", m.Rule.Name, m.Why)
				if m.CondIndex != first || firstValue != "false" {
					t.Errorf("%s on %s: explanation names condition %d, but the first condition not true alone is %d, %s", m.Rule.Name, name, m.CondIndex, first, firstValue)
				}
				if m.CondIndex >= 0 && m.CondIndex < len(conds) && m.Condition != conds[m.CondIndex] {
					t.Errorf("%s on %s: explanation names %s, condition %d is %s", m.Rule.Name, name, m.Condition, m.CondIndex, conds[m.CondIndex])
				}
			}
		}
	}
	golden.Check(t, filepath.Join("testdata", "explain", "corpus.golden"), []byte(out.String()), *update)
}

// quoteAll writes each condition in braces, so that where one ends shows.
func quoteAll(conds []string) []string {
	q := make([]string, len(conds))
	for i, c := range conds {
		q[i] = "{" + c + "}"
	}
	return q
}

// TestExplainVariablesAsWritten checks that a condition holding a
// variable's value shows the variable as written, ${VAR}, however the value
// is quoted or escaped, and never the value.
func TestExplainVariablesAsWritten(t *testing.T) {
	for _, tt := range []struct {
		name, value, cond string
	}{
		{"single-quoted", "s3cret", `data.token == '${HOOKD_TEST_VALUE}'`},
		{"backslash", `k\\y`, `data.token == '${HOOKD_TEST_VALUE}'`},
		{"double-quoted backslash", `k\\y`, `data.token == "${HOOKD_TEST_VALUE}"`},
		{"tab", "a\tb", `data.token == "${HOOKD_TEST_VALUE}"`},
		{"raw string", `k\y`, "data.token == `${HOOKD_TEST_VALUE}`"},
		{"number", "41", `${HOOKD_TEST_VALUE} < len(data.token)`},
		{"in a list", "x9", `data.token in ["a", "${HOOKD_TEST_VALUE}"]`},
		{"twice", "q7", `data.token + "${HOOKD_TEST_VALUE}" == "${HOOKD_TEST_VALUE}"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOOKD_TEST_VALUE", tt.value)
			when, _ := json.Marshal(`type == "click" && ` + tt.cond)
			file := filepath.Join(t.TempDir(), "rules.yaml")
			if err := os.WriteFile(file, []byte("rules:\n  - name: r\n    when: "+string(when)+"\n    actions: [log: {}]\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			set, err := rules.Load(context.Background(), []string{file}, rules.Options{})
			if err != nil {
				t.Fatal(err)
			}
			conds := set.Rules()[0].Conditions()
			if len(conds) != 2 || conds[1] != tt.cond {
				t.Errorf("Conditions = %q, want the second %s", conds, tt.cond)
			}
			e := mj(t, "click", map[string]any{"token": "nope"})
			matches, err := set.Explain(context.Background(), e, memLog{e})
			if err != nil {
				t.Fatal(err)
			}
			if len(matches) != 1 || !strings.HasPrefix(matches[0].Why, tt.cond+" is false: ") {
				t.Errorf("Explain = %+v, want why %s is false", matches, tt.cond)
			}
		})
	}
}
