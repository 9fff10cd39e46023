package rules_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/golden"

	"github.com/hookd/hookd/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/errors")

// secret and templateSecret are the values of HOOKD_TEST_SECRET and
// HOOKD_TEST_TEMPLATE_SECRET, which break an expression and a template and
// which no error may show, even in part.
const (
	secret         = `s3cr3t-"value"`
	templateSecret = `t0k{{en`
)

func setEnv(t *testing.T) {
	t.Setenv("HOOKD_TEST_ALERT_URL", "https://alerts.example.com/hook")
	t.Setenv("HOOKD_TEST_SECRET", secret)
	t.Setenv("HOOKD_TEST_TEMPLATE_SECRET", templateSecret)
	t.Setenv("HOOKD_TEST_UNSET", "") // restored after the test
	os.Unsetenv("HOOKD_TEST_UNSET")
}

// checkAction stands for the actions registry: it knows five action types
// and checks two of them.
func checkAction(typ string, params map[string]any) error {
	switch typ {
	case "email":
		if _, ok := params["to"]; !ok {
			return &rules.ParamError{Param: "to", Err: errors.New("required")}
		}
	case "http":
		if u, _ := params["url"].(string); !strings.HasPrefix(u, "https://") {
			return &rules.ParamError{Param: "url", Err: fmt.Errorf("want an https:// URL, got %q", u)}
		}
	case "log", "suppress", "mailjet_unsubscribe":
	default:
		return fmt.Errorf("unknown action type %q (known: email, http, log, mailjet_unsubscribe, suppress)", typ)
	}
	return nil
}

func load(t *testing.T) *rules.Set {
	t.Helper()
	setEnv(t)
	set, err := rules.Load(context.Background(), []string{"rules/*.yaml"}, rules.Options{Dir: "testdata", Action: checkAction})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return set
}

// ruleView is what a test compares of a Rule.
type ruleView struct {
	Name, Description, When, Once string
	Cooldown                      time.Duration
	File                          string
	Line                          int
	Actions                       []actionView
}

type actionView struct {
	Type   string
	Index  int
	Line   int
	Retry  string
	Params map[string]any
}

func view(r *rules.Rule) ruleView {
	v := ruleView{Name: r.Name, Description: r.Description, When: r.When, Once: r.Once, Cooldown: r.Cooldown, File: r.File, Line: r.Line}
	for _, a := range r.Actions {
		v.Actions = append(v.Actions, actionView{Type: a.Type, Index: a.Index, Line: a.Line, Retry: a.Retry.String(), Params: a.Params()})
	}
	return v
}

func TestLoad(t *testing.T) {
	set := load(t)
	mailjet := filepath.Join("testdata", "rules", "mailjet.yaml")
	more := filepath.Join("testdata", "rules", "more.yaml")
	if got, want := set.Files(), []string{mailjet, more}; !reflect.DeepEqual(got, want) {
		t.Errorf("Files() = %q, want %q", got, want)
	}
	logParams := map[string]any{
		"message": "{{ .email }} clicked {{ .data.url }} at {{ .time }} ({{ .time.Unix }})",
		"level":   "info",
		"tags":    []any{"click", "{{ .campaign }}", uint64(7)},
		"sampled": true,
		"weight":  1.5,
		"none":    nil,
	}
	leftParams := map[string]any{}
	for k, v := range logParams {
		leftParams[k] = v
	}
	leftParams["message"] = `{{ .email }} left ({{ .type }}, message {{ .data.MessageID }}{{ with index .data "mj_list_id" }}, list {{ . }}{{ end }})`
	want := []ruleView{
		{
			Name:        "discount-for-early-openers",
			Description: "Thank people who open within a day of the send.",
			When:        `type == "open" && last("sent", "message_id") != nil && since(last("sent", "message_id").time) < duration("24h")`,
			Once:        `email + "/" + campaign`,
			File:        mailjet, Line: 3,
			Actions: []actionView{{Type: "email", Line: 8, Retry: "10x30s,10x30m", Params: map[string]any{
				"to": "{{ .email }}", "subject": "Your 10% discount", "html": "templates/discount.html",
			}}},
		},
		{
			Name: "clean-hard-bounces",
			When: `type == "bounce" && data.hard_bounce`,
			File: mailjet, Line: 12,
			Actions: []actionView{
				{Type: "mailjet_unsubscribe", Line: 15, Retry: "10x30s,10x30m", Params: map[string]any{"list_id": uint64(42)}},
				{Type: "suppress", Index: 1, Line: 16, Retry: "3x1m", Params: map[string]any{"reason": "{{ .data.error }}"}},
			},
		},
		{
			Name:     "blocked-surge",
			When:     `type == "blocked" && count("blocked", "domain", "15m") > 0.6 * count("sent", "domain", "15m")`,
			Cooldown: time.Hour,
			File:     mailjet, Line: 18,
			Actions: []actionView{{Type: "http", Line: 22, Retry: "5x10s,5x5m", Params: map[string]any{
				"url": "https://alerts.example.com/hook", "body": `{"text":"{{ .domain }} is blocking us"}`,
			}}},
		},
		{
			Name: "click-log",
			When: "type == \"click\"\n  && data.url startsWith \"https://\"\n",
			File: more, Line: 3,
			Actions: []actionView{{Type: "log", Line: 8, Retry: "10x30s,10x30m", Params: logParams}},
		},
		{
			Name: "left",
			When: `type in ["unsub", "spam"]`,
			Once: "\"left/\" + email\n",
			File: more, Line: 15,
			Actions: []actionView{{Type: "log", Line: 21, Retry: "10x30s,10x30m", Params: leftParams}},
		},
		{
			Name: "any-event",
			When: `id != "" && data?.CustomID == "helloworld"`,
			File: more, Line: 24,
			Actions: []actionView{{Type: "log", Line: 27, Retry: "10x30s,10x30m", Params: map[string]any{
				"message": `{{ .type }} {{ .source }} {{ .provider }} {{ with index .data "url" }}{{ . }}{{ end }}`,
			}}},
		},
	}
	got := set.Rules()
	if len(got) != len(want) {
		t.Fatalf("loaded %d rules, want %d", len(got), len(want))
	}
	for i, r := range got {
		if v := view(r); !reflect.DeepEqual(v, want[i]) {
			t.Errorf("rule %d =\n%#v\nwant\n%#v", i, v, want[i])
		}
		if set.Rule(r.Name) != r {
			t.Errorf("Rule(%q) is not the rule", r.Name)
		}
	}
	if set.Rule("nope") != nil {
		t.Error(`Rule("nope") is not nil`)
	}
}

// TestParamsAreCopies checks that a caller changing what Params returned
// changes nothing in the set.
func TestParamsAreCopies(t *testing.T) {
	a := load(t).Rule("click-log").Actions[0]
	p := a.Params()
	p["level"] = "debug"
	p["tags"].([]any)[0] = "changed"
	if q := a.Params(); q["level"] != "info" || q["tags"].([]any)[0] != "click" {
		t.Errorf("Params after changing a copy = %v", q)
	}
}

// TestLoadErrors loads every testdata/errors/NAME.yaml, and every
// testdata/errors/NAME directory's *.yaml, and compares the error with
// NAME.golden; go test -update rewrites the golden files.
func TestLoadErrors(t *testing.T) {
	setEnv(t)
	entries, err := os.ReadDir(filepath.Join("testdata", "errors"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, entry := range entries {
		name, pattern := entry.Name(), filepath.Join("errors", entry.Name(), "*.yaml")
		if !entry.IsDir() {
			var ok bool
			if name, ok = strings.CutSuffix(name, ".yaml"); !ok {
				continue
			}
			pattern = filepath.Join("errors", entry.Name())
		}
		n++
		t.Run(name, func(t *testing.T) {
			_, err := rules.Load(context.Background(), []string{pattern}, rules.Options{Dir: "testdata", Action: checkAction, JSON: jsonBodies})
			if err == nil {
				t.Fatalf("Load(%q) succeeded, want an error", pattern)
			}
			for _, e := range unjoin(err) {
				var re *rules.Error
				if !errors.As(e, &re) {
					t.Errorf("error %T is not a *rules.Error: %v", e, e)
				}
			}
			got := err.Error() + "\n"
			for _, s := range []string{"s3cr3t", `"value"`, "t0k"} {
				if strings.Contains(got, s) {
					t.Errorf("error reveals the secret %q:\n%s", s, got)
				}
			}
			golden.Check(t, filepath.Join("testdata", "errors", name+".golden"), []byte(got), *update)
		})
	}
	if n == 0 {
		t.Fatal("no test files")
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestLoadFiles(t *testing.T) {
	setEnv(t)
	tests := []struct {
		name     string
		patterns []string
		dir      string
		want     []string // files loaded
		wantErr  error
	}{
		{name: "a glob that matches nothing loads nothing", patterns: []string{"rules/*.yml"}, dir: "testdata"},
		{name: "a missing file is an error", patterns: []string{"rules/missing.yaml"}, dir: "testdata", wantErr: fs.ErrNotExist},
		{name: "a bad pattern is an error", patterns: []string{"rules/[.yaml"}, dir: "testdata", wantErr: filepath.ErrBadPattern},
		{
			name:     "a file named twice loads once, in the order first named",
			patterns: []string{"testdata/rules/more.yaml", "testdata/rules/*.yaml"},
			want:     []string{filepath.Join("testdata", "rules", "more.yaml"), filepath.Join("testdata", "rules", "mailjet.yaml")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := rules.Load(context.Background(), tt.patterns, rules.Options{Dir: tt.dir})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Load: %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := set.Files(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Files() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	setEnv(t)
	if _, err := rules.Load(ctx, []string{"testdata/rules/*.yaml"}, rules.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a canceled context: %v", err)
	}
}

// TestDataWarnings: with Options.Data, a data.X (data?.X, data["X"]) in a
// when or once whose X no event has is a warning at its place, with the
// nearest field; a known field, a field of a field and a rule set loaded
// without Data are not warned of.
func TestDataWarnings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(file, []byte(`rules:
  - name: hard
    when: type == "bounce" && data.hardbounce
    actions: [{ log: {} }]
  - name: known
    when: data.hard_bounce && data?.error != "" && data["url"] != nil && data.geo.country == "FR"
    once: email + string(data?.Message_GUID)
    actions: [{ log: {} }]
  - name: once
    when: type == "click"
    once: string(data["Url"])
    actions: [{ log: {} }]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	data := &rules.Data{Providers: []string{"mailjet"}, Fields: []string{"Message_GUID", "error", "geo", "hard_bounce", "url"}}
	set, err := rules.Load(context.Background(), []string{file}, rules.Options{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range set.Warnings() {
		got = append(got, strings.TrimPrefix(w.Error(), dir))
	}
	want := []string{
		`/rules.yaml:3:31: rule "hard": when: data.hardbounce: no mailjet event has this field, so it is always nil (did you mean data.hard_bounce?)` +
			"\n | type == \"bounce\" && data.hardbounce\n | ....................^",
		`/rules.yaml:11:18: rule "once": once: data.Url: no mailjet event has this field, so it is always nil (did you mean data.url?)` +
			"\n | string(data[\"Url\"])\n | .......^",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	set, err = rules.Load(context.Background(), []string{file}, rules.Options{})
	if err != nil || len(set.Warnings()) != 0 {
		t.Errorf("without Data: %v, warnings %v; want none", err, set.Warnings())
	}
}

// TestArgsWarnings: an argument of a program's argument list that may
// start with what the event holds, before any "--", is warned of at its
// place; one after "--", one that starts with text of its own (an option
// whose value is the event's), and one that reads nothing of the event are
// not.
func TestArgsWarnings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(file, []byte(`rules:
  - name: first
    when: type == "open"
    actions:
      - run: { args: ["--quiet", "{{ .email }}", "{{ .data.x }}", "--", "{{ .campaign }}"] }
  - name: dashed
    when: type == "open"
    actions:
      - run: { args: ["--", "{{ .email }}", "{{ .data.x }}"] }
  - name: prefixed
    when: type == "open"
    actions:
      - run: { args: ["--to={{ .email }}", "x{{ .data.x }}", '{{ "-v" }}', "{{ if true }}-v{{ end }}"] }
  - name: whole
    when: type == "open"
    actions:
      - log: {}
      - run:
          args:
            - "{{ if .data.x }}{{ .data.x }}{{ end }}"
            - "{{ . }}"
  - name: other
    when: type == "open"
    actions:
      - other: { args: ["{{ .email }}"] }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	args := func(typ string, _ map[string]any) string {
		if typ == "run" || typ == "log" {
			return "args"
		}
		return ""
	}
	set, err := rules.Load(context.Background(), []string{file}, rules.Options{Args: args})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range set.Warnings() {
		got = append(got, strings.TrimPrefix(w.Error(), dir))
	}
	const msg = `rendered from the event before any "--" argument: a value that starts with - would reach the program as an option; write "--" as an argument before it, unless the program takes no options`
	want := []string{
		`/rules.yaml:5:35: rule "first": actions[0].run.args[1]: ` + msg + "\n | {{ .email }}\n | ^",
		`/rules.yaml:5:51: rule "first": actions[0].run.args[2]: ` + msg + "\n | {{ .data.x }}\n | ^",
		`/rules.yaml:20:16: rule "whole": actions[1].run.args[0]: ` + msg + "\n | {{ if .data.x }}{{ .data.x }}{{ end }}\n | ^",
		`/rules.yaml:21:16: rule "whole": actions[1].run.args[1]: ` + msg + "\n | {{ . }}\n | ^",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	set, err = rules.Load(context.Background(), []string{file}, rules.Options{})
	if err != nil || len(set.Warnings()) != 0 {
		t.Errorf("without Args: %v, warnings %v; want none", err, set.Warnings())
	}
}

// TestLoadAliasBomb loads rule files whose anchors are repeated inside
// anchors that are repeated, as a list and through merge keys: expanded,
// a few hundred bytes would be billions of values. Each is refused at
// once with an error that says so, and nothing that follows from it.
func TestLoadAliasBomb(t *testing.T) {
	for _, name := range []string{"params", "merges"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join("testdata", "laughs", name+".yaml")
			done := make(chan error, 1)
			go func() {
				_, err := rules.Load(context.Background(), []string{file}, rules.Options{})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("Load(%s) has not returned after 10 s", file)
			}
			errs := unjoin(err)
			if len(errs) != 1 || !strings.Contains(err.Error(), "aliases expand the file to more than 100000 mappings and values") {
				t.Fatalf("Load(%s) = %v, want one error saying the aliases expand too much", file, err)
			}
			var re *rules.Error
			if !errors.As(errs[0], &re) || re.File != file || re.Line < 10 {
				t.Errorf("error %v is not located in the file", errs[0])
			}
		})
	}
}
