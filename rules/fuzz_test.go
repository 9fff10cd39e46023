package rules_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	_ "github.com/hookd/hookd/actions/email"
	_ "github.com/hookd/hookd/actions/exec"
	_ "github.com/hookd/hookd/actions/http"
	_ "github.com/hookd/hookd/actions/log"
	_ "github.com/hookd/hookd/actions/mailjetsend"
	_ "github.com/hookd/hookd/actions/mailjetunsub"
	_ "github.com/hookd/hookd/actions/suppress"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/internal/jsontmpl/jsontmpltest"
	"github.com/hookd/hookd/rules"
)

// maxFuzzFile bounds the rule files the fuzz targets load: a rule file is
// written by hand, and the time to load one grows with its size.
const maxFuzzFile = 8 << 10

// fuzzOptions are the options hookd check and serve load rules with.
var fuzzOptions = rules.Options{Action: actions.Validate, Check: actions.CheckerOf, Body: actions.Body, JSON: actions.JSONText}

// fuzzLog is the state the fuzz targets evaluate against: a sent and an
// open of the address, before the event.
func fuzzLog() memLog {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(id, typ string, ago time.Duration) event.Event {
		return event.Event{ID: id, Source: "mailjet", Provider: "mailjet", Type: typ, Time: at.Add(-ago), Received: at.Add(-ago),
			Email: "a@example.com", Domain: "example.com", MessageID: "19421777396190490", Campaign: "spring",
			Data: json.RawMessage(`{"agent":"Mozilla","MessageID":19421777396190490,"error":"user unknown","hard_bounce":true}`)}
	}
	return memLog{mk("mailjet:1", "sent", time.Hour), mk("mailjet:2", "open", time.Minute)}
}

// fuzzEvent is the event the fuzz targets evaluate, of type typ with data.
func fuzzEvent(typ string, data json.RawMessage) event.Event {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return event.Event{ID: "mailjet:3", Source: "mailjet", Provider: "mailjet", Type: typ, Time: at, Received: at,
		Email: "a@example.com", Domain: "example.com", MessageID: "19421777396190490", Campaign: "spring",
		Category: event.Open, Data: data}
}

// loadFuzz writes src to dir's rules.yaml and loads it as hookd does,
// failing t when loading takes more than a few seconds.
func loadFuzz(t *testing.T, dir string, src []byte) (*rules.Set, string, error) {
	t.Helper()
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	opts := fuzzOptions
	opts.Dir = dir
	type result struct {
		set *rules.Set
		err error
	}
	done := make(chan result, 1)
	go func() {
		set, err := rules.Load(context.Background(), []string{"rules.yaml"}, opts)
		done <- result{set, err}
	}()
	select {
	case r := <-done:
		return r.set, path, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("Load has not returned after 10 s on %q", src)
		return nil, "", nil
	}
}

// checkLoadErrors checks that err, from loading the file path, is made of
// *rules.Error values located in that file.
func checkLoadErrors(t *testing.T, path string, err error) {
	t.Helper()
	for _, e := range unjoin(err) {
		var re *rules.Error
		if !errors.As(e, &re) {
			t.Errorf("error %q (%T) is not a *rules.Error", e, e)
			continue
		}
		if re.File != path || !strings.HasPrefix(re.Error(), path+":") {
			t.Errorf("error %q does not name the file %s", re, path)
		}
	}
}

// evalFuzz evaluates set on a few events, with Eval and Explain, failing
// t when that takes more than a few seconds.
func evalFuzz(t *testing.T, set *rules.Set, events ...event.Event) [][]rules.Match {
	t.Helper()
	done := make(chan [][]rules.Match, 1)
	go func() {
		var all [][]rules.Match
		for _, e := range events {
			for _, eval := range []func(context.Context, event.Event, rules.State) ([]rules.Match, error){set.Eval, set.Explain} {
				m, err := eval(context.Background(), e, fuzzLog())
				if err != nil {
					t.Errorf("evaluate %s: %v", e.Type, err)
				}
				all = append(all, m)
			}
		}
		done <- all
	}()
	select {
	case all := <-done:
		return all
	case <-time.After(10 * time.Second):
		t.Fatal("evaluating has not returned after 10 s")
		return nil
	}
}

// FuzzLoad checks Load on any rule file: it never panics nor hangs, every
// problem it reports is a *rules.Error naming the file, and a set that
// loads evaluates events without panicking. Its seeds are the rule files
// of testdata, so every go test runs it over them.
func FuzzLoad(f *testing.F) {
	files, err := filepath.Glob("testdata/*/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > maxFuzzFile {
			return
		}
		set, path, err := loadFuzz(t, dir, src)
		if err != nil {
			checkLoadErrors(t, path, err)
			return
		}
		evalFuzz(t, set, fuzzEvent("open", json.RawMessage(`{"agent":"Mozilla","error":"x","hard_bounce":false}`)),
			fuzzEvent("bounce", json.RawMessage(`{}`)))
	})
}

// FuzzRule checks a rule made of any when and once expressions and any
// parameter template, the parts of a rule file that are languages of their
// own: loading it never panics nor hangs, and evaluating it neither. The
// template is a log message, an exec argument and an http body (JSON
// text); when the rule fires, the body it renders is JSON.
func FuzzRule(f *testing.F) {
	for _, seed := range []struct{ when, once, param string }{
		{`type == "open"`, "", "{{ .email }}"},
		{`type == "open" && last("sent", "message_id") != nil && since(last("sent", "message_id").time) < duration("24h")`, `email + "/" + campaign`, `{"text":"{{ .data.agent }}"}`},
		{`type == "bounce" && data.hard_bounce`, "", `{"n":{{ .data.MessageID }}}`},
		{`count("blocked", "domain", "15m") > 0.6 * count("sent", "domain", "15m")`, "domain", `["{{ .domain }}", {{ .time }}]`},
		{`"x" in data && data.x matches "^a+$"`, `string(data.n ?? 0)`, `{{ with .data.agent }}"{{ . }}"{{ else }}null{{ end }}`},
		{`len(data) > 0 || any(keys(data), # startsWith "a")`, `email[0:3]`, `{"a":{{ range $k, $v := .data }}{{ $k }}{{ end }}}`},
		{`type ==`, `nil`, `{{ .emial }}`},
		{`1..10 | sum() > 3`, "", `{{ template "x" }}`},
		{`type == "open"`, "", `{{ range .data.MessageID }}{{ end }}`},
	} {
		f.Add(seed.when, seed.once, seed.param)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, when, once, param string) {
		if len(when)+len(once)+len(param) > maxFuzzFile {
			return
		}
		src := "rules:\n  - name: fuzz\n    when: " + yamlString(when) + "\n"
		if once != "" {
			src += "    once: " + yamlString(once) + "\n"
		}
		src += "    actions:\n" +
			"      - log: { message: " + yamlString(param) + " }\n" +
			"      - exec: { command: /bin/true, args: [" + yamlString(param) + "] }\n" +
			"      - http: { url: https://example.com/, body: " + yamlString(param) + " }\n"
		set, path, err := loadFuzz(t, dir, []byte(src))
		if err != nil {
			checkLoadErrors(t, path, err)
			return
		}
		for _, matches := range evalFuzz(t, set,
			fuzzEvent("open", json.RawMessage(`{"agent":"x\",\"channel\":\"#general","MessageID":19421777396190490,"x":"aaa","n":1.5}`)),
			fuzzEvent("bounce", json.RawMessage(`{"hard_bounce":true,"agent":null}`))) {
			for _, m := range matches {
				if m.Err != nil || len(m.Actions) == 0 {
					continue
				}
				body := m.Actions[2].Params["body"]
				if s, ok := body.(string); !ok || !json.Valid([]byte(s)) {
					t.Errorf("the http body renders as %#v, not JSON text", body)
				}
			}
		}
	})
}

// yamlString writes s as a YAML double-quoted scalar: JSON's escapes are
// YAML's.
func yamlString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// readmeBodies is a rule with the http bodies the README shows, written as
// JSON text and as a mapping, and a log message.
const readmeBodies = `rules:
  - name: readme
    when: type == "open"
    actions:
      - http:
          url: https://example.com/
          body: '{"text":"{{ .email }} opened with {{ .data.agent }}","channel":"#alerts","message_id":{{ .data.MessageID }},"agent":{{ .data.agent }}}'
      - http: { url: https://example.com/, body: '{"channel":"#alerts","agent":{{ index .data "agent" }}}' }
      - http: { url: https://example.com/, body: '{"channel":"#alerts","agent":{{ with .data.agent }}"{{ . }}"{{ else }}"unknown"{{ end }}}' }
      - http: { url: https://example.com/, body: { text: "{{ .domain }} is blocking us", channel: "#alerts" } }
      - log: { message: "{{ .email }} opened within a day" }
`

// FuzzJSONBody renders the http bodies the README shows over an event
// whose address, campaign and data are anything a sender may write. Every
// body renders, unless the data lacks a key that the first prints, as
// JSON holding the rule's keys alone, with the rule's channel: the event's
// data can neither break the JSON nor add a key. The bodies are rendered
// without the http action's check, so that this is the escaping's doing.
func FuzzJSONBody(f *testing.F) {
	for _, seed := range []struct{ email, campaign, data string }{
		{"a@example.com", "spring", `{"agent":"Mozilla","MessageID":19421777396190490}`},
		{`a"b@example.com`, "c\"1\n\u2028", `{"agent":"x\",\"channel\":\"#general","MessageID":1}`},
		{"", "", `{"agent":null,"MessageID":null}`},
		{"<b>&", "", `{"agent":{"k":["v\"",1e400]},"MessageID":-0.0e-7}`},
		{"\xff", "", `{"agent":"\ud800","MessageID":"1","agent":3}`},
		{"a@x", "", `{}`},
	} {
		f.Add(seed.email, seed.campaign, []byte(seed.data))
	}
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(readmeBodies), 0o600); err != nil {
		f.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{"rules.yaml"},
		rules.Options{Dir: dir, Action: actions.Validate, Body: actions.Body, JSON: actions.JSONText})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, email, campaign string, data []byte) {
		var fields map[string]any
		if json.Unmarshal(data, &fields) != nil || fields == nil {
			return
		}
		e := fuzzEvent("open", data)
		e.Email, e.Campaign = email, campaign
		matches := evalFuzz(t, set, e)[0]
		if len(matches) != 1 {
			t.Fatalf("%d matches, want 1", len(matches))
		}
		m := matches[0]
		if m.Err != nil {
			if fields["agent"] != nil && fields["MessageID"] != nil {
				t.Errorf("data with agent and MessageID: %v", m.Err)
			}
			return
		}
		for i, a := range m.Actions[:4] {
			var text []byte
			switch body := a.Params["body"].(type) {
			case string:
				text = []byte(body)
			case map[string]any:
				if text, err = json.Marshal(body); err != nil {
					t.Fatalf("action %d: body %#v: %v", i, body, err)
				}
			default:
				t.Fatalf("action %d: body %#v", i, body)
			}
			if !json.Valid(text) {
				t.Errorf("action %d: body is not JSON: %s", i, text)
				continue
			}
			keys := jsontmpltest.Keys(t, string(text))
			var obj map[string]any
			if err := json.Unmarshal(text, &obj); err != nil || len(obj) != len(keys) || obj["channel"] != "#alerts" {
				t.Errorf("action %d: body %s has keys %q, channel %v", i, text, keys, obj["channel"])
			}
		}
	})
}
