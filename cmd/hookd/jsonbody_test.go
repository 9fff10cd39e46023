package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/jsontmpl/jsontmpltest"
)

// bodyReceiver is an HTTP server standing for a chat webhook: it records
// the body of each request by path.
type bodyReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got map[string][]string
}

func newBodyReceiver(t *testing.T) *bodyReceiver {
	r := &bodyReceiver{got: map[string][]string{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got[req.URL.Path] = append(r.got[req.URL.Path], string(b))
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

// wait waits, at most 30 s, until each of paths received a request, and
// returns the bodies received.
func (r *bodyReceiver) wait(t *testing.T, paths ...string) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		n := 0
		for _, p := range paths {
			if len(r.got[p]) > 0 {
				n++
			}
		}
		got := make(map[string][]string, len(r.got))
		for k, v := range r.got {
			got[k] = append([]string(nil), v...)
		}
		r.mu.Unlock()
		if n == len(paths) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the target received %q, want a request at each of %q", got, paths)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeRuleJSONBody runs hookd serve with rules whose http bodies are
// JSON text printing what an event's sender controls: a Mailjet open's
// agent (the opener's user agent) written to override the body's channel,
// and a bounce's error (from the recipient's mail server) with a quote and
// a line break. The target receives each value whole, inside the string
// the rule puts it in, and the rule's keys once; a body whose template
// leaves a string open does not load, and hookd check says where.
func TestServeRuleJSONBody(t *testing.T) {
	target := newBodyReceiver(t)
	src := `rules:
  - name: open-alert
    when: type == "open"
    actions:
      - http:
          url: "` + target.URL + `/open"
          body: '{"text":"{{ .data.agent }}","channel":"#alerts"}'
        retry: 3x10ms
  - name: bounce-alert
    when: type == "bounce"
    actions:
      - http:
          url: "` + target.URL + `/bounce"
          body: |
            {"text": "{{ .email }} bounced: {{ .data.error }}",
             "channel": "#alerts", "message_id": {{ .data.MessageID }}}
        retry: 3x10ms
      - http: { url: "` + target.URL + `/bounce-mapping", body: { text: "{{ .data.error }}" } }
        retry: 3x10ms
`
	config, rulesFile := rulesConfig(t, "", "alerts.yaml", src)
	if out, _, err := runHookd(t, "check", "--config", config); err != nil || !strings.Contains(out, "2 rules)") {
		t.Fatalf("hookd check: %q, %v", out, err)
	}

	const (
		agent  = `x","channel":"#general","text":"pwned`
		reason = "550 5.1.1 <bob@example.com>: \"no such user\"\nsee https://example.com/why"
	)
	open := map[string]any{}
	if err := json.Unmarshal([]byte(openEvent(1)), &open); err != nil {
		t.Fatal(err)
	}
	open["agent"] = agent
	bounce := map[string]any{"event": "bounce", "time": 1433103600, "MessageID": json.Number("19421777396190491"),
		"Message_GUID": "g-b", "email": "bob@example.com", "mj_campaign_id": 7173, "mj_contact_id": 9,
		"customcampaign": "", "CustomID": "", "Payload": "", "blocked": false, "hard_bounce": true,
		"error_related_to": "recipient", "error": reason}
	batch, err := json.Marshal([]any{open, bounce})
	if err != nil {
		t.Fatal(err)
	}

	p := startHookd(t, t.TempDir(), "--config", config)
	postHook(t, p.hooks, string(batch))
	got := target.wait(t, "/open", "/bounce", "/bounce-mapping")
	p.stop(t)

	for path, bodies := range got {
		if len(bodies) != 1 {
			t.Errorf("%s received %d requests, want 1: %q", path, len(bodies), bodies)
		}
	}
	openBody := got["/open"][0]
	if keys := jsontmpltest.Keys(t, openBody); strings.Join(keys, ",") != "text,channel" {
		t.Errorf("/open received keys %q, want text and channel once each: %s", keys, openBody)
	}
	var alert struct{ Text, Channel string }
	if err := json.Unmarshal([]byte(openBody), &alert); err != nil {
		t.Fatal(err)
	}
	if alert.Text != agent || alert.Channel != "#alerts" {
		t.Errorf("/open received text %q, channel %q; want the agent whole and #alerts (body %s)", alert.Text, alert.Channel, openBody)
	}

	bounceBody := got["/bounce"][0]
	if keys := jsontmpltest.Keys(t, bounceBody); strings.Join(keys, ",") != "text,channel,message_id" {
		t.Errorf("/bounce received keys %q: %s", keys, bounceBody)
	}
	var b struct {
		Text, Channel string
		MessageID     json.Number `json:"message_id"`
	}
	if err := json.Unmarshal([]byte(bounceBody), &b); err != nil {
		t.Fatalf("/bounce received %s: %v", bounceBody, err)
	}
	if want := "bob@example.com bounced: " + reason; b.Text != want || b.Channel != "#alerts" || b.MessageID != "19421777396190491" {
		t.Errorf("/bounce received %+v, want text %q, #alerts and the message id exact", b, want)
	}
	var m struct{ Text string }
	if err := json.Unmarshal([]byte(got["/bounce-mapping"][0]), &m); err != nil || m.Text != reason {
		t.Errorf("/bounce-mapping received %s (%v), want text %q", got["/bounce-mapping"][0], err, reason)
	}

	// A body whose template leaves a string open in one branch does not
	// load: hookd check names the file, the line, the rule and the body.
	broken := strings.Replace(src, `'{"text":"{{ .data.agent }}","channel":"#alerts"}'`,
		`'{"text":{{ if .data.agent }}"{{ .data.agent }}{{ end }}"}'`, 1)
	if err := os.WriteFile(rulesFile, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runHookd(t, "check", "--config", config)
	want := rulesFile + `:7:32: rule "open-alert": actions[0].http.body: {{if}} ends inside a JSON string in one branch and outside any JSON string in another`
	if err == nil || !strings.Contains(err.Error()+stderr, want) {
		t.Errorf("hookd check on a body that leaves a string open: %v\n%s\nwant it to say %q", err, stderr, want)
	}
}
