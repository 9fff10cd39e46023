package jsontmpl_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/hookd/hookd/internal/golden"

	"github.com/hookd/hookd/internal/jsontmpl/jsontmpltest"

	"github.com/hookd/hookd/internal/jsontmpl"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// injection is a Mailjet open's agent written to add a key to a JSON body.
const injection = `x","channel":"#general","text":"pwned`

// data is the event as rules' templates see it, with data a Mailjet
// event's object: integers are ints, other numbers float64.
var data = map[string]any{
	"email": "a@x.example",
	"time":  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	"data": map[string]any{
		"agent": injection,
		"error": "550 \"no\"\nsuch\tuser \\ \u2028\u2029 <b>&\x01 é",
		"count": 3,
		"ratio": 0.25,
		"id":    19421777396190490,
		"none":  nil,
		"yes":   true,
		"tags":  []any{"a", `b"c`},
		"obj":   map[string]any{"k": `v"`, "n": 2},
	},
}

func parseText(t *testing.T, text string) *template.Template {
	t.Helper()
	tmpl, err := template.New("t").Option("missingkey=error").Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func execute(t *testing.T, tmpl *template.Template) string {
	t.Helper()
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestEscape renders escaped templates on data: every output is valid
// JSON, and testdata/escape.golden holds them all (go test -update
// rewrites it).
func TestEscape(t *testing.T) {
	var golden strings.Builder
	for _, tc := range []struct{ name, text string }{
		{"inside a string", `{"text":"{{ .data.agent }}","channel":"#alerts"}`},
		{"outside a string", `{"text":{{ .data.agent }},"channel":"#alerts"}`},
		{"control characters, quotes, backslash, U+2028", `{"error":"{{ .data.error }}","again":{{ .data.error }}}`},
		{"numbers", `{"n":{{ .data.count }},"r":{{ .data.ratio }},"id":{{ .data.id }},"len":{{ len .data.tags }}}`},
		{"numbers in strings", `{"n":"{{ .data.count }}","id":"id-{{ .data.id }}"}`},
		{"null and booleans", `{"v":{{ .data.none }},"i":{{ index .data "missing" }},"b":{{ .data.yes }},"bs":"{{ .data.yes }}"}`},
		{"nested objects and arrays", `{"a":[{"b":"{{ .email }}"},{{ .data.tags }}],"o":{{ .data.obj }},"d":{"e":["{{ .data.obj.k }}",{{ .data.obj.n }}]}}`},
		{"escapes in the text", `{"t":"say \"{{ .data.agent }}\" \\","u":"\u00e9{{ .email }}\/","after":{{ .data.count }}}`},
		{"keys", `{"{{ .email }}":1,{{ .email }}:2}`},
		{"time", `{"at":{{ .time }},"s":"{{ .time }}"}`},
		{"whole body", `{{ .data.obj }}`},
		{"if", `{"t":"{{ if .data.yes }}{{ .data.agent }}{{ else }}none{{ end }}","u":{{ if .data.none }}"{{ .email }}"{{ else }}null{{ end }}}`},
		{"else if", `{"t":{{ if .data.none }}1{{ else if .data.yes }}"{{ .data.agent }}"{{ else }}3{{ end }}}`},
		{"range", `{"tags":[{{ range $i, $t := .data.tags }}{{ if $i }},{{ end }}"{{ $t }}"{{ end }}]}`},
		{"range else", `{"none":[{{ range .data.none }}{{ . }}{{ else }}"{{ .email }}"{{ end }}]}`},
		{"break and continue", `[{{ range .data.tags }}{{ if eq . "a" }}{{ continue }}{{ end }}"{{ . }}"{{ break }}{{ end }}]`},
		{"with", `{{ with .data.obj }}{"k":"{{ .k }}","n":{{ .n }}}{{ else }}null{{ end }}`},
		{"variables", `{{ $a := .data.agent }}{{ $a = printf "%s!" $a }}{"t":"{{ $a }}"}`},
		{"pipelines", `{"t":"{{ .data.agent | printf "%s!" }}","q":{{ .email | printf "%q" }}}`},
		{"comment and trim markers", `{"a": {{- /* c */ -}} {{- .data.count -}} }`},
		{"string context across actions", `{"t":"{{ .email }} is blocking us: {{ .data.error }}"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := parseText(t, tc.text)
			if err := jsontmpl.Escape(tmpl); err != nil {
				t.Fatal(err)
			}
			out := execute(t, tmpl)
			if !json.Valid([]byte(out)) {
				t.Errorf("not valid JSON: %s", out)
			}
			fmt.Fprintf(&golden, "## %s\n%s\n%s\n\n", tc.name, tc.text, out)
		})
	}
	checkGolden(t, "escape.golden", golden.String())
}

// TestEscapeNoValue executes templates that print nil (a null in the data,
// index of a missing key) inside a JSON string: no text stands for it, so
// the execution fails with a *NoValueError naming the action, rather than
// sending text/template's "<no value>".
func TestEscapeNoValue(t *testing.T) {
	for _, tc := range []struct{ name, text, action string }{
		{"null", `{"s":"{{ .data.none }}"}`, ".data.none"},
		{"index of a missing key", `{"s":"agent: {{ index .data "missing" }}"}`, `index .data "missing"`},
		{"in a branch", `{"s":"{{ if .data.yes }}{{ .data.none }}{{ end }}"}`, ".data.none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := parseText(t, tc.text)
			if err := jsontmpl.Escape(tmpl); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			err := tmpl.Execute(&b, data)
			var nv *jsontmpl.NoValueError
			if !errors.As(err, &nv) || nv.Action != tc.action {
				t.Fatalf("Execute = %q, %v; want a NoValueError of %q", b.String(), err, tc.action)
			}
			if !strings.Contains(err.Error(), "{{ with "+tc.action+" }}") {
				t.Errorf("error %q does not show the way out", err)
			}
		})
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), []byte(got), *update)
}

// TestEscapeKeepsData checks what a receiver decodes: each value printed
// from the event decodes to the value itself, as text inside a string and
// as itself outside one, and no key is added.
func TestEscapeKeepsData(t *testing.T) {
	d := data["data"].(map[string]any)
	for _, tc := range []struct {
		name, text string
		want       map[string]any
	}{
		{"injection inside a string", `{"text":"{{ .data.agent }}","channel":"#alerts"}`,
			map[string]any{"text": injection, "channel": "#alerts"}},
		{"injection outside a string", `{"text":{{ .data.agent }},"channel":"#alerts"}`,
			map[string]any{"text": injection, "channel": "#alerts"}},
		{"text around", `{"text":"<{{ .data.error }}> {{ .data.agent }}"}`,
			map[string]any{"text": "<" + d["error"].(string) + "> " + injection}},
		{"values", `{"n":{{ .data.count }},"id":{{ .data.id }},"r":{{ .data.ratio }},"v":{{ .data.none }},"b":{{ .data.yes }},"tags":{{ .data.tags }},"o":{{ .data.obj }}}`,
			map[string]any{"n": json.Number("3"), "id": json.Number("19421777396190490"), "r": json.Number("0.25"), "v": nil, "b": true,
				"tags": []any{"a", `b"c`}, "o": map[string]any{"k": `v"`, "n": json.Number("2")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := parseText(t, tc.text)
			if err := jsontmpl.Escape(tmpl); err != nil {
				t.Fatal(err)
			}
			out := execute(t, tmpl)
			if keys := jsontmpltest.Keys(t, out); len(keys) != len(tc.want) {
				t.Errorf("keys %q in %s, want %d", keys, out, len(tc.want))
			}
			dec := json.NewDecoder(strings.NewReader(out))
			dec.UseNumber()
			var got map[string]any
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", tc.want); g != w {
				t.Errorf("decoded\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// TestEscapeRefuses checks the templates Escape cannot escape: the error
// says why and where, and the template is left as it was.
func TestEscapeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		at         string // Location
		msg        string // in Description
	}{
		{"string left open", `{"t":"{{ .email }}`, "t:1:5", "JSON string that starts here is still open"},
		{"string left open on a later line", "{\"a\":1,\n \"t\":\"{{ .email }}\\\"}", "t:2:5", "still open"},
		{"if opens a string", `{"t":{{ if .data.yes }}"{{ .email }}{{ end }}"}`, "t:1:11", "{{if}} ends inside a JSON string in one branch and outside any JSON string in another"},
		{"else closes a string", `{"t":"{{ if .data.yes }}a{{ else }}"{{ end }}"}`, "t:1:12", "{{if}} ends inside a JSON string in one branch and outside any JSON string in another"},
		{"with opens a string", `{{ with .data.obj }}"{{ end }}`, "t:1:8", "{{with}} ends"},
		{"range opens a string", `[{{ range .data.tags }}"{{ . }}{{ end }}]`, "t:1:10", "{{range}} starts outside any JSON string and its body ends inside a JSON string"},
		{"range else opens a string", `[{{ range .data.tags }}1{{ else }}"{{ end }}]`, "t:1:10", "{{range}} ends"},
		{"break inside a string", `[{{ range .data.tags }}"{{ . }}{{ break }}"{{ end }}]`, "t:1:34", "{{break}} stands inside a JSON string, but its {{range}} starts outside"},
		{"continue inside a string", `[{{ range .data.tags }}"{{ if . }}{{ continue }}{{ end }}"{{ end }}]`, "t:1:37", "{{continue}} stands inside a JSON string"},
		{"after a backslash", `{"t":"\{{ .email }}"}`, "t:1:10", `an action after \ in a JSON string`},
		{"in a \\u escape", `{"t":"\u00{{ .email }}"}`, "t:1:13", `an action in a \u escape`},
		{"template", `{{ define "x" }}1{{ end }}{"a":{{ template "x" }}}`, "t:1:43", "{{template}} and {{block}} cannot be used"},
		{"block", `{"a":{{ block "x" . }}1{{ end }}}`, "t:1:14", "{{template}} and {{block}} cannot be used"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := parseText(t, tc.text)
			before := tmpl.Root.String()
			err := jsontmpl.Escape(tmpl)
			var e *jsontmpl.Error
			if !errors.As(err, &e) {
				t.Fatalf("Escape = %v, want an *Error", err)
			}
			if e.Location != tc.at || !strings.Contains(e.Description, tc.msg) {
				t.Errorf("error at %s: %q, want at %s: %q", e.Location, e.Description, tc.at, tc.msg)
			}
			if want := "template: " + e.Location + ": " + e.Description; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err, want)
			}
			if after := tmpl.Root.String(); after != before {
				t.Errorf("the refused template changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// TestEscaperMatchesTemplate checks that Escaper's functions print a
// string exactly as the escaped template does, inside a string and
// outside one.
func TestEscaperMatchesTemplate(t *testing.T) {
	for _, s := range []string{"", "plain", injection, data["data"].(map[string]any)["error"].(string), "bad \xff utf-8", "日本 \U0001F600"} {
		tmpl := parseText(t, `"{{ .s }}" {{ .s }}`)
		if err := jsontmpl.Escape(tmpl); err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		if err := tmpl.Execute(&got, map[string]any{"s": s}); err != nil {
			t.Fatal(err)
		}
		var fns []func(string) string
		for _, name := range []string{appended(t, tmpl, 1), appended(t, tmpl, 3)} {
			fn, ok := jsontmpl.Escaper(name)
			if !ok {
				t.Fatalf("Escaper(%q) not found", name)
			}
			fns = append(fns, fn)
		}
		if want := `"` + fns[0](s) + `" ` + fns[1](s); got.String() != want {
			t.Errorf("%q: template printed %s, Escaper's functions %s", s, got.String(), want)
		}
		if _, ok := jsontmpl.Escaper("print"); ok {
			t.Error(`Escaper("print") found`)
		}
	}
}

// appended returns the name of the function Escape appended to the
// action at index i of tmpl's nodes.
func appended(t *testing.T, tmpl *template.Template, i int) string {
	t.Helper()
	a, ok := tmpl.Root.Nodes[i].(*parse.ActionNode)
	if !ok {
		t.Fatalf("node %d is %T, want an action", i, tmpl.Root.Nodes[i])
	}
	cmds := a.Pipe.Cmds
	id, ok := cmds[len(cmds)-1].Args[0].(*parse.IdentifierNode)
	if !ok {
		t.Fatalf("action %s ends in no function", a)
	}
	return id.Ident
}
