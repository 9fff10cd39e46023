package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/jsontmpl/jsontmpltest"

	"github.com/hookd/hookd/actions"
	httpaction "github.com/hookd/hookd/actions/http"
	hookdevent "github.com/hookd/hookd/event"
	"github.com/hookd/hookd/rules"
)

func TestJSONTexts(t *testing.T) {
	kind, err := actions.Lookup(httpaction.Name)
	if err != nil {
		t.Fatal(err)
	}
	url := "https://alerts.example.com/hook"
	for _, tc := range []struct {
		contentType string // "": none
		want        []string
	}{
		{"", []string{"body"}},
		{"application/json", []string{"body"}},
		{"Application/JSON; charset=utf-8", []string{"body"}},
		{"application/problem+json", []string{"body"}},
		{"text/plain", nil},
		{"application/x-ndjson", nil},
		{"text/", nil}, // Validate refuses it
	} {
		ps := map[string]any{"url": url, "body": `{"text":"{{ .email }}"}`}
		if tc.contentType != "" {
			ps["content_type"] = tc.contentType
		}
		if got := kind.(actions.JSONTexts).JSONTexts(ps); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("content_type %q: JSONTexts = %q, want %q", tc.contentType, got, tc.want)
		}
		if got := actions.JSONText(httpaction.Name, ps); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("content_type %q: actions.JSONText = %q, want %q", tc.contentType, got, tc.want)
		}
	}
}

// TestRuleBodyEscaped loads a rule whose http bodies print a Mailjet open's
// agent and error, which the opener and the recipient's mail server write,
// renders them for such an event as hookd does, and sends them to a server:
// what the event holds stays inside the string the rule puts it in.
func TestRuleBodyEscaped(t *testing.T) {
	srv, reqs := newServer(t, status(200))
	dir := t.TempDir()
	src := `rules:
  - name: alert
    when: type == "open"
    actions:
      - http:
          url: "` + srv.URL + `/text"
          body: '{"text":"{{ .data.agent }}","channel":"#alerts"}'
      - http:
          url: "` + srv.URL + `/values"
          body: |
            {"error": "{{ .email }}: {{ .data.error }}", "error_again": {{ .data.error }},
             "message_id": {{ .data.MessageID }}, "contact": "{{ .data.mj_contact_id }}", "at": {{ .time }}}
      - http:
          url: "` + srv.URL + `/mapping"
          body: { text: "{{ .data.agent }}", channel: "#alerts" }
      - http:
          url: "` + srv.URL + `/plain"
          content_type: text/plain
          body: 'agent: {{ .data.agent }}'
`
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{"rules.yaml"}, rules.Options{
		Dir: dir, Action: actions.Validate, Check: actions.CheckerOf, JSON: actions.JSONText,
	})
	if err != nil {
		t.Fatal(err)
	}
	const (
		agent   = `x","channel":"#general","text":"pwned`
		errText = "550 5.1.1 \"no such user\"\nC:\\ \u2028 <b>"
	)
	data, err := json.Marshal(map[string]any{"event": "open", "agent": agent, "error": errText,
		"MessageID": json.Number("19421777396190490"), "mj_contact_id": 320})
	if err != nil {
		t.Fatal(err)
	}
	e := hookdevent.Event{ID: "mailjet:1", Source: "mailjet", Provider: "mailjet", Type: "open",
		Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Email: "a@example.com", Domain: "example.com", Data: data}
	matches, err := set.Eval(context.Background(), e, nil)
	if err != nil || len(matches) != 1 || matches[0].Err != nil || len(matches[0].Actions) != 4 {
		t.Fatalf("Eval: %v %+v", err, matches)
	}
	kind, err := actions.Lookup(httpaction.Name)
	if err != nil {
		t.Fatal(err)
	}
	eventJSON, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range matches[0].Actions {
		// As a job keeps them: JSON, decoded with UseNumber.
		b, err := json.Marshal(a.Params)
		if err != nil {
			t.Fatal(err)
		}
		var params map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&params); err != nil {
			t.Fatal(err)
		}
		err = kind.Action().Do(context.Background(), actions.Call{Key: "alert/0/mailjet:1", Attempt: 1,
			Rule: "alert", EventID: e.ID, Params: params, Event: eventJSON})
		if err != nil {
			t.Fatalf("%s: %v", params["url"], err)
		}
		r := <-reqs
		got[r.path] = r.body
	}

	for _, path := range []string{"/text", "/mapping"} {
		if keys := jsontmpltest.Keys(t, got[path]); !reflect.DeepEqual(keys, []string{"text", "channel"}) && !reflect.DeepEqual(keys, []string{"channel", "text"}) {
			t.Errorf("%s: keys %q in %s, want text and channel once each", path, keys, got[path])
		}
		var body struct{ Text, Channel string }
		if err := json.Unmarshal([]byte(got[path]), &body); err != nil {
			t.Fatal(err)
		}
		if body.Text != agent || body.Channel != "#alerts" {
			t.Errorf("%s: text %q, channel %q; want the agent whole and #alerts", path, body.Text, body.Channel)
		}
	}
	var values map[string]any
	dec := json.NewDecoder(strings.NewReader(got["/values"]))
	dec.UseNumber()
	if err := dec.Decode(&values); err != nil {
		t.Fatalf("%s: %v", got["/values"], err)
	}
	want := map[string]any{
		"error": "a@example.com: " + errText, "error_again": errText,
		"message_id": json.Number("19421777396190490"), "contact": "320", "at": "2026-03-01T12:00:00Z",
	}
	if !reflect.DeepEqual(values, want) {
		t.Errorf("/values decodes to %#v\nwant %#v\n(body %s)", values, want, got["/values"])
	}
	if want := "agent: " + agent; got["/plain"] != want {
		t.Errorf("/plain body %q, want %q as rendered", got["/plain"], want)
	}
}
