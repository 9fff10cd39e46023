package mailjetsend_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/mailjetsend"
	"github.com/hookd/hookd/store"
)

const secret = "mj-private-key-value"

type request struct {
	method, path, user, pass, body string
}

// mailjet stands in for Mailjet's API: it records each request and
// answers with code and body.
func mailjet(t *testing.T, code int, body string) (*httptest.Server, *[]request) {
	t.Helper()
	var reqs []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, p, _ := r.BasicAuth()
		reqs = append(reqs, request{r.Method, r.URL.Path, u, p, string(b)})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

const success = `{"Messages":[{"Status":"success","To":[{"Email":"a@example.com","MessageID":1}]}]}`

func TestDo(t *testing.T) {
	st, err := store.Open(context.Background(), store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Suppress(context.Background(), "gone@example.com", "spam", "r", "e"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		params        map[string]any
		code          int
		answer        string
		wantBody      string // "": no request
		wantErr       string
		wantPermanent bool
		wantRefused   bool // the message alone: its target runs on
		wantSkip      bool
	}{
		{
			name:   "text and html",
			params: map[string]any{"to": "A <a@example.com>", "subject": "Hi", "text": "t", "html": "<p>h</p>", "from": "Shop <shop@example.com>"},
			code:   200, answer: success,
			wantBody: `{"Messages":[{"From":{"Email":"shop@example.com","Name":"Shop"},"To":[{"Email":"a@example.com","Name":"A"}],"Subject":"Hi","TextPart":"t","HTMLPart":"<p>h</p>","CustomID":"hookd:rule/0/ev1","EventPayload":"{\"event_id\":\"ev1\",\"key\":\"rule/0/ev1\",\"rule\":\"rule\"}"}]}`,
		},
		{
			name:   "template with variables, a suppressed recipient left out",
			params: map[string]any{"to": "gone@example.com, b@example.com", "template_id": json.Number("4242"), "variables": map[string]any{"code": "X1", "n": json.Number("10")}},
			code:   200, answer: success,
			wantBody: `{"Messages":[{"To":[{"Email":"b@example.com"}],"TemplateID":4242,"TemplateLanguage":true,"Variables":{"code":"X1","n":10},"CustomID":"hookd:rule/0/ev1","EventPayload":"{\"event_id\":\"ev1\",\"key\":\"rule/0/ev1\",\"rule\":\"rule\"}"}]}`,
		},
		{
			name:   "a display name with a comma",
			params: map[string]any{"to": `"Doe, Jane" <jane@example.com>, b@example.com`, "subject": "Hi", "text": "t"},
			code:   200, answer: success,
			wantBody: `{"Messages":[{"To":[{"Email":"jane@example.com","Name":"Doe, Jane"},{"Email":"b@example.com"}],"Subject":"Hi","TextPart":"t","CustomID":"hookd:rule/0/ev1","EventPayload":"{\"event_id\":\"ev1\",\"key\":\"rule/0/ev1\",\"rule\":\"rule\"}"}]}`,
		},
		{
			name:     "only suppressed: skipped, no request",
			params:   map[string]any{"to": "GONE@example.com", "subject": "Hi", "text": "t"},
			wantSkip: true,
		},
		{
			name:   "401 dead-letters at once",
			params: map[string]any{"to": "a@example.com", "subject": "Hi", "text": "t"},
			code:   401, answer: `{"ErrorMessage":"API key authentication/authorization failure"}`,
			wantBody: "*", wantErr: "401", wantPermanent: true,
		},
		{
			name:   "400 is permanent, refusing the message alone",
			params: map[string]any{"to": "a@example.com", "subject": "Hi", "text": "t"},
			code:   400, answer: `{"Messages":[{"Status":"error","Errors":[{"ErrorCode":"mj-0013","StatusCode":400,"ErrorMessage":"bad"}]}]}`,
			wantBody: "*", wantErr: "400", wantPermanent: true, wantRefused: true,
		},
		{
			name:   "429 is retried",
			params: map[string]any{"to": "a@example.com", "subject": "Hi", "text": "t"},
			code:   429, answer: `{}`,
			wantBody: "*", wantErr: "429",
		},
		{
			name:   "503 is retried",
			params: map[string]any{"to": "a@example.com", "subject": "Hi", "text": "t"},
			code:   503, answer: `oops`,
			wantBody: "*", wantErr: "503",
		},
		{
			name:   "a 200 whose answer does not decode is done: a retry could send twice",
			params: map[string]any{"to": "a@example.com", "subject": "Hi", "text": "t"},
			code:   200, answer: `<html>ok</html>`,
			wantBody: "*",
		},
		{
			name:   "a 200 of no message is done",
			params: map[string]any{"to": "a@example.com", "subject": "Hi", "text": "t"},
			code:   200, answer: `{"Messages":[]}`,
			wantBody: "*",
		},
		{
			name:   "a per-message error in a 200 fails",
			params: map[string]any{"to": "a@example.com", "subject": "Hi", "text": "t"},
			code:   200, answer: `{"Messages":[{"Status":"error","Errors":[{"ErrorCode":"send-0003","StatusCode":500,"ErrorMessage":"internal"}]}]}`,
			wantBody: "*", wantErr: `message status "error": send-0003 500 internal`,
		},
		{
			name:   "a per-message 4xx error in a 200 is permanent",
			params: map[string]any{"to": "a@example.com", "subject": "Hi", "text": "t"},
			code:   200, answer: `{"Messages":[{"Status":"error","Errors":[{"ErrorCode":"mj-0004","StatusCode":400,"ErrorMessage":"Type mismatch"}]}]}`,
			wantBody: "*", wantErr: "mj-0004", wantPermanent: true, wantRefused: true,
		},
		{
			name:   "a per-message 404 error in a 200 says the target is wrong",
			params: map[string]any{"to": "a@example.com", "subject": "Hi", "text": "t"},
			code:   200, answer: `{"Messages":[{"Status":"error","Errors":[{"ErrorCode":"send-0008","StatusCode":404,"ErrorMessage":"Template not found"}]}]}`,
			wantBody: "*", wantErr: "send-0008", wantPermanent: true,
		},
	}
	kind, err := actions.Lookup(mailjetsend.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, reqs := mailjet(t, tt.code, tt.answer)
			err := kind.Action().Do(context.Background(), actions.Call{
				Key: "rule/0/ev1", Attempt: 1, Rule: "rule", EventID: "ev1", Params: tt.params, Event: json.RawMessage(`{}`),
				Settings: actions.Settings{Mailjet: &actions.Mailjet{APIURL: srv.URL, APIKey: "public", APISecret: secret}, Suppressions: st},
			})
			switch {
			case tt.wantSkip:
				if _, ok := actions.SkipNote(err); !ok {
					t.Fatalf("Do = %v, want a skip", err)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Do = %v, want an error containing %q", err, tt.wantErr)
				}
				if actions.IsPermanent(err) != tt.wantPermanent {
					t.Errorf("permanent = %v, want %v", actions.IsPermanent(err), tt.wantPermanent)
				}
				if actions.IsRefused(err) != tt.wantRefused {
					t.Errorf("refused = %v, want %v", actions.IsRefused(err), tt.wantRefused)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows the secret: %v", err)
				}
			case err != nil:
				t.Fatalf("Do: %v", err)
			}
			if tt.wantBody == "" {
				if len(*reqs) != 0 {
					t.Fatalf("%d requests, want none", len(*reqs))
				}
				return
			}
			if len(*reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(*reqs))
			}
			r := (*reqs)[0]
			if r.method != "POST" || r.path != "/v3.1/send" || r.user != "public" || r.pass != secret {
				t.Errorf("request %s %s as %s:%s", r.method, r.path, r.user, r.pass)
			}
			if tt.wantBody != "*" && r.body != tt.wantBody {
				t.Errorf("body\n%s\nwant\n%s", r.body, tt.wantBody)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	kind, _ := actions.Lookup(mailjetsend.Name)
	tests := []struct {
		name    string
		params  map[string]any
		wantErr string
	}{
		{"template", map[string]any{"to": "{{ .email }}", "template_id": int64(1), "variables": map[string]any{"a": "b"}}, ""},
		{"both", map[string]any{"to": "a@example.com", "template_id": int64(1), "text": "x"}, "template_id: give either"},
		{"no body", map[string]any{"to": "a@example.com", "subject": "s"}, "text: want text, html or template_id"},
		{"no subject", map[string]any{"to": "a@example.com", "text": "x"}, "subject: required"},
		{"variables without template", map[string]any{"to": "a@example.com", "subject": "s", "text": "x", "variables": map[string]any{}}, "variables: only with template_id"},
		{"bad from", map[string]any{"to": "a@example.com", "subject": "s", "text": "x", "from": "nope"}, "from: "},
		{"a display name with a comma", map[string]any{"to": `"Doe, Jane" <jane@example.com>`, "subject": "s", "text": "x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := kind.Validate(tt.params)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestCustomID(t *testing.T) {
	fits := strings.Repeat("k", mailjetsend.MaxCustomID-len("hookd:"))
	tests := []struct {
		name, key, want string
	}{
		{"a short key is kept", "discount/0/ev1", "hookd:discount/0/ev1"},
		{"a key that just fits is kept", fits, "hookd:" + fits},
		// "": the want is hookd:sha256: and the key's hash, computed
		// below.
		{"one byte more is hashed", "x" + fits, ""},
		{"a long once key is hashed", "welcome-series-for-new-customers/2/once:customer@a-rather-long-domain.example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mailjetsend.CustomID(tt.key)
			if len(got) > mailjetsend.MaxCustomID {
				t.Errorf("CustomID(%q) = %q: %d bytes, over %d", tt.key, got, len(got), mailjetsend.MaxCustomID)
			}
			want := tt.want
			if want == "" {
				sum := sha256.Sum256([]byte(tt.key))
				want = "hookd:sha256:" + hex.EncodeToString(sum[:])[:32]
			}
			if got != want {
				t.Errorf("CustomID(%q) = %q, want %q", tt.key, got, want)
			}
		})
	}
}

// TestLongKeyTraceable sends with a job key too long for CustomID: the
// request carries the short, stable CustomID, and EventPayload the whole
// key.
func TestLongKeyTraceable(t *testing.T) {
	kind, err := actions.Lookup(mailjetsend.Name)
	if err != nil {
		t.Fatal(err)
	}
	srv, reqs := mailjet(t, 200, success)
	key := "a-rule-with-a-descriptive-name/0/" + strings.Repeat("e", 60)
	call := actions.Call{
		Key: key, Attempt: 1, Rule: "a-rule-with-a-descriptive-name", EventID: strings.Repeat("e", 60),
		Params: map[string]any{"to": "a@example.com", "subject": "Hi", "text": "t"}, Event: json.RawMessage(`{}`),
		Settings: actions.Settings{Mailjet: &actions.Mailjet{APIURL: srv.URL, APIKey: "public", APISecret: secret}},
	}
	for attempt := 1; attempt <= 2; attempt++ {
		call.Attempt = attempt
		if err := kind.Action().Do(context.Background(), call); err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
	}
	if len(*reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(*reqs))
	}
	var ids []string
	for _, r := range *reqs {
		var body struct {
			Messages []struct{ CustomID, EventPayload string }
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || len(body.Messages) != 1 {
			t.Fatalf("body %s: %v", r.body, err)
		}
		m := body.Messages[0]
		var payload map[string]string
		if err := json.Unmarshal([]byte(m.EventPayload), &payload); err != nil || payload["key"] != key {
			t.Errorf("EventPayload %s: want the whole key %q (%v)", m.EventPayload, key, err)
		}
		ids = append(ids, m.CustomID)
	}
	if ids[0] != mailjetsend.CustomID(key) || ids[0] != ids[1] || len(ids[0]) > mailjetsend.MaxCustomID {
		t.Errorf("CustomIDs %q, want twice %q", ids, mailjetsend.CustomID(key))
	}
}

// TestDoRetryAfter checks that the Retry-After of a 429 from Mailjet's
// rate limits reaches the runner (actions.RetryAfter), which waits as
// long before the next attempt.
func TestDoRetryAfter(t *testing.T) {
	kind, err := actions.Lookup(mailjetsend.Name)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	err = kind.Action().Do(context.Background(), actions.Call{
		Key: "rule/0/ev1", Attempt: 1, Rule: "rule", EventID: "ev1", Event: json.RawMessage(`{}`),
		Params:   map[string]any{"to": "a@example.com", "subject": "Hi", "text": "t"},
		Settings: actions.Settings{Mailjet: &actions.Mailjet{APIURL: srv.URL, APIKey: "public", APISecret: secret}},
	})
	if err == nil || actions.IsPermanent(err) || !strings.HasSuffix(err.Error(), "429 Too Many Requests (Retry-After: 1m)") {
		t.Errorf("Do = %v, want a 429 retried after 1m", err)
	}
}

// TestDoTimeout sends to a Mailjet that takes the request and never
// answers: the attempt ends at the action's timeout, retried, rather than
// holding a worker for the default 30 s.
func TestDoTimeout(t *testing.T) {
	kind, err := actions.Lookup(mailjetsend.Name)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	err = kind.Action().Do(context.Background(), actions.Call{
		Key: "rule/0/ev1", Attempt: 1, Rule: "rule", EventID: "ev1", Event: json.RawMessage(`{}`),
		Params:   map[string]any{"to": "a@example.com", "subject": "Hi", "text": "t", "timeout": "300ms"},
		Settings: actions.Settings{Mailjet: &actions.Mailjet{APIURL: srv.URL, APIKey: "public", APISecret: secret}},
	})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Do took %s, want about 300ms", took)
	}
	if err == nil || actions.IsPermanent(err) || !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Errorf("Do = %v (permanent %v), want no answer within 300ms, retried", err, actions.IsPermanent(err))
	}
}
