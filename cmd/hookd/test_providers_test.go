package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener/standardwebhooks"
	"github.com/hookd/hookd/store"
)

// providersConfig has a source of each provider, and the rules
// providers-rules.yaml.
var providersConfig = filepath.Join("testdata", "test", "providers.yaml")

// TestTestProviders tests that test --source decodes a file as the
// source's provider does, with the source's map and the request headers
// --header gives, for each provider: the providers' documented payloads
// that the listener packages' tests decode.
func TestTestProviders(t *testing.T) {
	dir := filepath.Join("testdata", "test", "providers")
	tests := []struct {
		name, source, file string
		headers            []string
	}{
		{"mailjet", "mailjet", filepath.Join("testdata", "test", "bounce.json"), nil},
		{"sendgrid", "sendgrid", filepath.Join(dir, "sendgrid.json"), nil},
		{"mailgun", "mailgun", filepath.Join(dir, "mailgun.json"), nil},
		{"postmark", "postmark", filepath.Join(dir, "postmark.json"), nil},
		{"ses", "ses", filepath.Join(dir, "ses.json"), nil},
		// An SNS control message gives no events, as in serve.
		{"ses-subscription-confirmation", "ses", filepath.Join(dir, "ses-subscription-confirmation.json"), nil},
		// The id is the webhook-id header's, scoped by the source.
		{"standardwebhooks", "resend", filepath.Join(dir, "standardwebhooks.json"),
			[]string{"webhook-id: msg_2cXhL3bounce0000000000001"}},
		// The map reads the campaign from a header, in any case.
		{"generic", "esp", filepath.Join(dir, "generic.json"), []string{"x-campaign: spring"}},
		{"generic-no-header", "esp", filepath.Join(dir, "generic.json"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"test", "--config", providersConfig, "--source", tt.source, "--event", tt.file, "--json"}
			for _, h := range tt.headers {
				args = append(args, "--header", h)
			}
			stdout, stderr, err := runHookd(t, args...)
			if err != nil {
				t.Fatalf("err = %v; stderr %s", err, stderr)
			}
			goldenText(t, filepath.Join(dir, tt.name+".golden"), stdout+stderr)
		})
	}
}

// TestTestProviderErrors tests that a file the source's provider cannot
// decode is a usage error naming the file and what the decoder said, as is
// a malformed --header, and that a file that cannot be read is a failure,
// as a missing config file is; none prints a result.
func TestTestProviderErrors(t *testing.T) {
	dir := filepath.Join("testdata", "test", "providers")
	tests := []struct {
		name string
		args []string
		want []string
		code int
		// not is what the error must not say.
		not string
	}{
		{"a Mailjet object to SendGrid", []string{"--source", "sendgrid", "--event", filepath.Join("testdata", "test", "bounce.json")},
			[]string{"test: " + filepath.Join("testdata", "test", "bounce.json") + ": not a delivery the sendgrid source sendgrid takes: ", "decode sendgrid"}, exitUsage, ""},
		{"a SendGrid array to SES", []string{"--source", "ses", "--event", filepath.Join(dir, "sendgrid.json")},
			[]string{"test: " + filepath.Join(dir, "sendgrid.json") + ": not a delivery the ses source ses takes: decode SNS message"}, exitUsage, ""},
		{"no webhook-id", []string{"--source", "resend", "--event", filepath.Join(dir, "standardwebhooks.json")},
			[]string{"missing webhook-id (or svix-id)", "--header 'Name: value'"}, exitUsage, ""},
		// The map reads no header for what is missing: no hint of --header.
		{"a mapped id missing", []string{"--source", "esp", "--event", filepath.Join(dir, "sendgrid.json")},
			[]string{"not a delivery the generic source esp takes: decode generic delivery: element 0: map.id"}, exitUsage, "--header"},
		{"not a header", []string{"--source", "resend", "--event", filepath.Join(dir, "standardwebhooks.json"), "--header", "webhook-id msg_1"},
			[]string{`test: --header "webhook-id msg_1": want 'Name: value'`}, exitUsage, ""},
		{"no such file", []string{"--source", "esp", "--event", filepath.Join(dir, "missing.json")},
			[]string{"test: open " + filepath.Join(dir, "missing.json")}, exitFailure, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runHookd(t, append([]string{"test", "--config", providersConfig}, tt.args...)...)
			if err == nil {
				t.Fatalf("no error; stdout %s", stdout)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v, want one containing %q", err, want)
				}
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Errorf("err = %v, want one without %q", err, tt.not)
			}
			if code := exitCode(err); code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

// TestTestAsServed posts the fixtures of sources that serve can be given
// unsigned or signed here (generic with a header its map reads, Standard
// Webhooks signed with the source's secret, Postmark) to a real serve, and
// checks that what test shows for the same body and headers is what serve
// stored and explains: every field of every event, and each rule's
// outcome.
func TestTestAsServed(t *testing.T) {
	dir := filepath.Join("testdata", "test", "providers")
	p := startHookd(t, t.TempDir(), "--config", providersConfig)
	key, err := standardwebhooks.ParseSecret("whsec_1t3tN2MkQZCvArV2xC6jlXRhQYS8vL3JQkxGBoJwirI=")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, source, file string
		headers            map[string]string
		sign               bool
	}{
		{"generic", "esp", filepath.Join(dir, "generic.json"), map[string]string{"X-Campaign": "spring"}, false},
		{"standardwebhooks", "resend", filepath.Join(dir, "standardwebhooks.json"),
			map[string]string{"webhook-id": "msg_2cXhL3bounce0000000000001"}, true},
		{"postmark", "postmark", filepath.Join(dir, "postmark.json"), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"test", "--config", providersConfig, "--source", tt.source, "--event", tt.file, "--json"}
			for k, v := range tt.headers {
				args = append(args, "--header", k+": "+v)
			}
			stdout, stderr, err := runHookd(t, args...)
			if err != nil {
				t.Fatalf("test: %v; stderr %s", err, stderr)
			}
			var shown []testResult
			dec := json.NewDecoder(strings.NewReader(stdout))
			for dec.More() {
				var r testResult
				if err := dec.Decode(&r); err != nil {
					t.Fatal(err)
				}
				shown = append(shown, r)
			}
			if len(shown) == 0 {
				t.Fatal("test shows no event")
			}

			req, err := http.NewRequest(http.MethodPost, p.hooks+"/hooks/"+tt.source, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			if tt.sign {
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				req.Header.Set("webhook-timestamp", ts)
				req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(
					standardwebhooks.Sign(key, tt.headers["webhook-id"], ts, body)))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /hooks/%s: %s\n%s", tt.source, resp.Status, p.output())
			}

			for _, r := range shown {
				stored := servedEvent(t, p, r.Event.ID)
				got, want := r.Event, stored.Event
				if got.ID != want.ID || got.Type != want.Type || got.Email != want.Email || !got.Time.Equal(want.Time) ||
					got.Source != want.Source || got.Provider != want.Provider || got.Domain != want.Domain ||
					got.MessageID != want.MessageID || got.Campaign != want.Campaign || got.Category != want.Category ||
					got.BounceClass != want.BounceClass {
					t.Errorf("event %d: test shows %+v\nserve stored %+v", r.Index, got, want)
				}
				if !jsonEqual(t, got.Data, want.Data) {
					t.Errorf("event %d: test shows data %s, serve stored %s", r.Index, got.Data, want.Data)
				}
				x := stored.Explanation
				if len(r.Rules) != len(x.Rules) {
					t.Fatalf("event %d: test shows %d rules, serve explains %d", r.Index, len(r.Rules), len(x.Rules))
				}
				for j, rt := range r.Rules {
					outcome := string(x.Rules[j].Result)
					if x.Rules[j].Result == store.Fired {
						outcome = "match"
					}
					if rt.Rule != x.Rules[j].Rule || rt.Outcome != outcome {
						t.Errorf("event %d: test: %s %s; serve: %s %s", r.Index, rt.Rule, rt.Outcome, x.Rules[j].Rule, x.Rules[j].Result)
					}
				}
			}
		})
	}
}

// served is an event as GET /api/events/:id answers it.
type served struct {
	event.Event
	Explanation *store.Explanation `json:"explanation"`
}

// servedEvent waits, at most 30 s, until p has stored the event id and
// its rules' explanation, and returns them.
func servedEvent(t *testing.T, p *proc, id string) served {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.admin + "/api/events/" + url.PathEscape(id))
		if err != nil {
			t.Fatal(err)
		}
		var s served
		err = json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && err == nil && s.Explanation != nil {
			return s
		}
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusOK {
			t.Fatalf("GET event %s: %s", id, resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve has not stored event %s with its explanation (%s, %v)\n%s", id, resp.Status, err, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jsonEqual tells whether a and b hold the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var ca, cb bytes.Buffer
	if err := errors.Join(json.Compact(&ca, a), json.Compact(&cb, b)); err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
