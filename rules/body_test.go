package rules_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/rules"
)

// bodies marks the params text (plain) and html (HTML) of action "mail" as
// bodies.
func bodies(typ, param string) (body, html bool) {
	if typ != "mail" {
		return false, false
	}
	switch param {
	case "text":
		return true, false
	case "html":
		return true, true
	}
	return false, false
}

func TestBodies(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("rules/templates/open.html", `<p>Hello {{ .email }}, you clicked <a href="/r?u={{ .data.url }}">here</a></p>`)
	write("rules/templates/open.txt", "Hello {{ .email }} <{{ .data.url }}>\n")
	write("rules/mail.yaml", `rules:
  - name: files
    when: type == "click"
    actions:
      - mail: { html: templates/open.html, text: templates/open.txt, subject: "<{{ .email }}>" }
  - name: inline
    when: type == "click"
    actions:
      - mail: { html: "<b>{{ .data.url }}</b>", text: "{{ .data.url }}", other: "templates/open.html" }
`)
	set, err := rules.Load(context.Background(), []string{"rules/mail.yaml"}, rules.Options{Dir: dir, Body: bodies})
	if err != nil {
		t.Fatal(err)
	}
	e := mj(t, "click", map[string]any{"url": `https://x.example/?a=1&b="<x>"`, "email": "a@example.com"})
	matches, err := set.Eval(context.Background(), e, memLog{e})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, m := range matches {
		if m.Err != nil {
			t.Fatalf("%s: %v", m.Rule.Name, m.Err)
		}
		got[m.Rule.Name] = m.Actions[0].Params
	}
	want := map[string]map[string]any{
		"files": {
			"html":    `<p>Hello a@example.com, you clicked <a href="/r?u=https%3a%2f%2fx.example%2f%3fa%3d1%26b%3d%22%3cx%3e%22">here</a></p>`,
			"text":    "Hello a@example.com <https://x.example/?a=1&b=\"<x>\">\n",
			"subject": "<a@example.com>",
		},
		"inline": {
			"html":  `<b>https://x.example/?a=1&amp;b=&#34;&lt;x&gt;&#34;</b>`,
			"text":  `https://x.example/?a=1&b="<x>"`,
			"other": "templates/open.html",
		},
	}
	for name, w := range want {
		for k, v := range w {
			if got[name][k] != v {
				t.Errorf("%s.%s = %q, want %q", name, k, got[name][k], v)
			}
		}
	}
	if p := set.Rule("files").Actions[0].Params(); p["html"] != "templates/open.html" {
		t.Errorf("written html = %v, want the path as written", p["html"])
	}
}

func TestBodyErrors(t *testing.T) {
	tests := []struct {
		name, rule string
		file       string // body.txt or body.html's text, for the rules that name one
		want       string // DIR stands for the directory of the files
	}{
		{name: "missing file", rule: `html: templates/none.html`, want: `mail.yaml:5:23: rule "r": actions[0].mail.html: read template file `},
		{name: "bad inline template", rule: `text: "{{ .email "`, want: `mail.yaml:5:`},
		{name: "html that cannot be escaped", rule: `html: "<a href='{{ .email }}"`, want: `actions[0].mail.html: html/template`},
		{name: "inline html reading a field no event has", rule: `html: "<p>{{ .emial }}</p>"`, want: `mail.yaml:5:30: rule "r": actions[0].mail.html: template reads .emial, which no event has`},
		// Errors in a template file say where in the file, as text/template
		// does when it executes one: a 0-based byte column.
		{name: "text file reading a field no event has", rule: `text: body.txt`, file: "Hello,\n  {{ .nme }}",
			want: `mail.yaml:5:23: rule "r": actions[0].mail.text: DIR/body.txt:2:5: template reads .nme, which no event has`},
		{name: "text file that does not parse", rule: `text: body.txt`, file: "Hello,\nyour code {{ .email }\n",
			want: `mail.yaml:5:23: rule "r": actions[0].mail.text: DIR/body.txt:2: unexpected "}" in operand`},
		{name: "text file calling no function", rule: `text: body.txt`, file: "Hello,\n\n{{ .email | upper }}\n",
			want: `actions[0].mail.text: DIR/body.txt:3: function "upper" not defined`},
		{name: "text file with an end too many", rule: `text: body.txt`, file: "Hello\n  {{ end }}\n",
			want: `actions[0].mail.text: DIR/body.txt:2: unexpected {{end}}`},
		{name: "html file reading a field no event has", rule: `html: body.html`, file: "<p>Hello,</p>\n<p>your code, {{ .emial }}</p>\n",
			want: `mail.yaml:5:23: rule "r": actions[0].mail.html: DIR/body.html:2:17: template reads .emial, which no event has`},
		{name: "html file that does not parse", rule: `html: body.html`, file: "<p>Hello,</p>\n<p>your code, {{ .email </p>\n",
			want: `actions[0].mail.html: DIR/body.html:2: unexpected "<" in operand`},
		{name: "html file that cannot be escaped", rule: `html: body.html`, file: "<p>\n{{ if .email }}<a href=\"{{ end }}\">x</a>\n",
			want: `actions[0].mail.html: DIR/body.html:2:6: html/template: {{if}} branches end in different contexts`},
		{name: "html file ending inside a tag", rule: `html: body.html`, file: "<p>Hello,</p>\n<a href=\"{{ .email }}",
			want: `actions[0].mail.html: DIR/body.html:2:21: html/template: ends in a non-text context`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := "rules:\n  - name: r\n    when: type == \"open\"\n    actions:\n      - mail: { " + tt.rule + " }\n"
			if err := os.WriteFile(filepath.Join(dir, "mail.yaml"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"body.txt", "body.html"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := rules.Load(context.Background(), []string{"mail.yaml"}, rules.Options{Dir: dir, Body: bodies})
			if want := strings.ReplaceAll(tt.want, "DIR/", dir+string(filepath.Separator)); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Load error = %v, want it to contain %q", err, want)
			}
		})
	}
}
