package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/internal/jsontmpl"
)

// TestSimpleTemplate checks that the templates rendered without
// text/template render exactly as text/template would, and that the others
// are left to it.
func TestSimpleTemplate(t *testing.T) {
	e := &event.Event{ID: "mailjet:1", Source: "mj", Provider: "mailjet", Type: "open",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Email: "a<b>@x.example",
		Domain: "x.example", MessageID: "19421777396190490", Campaign: "c\"1\n\u2028", Category: event.Open, BounceClass: "hard"}
	ev := newEvaluation()
	ev.e, ev.data = e, map[string]any{"url": "https://x"}
	data := &tmplData{e: e, ev: ev}
	for _, tc := range []struct {
		name, text string
		simple     bool
		json       bool // escaped with jsontmpl.Escape
		checked    bool // with checkPrints, as a parameter not escaped for JSON is
	}{
		{"one field", "{{ .email }}", true, false, false},
		{"text and fields", "{{.email}} opened {{ .message_id }} of {{ .campaign }}!", true, false, false},
		{"trim markers", "to: {{- .domain -}} :end", true, false, false},
		{"every string field", "{{.id}}{{.source}}{{.provider}}{{.type}}{{.email}}{{.domain}}{{.message_id}}{{.campaign}}{{.category}}{{.bounce_class}}", true, false, false},
		{"time", "at {{ .time }}", false, false, false},
		{"data", "{{ .data.url }}", false, false, false},
		{"pipeline", "{{ .email | printf \"%q\" }}", false, false, false},
		{"function", "{{ printf \"%s\" .email }}", false, false, false},
		{"condition", "{{ if .email }}x{{ end }}", false, false, false},
		{"dot", "{{ . }}", false, false, false},
		{"comment", "a{{/* c */}}b", true, false, false},
		{"checked fields", "{{.email}} opened {{ .message_id }} of {{ .campaign }}!", true, false, true},
		{"checked data", "{{ .data.url }}", false, false, true},
		{"JSON inside strings", `{"e":"{{ .email }}","c":"{{ .campaign }} {{ .type }}"}`, true, true, false},
		{"JSON outside strings", `{"e":{{ .email }},"c":[{{ .campaign }}]}`, true, true, false},
		{"JSON data", `{"u":"{{ .data.url }}"}`, false, true, false},
		{"JSON pipeline", `{"u":"{{ .email | printf "%q" }}"}`, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := parseTemplate(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if tc.json {
				if err := jsontmpl.Escape(tmpl); err != nil {
					t.Fatal(err)
				}
			}
			if tc.checked {
				checkPrints(tmpl.Tree)
				tmpl.Funcs(valueFuncs)
			}
			segs := simpleTemplate(tmpl.Root)
			if (segs != nil) != tc.simple {
				t.Fatalf("simple = %v, want %v", segs != nil, tc.simple)
			}
			var want strings.Builder
			if err := tmpl.Execute(&want, data.asMap()); err != nil {
				t.Fatal(err)
			}
			p := &stringParam{strValue: &strValue{text: tc.text}, tmpl: tmpl, simple: segs}
			got, err := p.render(data)
			if err != nil {
				t.Fatal(err)
			}
			if got != want.String() {
				t.Errorf("rendered %q, text/template renders %q", got, want.String())
			}
		})
	}
}
