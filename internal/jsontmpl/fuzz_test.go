package jsontmpl_test

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/hookd/hookd/internal/jsontmpl"
)

// maxOutput bounds what a fuzzed template may print; more is a failed
// execution, not a finding.
const maxOutput = 1 << 20

// capped is a writer that refuses to hold more than maxOutput bytes.
type capped struct{ strings.Builder }

var errTooLong = errors.New("output too long")

func (c *capped) Write(p []byte) (int, error) {
	if c.Len()+len(p) > maxOutput {
		return 0, errTooLong
	}
	return c.Builder.Write(p)
}

// fuzzData is the event as rules' templates see it, with s as every
// string that the event's sender writes.
func fuzzData(s string) map[string]any {
	return map[string]any{
		"email": s,
		"type":  "open",
		"time":  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		"data": map[string]any{
			"agent": s,
			"count": 3,
			"ratio": 0.25,
			"id":    19421777396190490,
			"none":  nil,
			"yes":   true,
			"tags":  []any{s, "b"},
			"obj":   map[string]any{"k": s, "n": 2},
		},
	}
}

// sameBranches reports whether every branch of t takes the same way on any
// two values of fuzzData that are both empty or both not, and every range
// is over data rather than a count: true when each {{if}}, {{with}} and
// {{range}} tests a field, a variable or dot alone.
func sameBranches(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return true
		}
		for _, c := range n.Nodes {
			if !sameBranches(c) {
				return false
			}
		}
	case *parse.IfNode:
		return simplePipe(n.Pipe) && sameBranches(n.List) && sameBranches(n.ElseList)
	case *parse.WithNode:
		return simplePipe(n.Pipe) && sameBranches(n.List) && sameBranches(n.ElseList)
	case *parse.RangeNode:
		return simplePipe(n.Pipe) && sameBranches(n.List) && sameBranches(n.ElseList)
	}
	return true
}

func simplePipe(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode, *parse.VariableNode, *parse.DotNode, *parse.ChainNode:
		return true
	}
	return false
}

// shape returns the kinds of the tokens of the JSON text s in order:
// what the values of the event cannot change.
func shape(t *testing.T, s string) string {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var b strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return b.String()
		}
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		switch tok := tok.(type) {
		case json.Delim:
			b.WriteString(tok.String())
		case string:
			b.WriteString("s")
		case json.Number:
			b.WriteString("n")
		case bool:
			b.WriteString("b")
		case nil:
			b.WriteString("0")
		}
	}
}

// FuzzEscape checks Escape on any template and any text from the event's
// sender. A template Escape refuses is a *jsontmpl.Error and is left as it
// was. One it accepts that prints JSON on a harmless event prints JSON on
// any, with the same tokens (objects, arrays, keys, strings, numbers) in
// the same order: whatever the sender writes can neither break the JSON
// nor add to it.
func FuzzEscape(f *testing.F) {
	for _, seed := range []struct{ text, s string }{
		{`{"text":"{{ .email }} opened with {{ .data.agent }}","channel":"#alerts","message_id":{{ .data.id }},"agent":{{ .data.agent }}}`, injection},
		{`{"agent":{{ index .data "agent" }},"none":{{ index .data "none" }}}`, "\u2028\"\\"},
		{`{"agent":{{ with .data.agent }}"{{ . }}"{{ else }}"unknown"{{ end }}}`, ""},
		{`[{{ range .data.tags }}"{{ . }}",{{ end }}0]`, "a\x00b"},
		{`{"t":{{ .time }},"s":"{{ .time }}","o":{{ .data.obj }},"os":"{{ .data.obj }}"}`, "</script>"},
		{`{"r":{{ .data.ratio }},"y":{{ .data.yes }},"n":"{{ .data.count }}","p":"{{ printf "%q" .email }}"}`, "\xff\xfe"},
		{`{"u":"\u00{{ .email }}"}`, "41"},
		{`{"a":"{{ if .email }}"{{ end }}}`, "x"},
		{`{{ define "x" }}{{ end }}{"a":{{ template "x" }}}`, "x"},
		{`{"k{{ .email }}":1}`, `":2,"`},
	} {
		f.Add(seed.text, seed.s)
	}
	f.Fuzz(func(t *testing.T, text, s string) {
		if len(text) > 4<<10 {
			return
		}
		tmpl, err := template.New("t").Option("missingkey=error").Parse(text)
		if err != nil || tmpl.Tree == nil || !sameBranches(tmpl.Tree.Root) {
			return
		}
		before := tmpl.Tree.Root.String()
		if err := jsontmpl.Escape(tmpl); err != nil {
			var je *jsontmpl.Error
			if !errors.As(err, &je) {
				t.Errorf("Escape: error %q (%T) is not a *jsontmpl.Error", err, err)
			}
			if after := tmpl.Tree.Root.String(); after != before {
				t.Errorf("Escape refused the template and changed it from %q to %q", before, after)
			}
			return
		}
		harmless := "x"
		if s == "" {
			harmless = ""
		}
		var want capped
		if err := tmpl.Execute(&want, fuzzData(harmless)); err != nil || !json.Valid([]byte(want.String())) {
			return
		}
		var got capped
		if err := tmpl.Execute(&got, fuzzData(s)); err != nil {
			if errors.Is(err, errTooLong) {
				return
			}
			var nv *jsontmpl.NoValueError
			if errors.As(err, &nv) {
				t.Errorf("%q: a value that is not nil has no value: %v", text, err)
			}
			return
		}
		if !json.Valid([]byte(got.String())) {
			t.Fatalf("%q renders JSON on a harmless event (%s) and not on %q: %s", text, want.String(), s, got.String())
		}
		if w, g := shape(t, want.String()), shape(t, got.String()); w != g {
			t.Errorf("%q renders %s on a harmless event and %s on %q: %s", text, w, g, s, got.String())
		}
	})
}
