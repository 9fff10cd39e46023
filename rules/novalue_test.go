package rules_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/rules"
)

// TestNoValue renders parameters on a bounce whose data has "comment":
// null and no "agent". An action that prints such a value (a null, or
// index of a missing key) fails the rule on the event, naming the
// parameter and the action, wherever it stands (a subject, a body file,
// inline HTML, a log field, a JSON string), rather than printing "<no
// value>" or nothing; outside a JSON string it is null. {{ with }} and
// {{ if }} test an optional key, present or not, while a bare {{
// .data.agent }} still fails.
func TestNoValue(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		action string // one action of a rule on bounces
		want   string // the parameter p rendered; or, with err, ""
		err    string // what the rule's error holds
	}{
		{name: "null in a subject", action: `mail: { subject: "Sorry: {{ .data.comment }}" }`,
			err: `rule "null-in-a-subject": actions[0].mail.subject: {{ .data.comment }} has no value on this event (null in its data, or a key index did not find): write {{ with .data.comment }}{{ . }}{{ end }} to print nothing then`},
		{name: "index of a missing key in a log field", action: `log: { fields: { agent: '{{ index .data "agent" }}' } }`,
			err: `actions[0].log.fields.agent: {{ index .data "agent" }} has no value`},
		{name: "null in a text body file", action: `mail: { text: sorry.txt }`,
			err: `actions[0].mail.text: ` + filepath.Join(dir, "sorry.txt") + `:2:9: {{ .data.comment }} has no value`},
		{name: "null in an html body", action: `mail: { html: "<p>{{ .data.comment }}</p>" }`,
			err: `actions[0].mail.html: {{ .data.comment }} has no value`},
		{name: "null from a pipeline", action: `mail: { subject: "{{ index .data \"agent\" | or .data.comment }}" }`,
			err: `{{ index .data "agent" | or .data.comment }} has no value`},
		{name: "null inside a JSON string", action: `http: { url: "https://example.com/", body: '{"text":"{{ .data.comment }}"}' }`,
			err: `actions[0].http.body: {{ .data.comment }} has no value on this event (null in its data, or a key index did not find) and stands inside a JSON string`},
		{name: "a missing key, bare", action: `mail: { subject: "{{ .data.agent }}" }`,
			err: `actions[0].mail.subject: <.data.agent>: map has no entry for key "agent"`},
		{name: "null and index outside a JSON string", action: `http: { url: "https://example.com/", body: '{"c":{{ .data.comment }},"a":{{ index .data "agent" }}}' }`,
			want: `{"c":null,"a":null}`},
		{name: "with a missing key", action: `mail: { subject: "Sorry{{ with .data.agent }} ({{ . }}){{ end }}" }`, want: "Sorry"},
		{name: "with else", action: `mail: { subject: "{{ with .data.comment }}{{ . }}{{ else }}no comment{{ end }}" }`, want: "no comment"},
		{name: "with a present key", action: `mail: { subject: "{{ with .data.error }}{{ . }}{{ end }}" }`, want: "user unknown"},
		{name: "if a missing key", action: `mail: { subject: "{{ if .data.agent }}{{ .data.agent }}{{ else }}none{{ end }}" }`, want: "none"},
		{name: "if not, and, or", action: `mail: { subject: "{{ if not .data.agent }}1{{ end }}{{ if and .data.agent .data.nope.x }}2{{ end }}{{ if or .data.agent (not $.data.error) }}3{{ else }}4{{ end }}" }`, want: "14"},
		{name: "else if a missing key", action: `mail: { subject: "{{ if .data.agent }}a{{ else if .data.error }}e{{ end }}" }`, want: "e"},
		{name: "dollar inside with", action: `mail: { subject: "{{ with .data.error }}{{ if $.data.agent }}a{{ else }}{{ . }}{{ end }}{{ end }}" }`, want: "user unknown"},
		{name: "a missing key under with", action: `mail: { subject: "{{ with .data.error }}{{ .x }}{{ end }}" }`,
			err: `actions[0].mail.subject: <.x>: can't evaluate field x in type string`},
		{name: "with in JSON", action: `http: { url: "https://example.com/", body: '{"a":{{ with .data.agent }}"{{ . }}"{{ else }}"unknown"{{ end }}}' }`,
			want: `{"a":"unknown"}`},
		{name: "with in an html body", action: `mail: { html: "<p>Sorry{{ with .data.agent }} {{ . }}{{ end }}</p>" }`, want: "<p>Sorry</p>"},
	}
	var src strings.Builder
	src.WriteString("rules:\n")
	for _, tt := range tests {
		src.WriteString("  - name: " + strings.ReplaceAll(tt.name, " ", "-") + "\n    when: type == \"bounce\"\n    actions:\n      - " + tt.action + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(strings.ReplaceAll(src.String(), ",-", "-")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sorry.txt"), []byte("Sorry,\nabout {{ .data.comment }}.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{"rules.yaml"}, rules.Options{Dir: dir, Body: bodies, JSON: jsonBodies})
	if err != nil {
		t.Fatal(err)
	}
	e := mj(t, "bounce", map[string]any{"comment": nil, "error": "user unknown"})
	matches, err := set.Eval(context.Background(), e, memLog{e})
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) != len(tests) {
		t.Fatalf("%d matches, want %d", len(matches), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := matches[i]
			if tt.err != "" {
				if m.Err == nil || !strings.Contains(m.Err.Error(), tt.err) {
					t.Errorf("rule failed with %v, want it to contain %q; rendered %v", m.Err, tt.err, m.Actions)
				}
				return
			}
			if m.Err != nil {
				t.Fatalf("rule failed: %v", m.Err)
			}
			for _, v := range m.Actions[0].Params {
				if s, ok := v.(string); ok && s != "https://example.com/" && s != tt.want {
					t.Errorf("rendered %q, want %q", s, tt.want)
				}
			}
		})
	}
}

// TestRangeOverNumber renders parameters that range over .data.tags on an
// event whose sender wrote the largest integer there, where a list is
// meant: text/template would range that many times, for ever. Each fails
// the rule at once, in text, HTML and JSON alike; a list ranges as
// before, and so does a number written in the template.
func TestRangeOverNumber(t *testing.T) {
	dir := t.TempDir()
	const huge = "9223372036854775807"
	tests := []struct {
		name   string
		action string
		tags   any    // the event's data.tags
		want   string // the parameter rendered; or, with err, ""
		err    string
	}{
		{name: "subject", action: `mail: { subject: "{{ range .data.tags }}{{ . }}{{ end }}" }`, tags: json.Number(huge),
			err: `rules.yaml:5:36: rule "r": actions[0].mail.subject: {{range}} over the number ` + huge + `: want a list or a mapping`},
		{name: "html body", action: `mail: { html: "<p>{{ range $i, $t := .data.tags }}{{ $t }}{{ end }}</p>" }`, tags: json.Number(huge),
			err: `{{range}} over the number ` + huge},
		{name: "JSON body", action: `http: { url: "https://example.com/", body: '[{{ range .data.tags }}"{{ . }}",{{ end }}0]' }`, tags: json.Number(huge),
			err: `{{range}} over the number ` + huge},
		{name: "under with", action: `mail: { subject: "{{ with .data }}{{ range .tags }}x{{ end }}{{ end }}" }`, tags: json.Number("-1"),
			err: `{{range}} over the number -1`},
		{name: "a list", action: `mail: { subject: "{{ range .data.tags }}{{ . }}{{ end }}" }`, tags: []string{"a", "b"}, want: "ab"},
		{name: "a mapping", action: `mail: { subject: "{{ range $k, $v := .data.tags }}{{ $k }}{{ $v }}{{ end }}" }`, tags: map[string]int{"a": 1}, want: "a1"},
		{name: "a number written", action: `mail: { subject: "{{ range 3 }}x{{ end }}" }`, tags: json.Number(huge), want: "xxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "rules:\n  - name: r\n    when: type == \"bounce\"\n    actions:\n      - " + tt.action + "\n"
			if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			set, err := rules.Load(context.Background(), []string{"rules.yaml"}, rules.Options{Dir: dir, Body: bodies, JSON: jsonBodies})
			if err != nil {
				t.Fatal(err)
			}
			e := mj(t, "bounce", map[string]any{"tags": tt.tags})
			done := make(chan []rules.Match, 1)
			go func() {
				matches, err := set.Eval(context.Background(), e, memLog{e})
				if err != nil {
					t.Error(err)
				}
				done <- matches
			}()
			var matches []rules.Match
			select {
			case matches = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Eval has not returned after 10 s")
			}
			if len(matches) != 1 {
				t.Fatalf("%d matches, want 1", len(matches))
			}
			m := matches[0]
			if tt.err != "" {
				if m.Err == nil || !strings.Contains(m.Err.Error(), tt.err) {
					t.Errorf("rule error %v, want one holding %q", m.Err, tt.err)
				}
				return
			}
			if m.Err != nil {
				t.Fatal(m.Err)
			}
			for _, v := range m.Actions[0].Params {
				if v != tt.want {
					t.Errorf("rendered %q, want %q", v, tt.want)
				}
			}
		})
	}
}
