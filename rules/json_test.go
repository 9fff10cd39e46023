package rules_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/rules"
)

// jsonBodies stands for the actions registry's JSON hook: an http
// action's body is JSON text unless content_type names another type.
func jsonBodies(typ string, params map[string]any) []string {
	if typ != "http" {
		return nil
	}
	if ct, ok := params["content_type"].(string); ok && ct != "application/json" && !strings.HasSuffix(ct, "+json") {
		return nil
	}
	return []string{"body"}
}

// agentInjection is a Mailjet open's agent, the opener's user agent,
// written to override a key of a JSON body.
const agentInjection = `x","channel":"#general","text":"pwned`

// TestJSONBody evaluates http bodies written as JSON text on an event
// whose data would inject keys into them: with the JSON hook, what their
// templates print is escaped for where it stands, and nothing else is.
func TestJSONBody(t *testing.T) {
	dir := t.TempDir()
	src := `rules:
  - name: alert
    when: type == "open"
    actions:
      - http:
          url: https://example.com/
          body: '{"text":"{{ .data.agent }}","channel":"#alerts","campaign":{{ .data.mj_campaign_id }},"email":{{ .email }}}'
          headers: { X-Agent: "{{ .data.agent }}" }
      - http: { url: https://example.com/, content_type: application/vnd.example+json, body: '["{{ .email }}", {{ .domain }}]' }
      - http: { url: https://example.com/, content_type: text/plain, body: 'agent "{{ .data.agent }}"' }
      - http: { url: https://example.com/, body: { text: "{{ .data.agent }}", channel: "#alerts" } }
      - log: { message: '{"text":"{{ .data.agent }}"}' }
`
	if err := os.WriteFile(filepath.Join(dir, "json.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	e := mj(t, "open", map[string]any{"agent": agentInjection, "email": `a"b@example.com`})
	render := func(opts rules.Options) []map[string]any {
		t.Helper()
		opts.Dir = dir
		set, err := rules.Load(context.Background(), []string{"json.yaml"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		matches, err := set.Eval(context.Background(), e, memLog{e})
		if err != nil || len(matches) != 1 || matches[0].Err != nil {
			t.Fatalf("Eval: %v, %+v", err, matches)
		}
		var params []map[string]any
		for _, a := range matches[0].Actions {
			params = append(params, a.Params)
		}
		return params
	}

	got := render(rules.Options{JSON: jsonBodies})
	escaped := `x\",\"channel\":\"#general\",\"text\":\"pwned`
	want := []struct{ param, value string }{
		{"body", `{"text":"` + escaped + `","channel":"#alerts","campaign":7173,"email":"a\"b@example.com"}`},
		{"body", `["a\"b@example.com", "example.com"]`},
		{"body", `agent "` + agentInjection + `"`},
	}
	for i, w := range want {
		if v := got[i][w.param]; v != w.value {
			t.Errorf("actions[%d].%s = %s\nwant %s", i, w.param, v, w.value)
		}
	}
	if h := got[0]["headers"].(map[string]any)["X-Agent"]; h != agentInjection {
		t.Errorf("header X-Agent = %q, want the agent as it is", h)
	}
	if b := got[3]["body"].(map[string]any); b["text"] != agentInjection || b["channel"] != "#alerts" {
		t.Errorf("body written as a mapping = %q, want its text as it is (encoded as JSON when sent)", b)
	}
	if m := got[4]["message"]; m != `{"text":"`+agentInjection+`"}` {
		t.Errorf("log message = %q, want it as rendered", m)
	}

	// Without the hook no parameter is JSON: the body is rendered as
	// text, and the injection goes through.
	raw := render(rules.Options{})
	if b := raw[0]["body"]; b != `{"text":"`+agentInjection+`","channel":"#alerts","campaign":7173,"email":a"b@example.com}` {
		t.Errorf("without the JSON hook, body = %s", b)
	}
}
