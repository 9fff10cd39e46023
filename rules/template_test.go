package rules

import (
	"strings"
	"testing"
	"time"
)

// TestSimpleTemplate checks that the templates rendered without
// text/template render exactly as text/template would, and that the others
// are left to it.
func TestSimpleTemplate(t *testing.T) {
	data := map[string]any{
		"id": "mailjet:1", "source": "mj", "provider": "mailjet", "type": "open",
		"time": timestamp{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, "email": "a<b>@x.example",
		"domain": "x.example", "message_id": "19421777396190490", "campaign": "",
		"data": map[string]any{"url": "https://x"},
	}
	for _, tc := range []struct {
		name, text string
		simple     bool
	}{
		{"one field", "{{ .email }}", true},
		{"text and fields", "{{.email}} opened {{ .message_id }} of {{ .campaign }}!", true},
		{"trim markers", "to: {{- .domain -}} :end", true},
		{"every string field", "{{.id}}{{.source}}{{.provider}}{{.type}}{{.email}}{{.domain}}{{.message_id}}{{.campaign}}", true},
		{"time", "at {{ .time }}", false},
		{"data", "{{ .data.url }}", false},
		{"pipeline", "{{ .email | printf \"%q\" }}", false},
		{"function", "{{ printf \"%s\" .email }}", false},
		{"condition", "{{ if .email }}x{{ end }}", false},
		{"dot", "{{ . }}", false},
		{"comment", "a{{/* c */}}b", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := parseTemplate(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			segs := simpleTemplate(tmpl.Root)
			if (segs != nil) != tc.simple {
				t.Fatalf("simple = %v, want %v", segs != nil, tc.simple)
			}
			var want strings.Builder
			if err := tmpl.Execute(&want, data); err != nil {
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
