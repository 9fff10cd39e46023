package mailjetunsub_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/mailjetunsub"
)

func TestDo(t *testing.T) {
	tests := []struct {
		name                 string
		params               map[string]any
		code                 int
		wantMethod, wantPath string
		wantBody             string
		wantErr              string
		wantPermanent        bool
		wantRefused          bool // the address alone: the target runs on
	}{
		{"unsub from a list, the event's email", map[string]any{"list_id": json.Number("42")}, 201,
			"POST", "/v3/REST/contactslist/42/managecontact", `{"Action":"unsub","Email":"bob@example.com"}`, "", false, false},
		{"remove, another email", map[string]any{"list_id": "7", "action": "remove", "email": "Ann <ANN@example.com>"}, 201,
			"POST", "/v3/REST/contactslist/7/managecontact", `{"Action":"remove","Email":"ann@example.com"}`, "", false, false},
		{"exclude from campaigns", map[string]any{"exclude": true}, 200,
			"PUT", "/v3/REST/contact/bob@example.com", `{"IsExcludedFromCampaigns":true}`, "", false, false},
		{"401 is permanent", map[string]any{"list_id": "42"}, 401,
			"POST", "/v3/REST/contactslist/42/managecontact", `{"Action":"unsub","Email":"bob@example.com"}`, "401", true, false},
		{"404 to the exclusion and to its creation is permanent", map[string]any{"exclude": true}, 404,
			"POST", "/v3/REST/contact", `{"Email":"bob@example.com","IsExcludedFromCampaigns":true}`, "404", true, false},
		{"404 to a list is permanent", map[string]any{"list_id": "42"}, 404,
			"POST", "/v3/REST/contactslist/42/managecontact", `{"Action":"unsub","Email":"bob@example.com"}`, "404", true, false},
		{"400 refuses the address alone", map[string]any{"list_id": "42"}, 400,
			"POST", "/v3/REST/contactslist/42/managecontact", `{"Action":"unsub","Email":"bob@example.com"}`, "400", true, true},
		{"429 is retried", map[string]any{"list_id": "42"}, 429,
			"POST", "/v3/REST/contactslist/42/managecontact", `{"Action":"unsub","Email":"bob@example.com"}`, "429", false, false},
		{"500 is retried", map[string]any{"list_id": "42"}, 500,
			"POST", "/v3/REST/contactslist/42/managecontact", `{"Action":"unsub","Email":"bob@example.com"}`, "500", false, false},
	}
	kind, err := actions.Lookup(mailjetunsub.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var method, path, body string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				method, path, body = r.Method, r.URL.Path, string(b)
				if u, p, _ := r.BasicAuth(); u != "key" || p != "secret-value" {
					t.Errorf("basic auth %q:%q", u, p)
				}
				w.WriteHeader(tt.code)
				io.WriteString(w, `{}`)
			}))
			defer srv.Close()
			err := kind.Action().Do(context.Background(), actions.Call{
				Key: "r/0/e", Rule: "r", EventID: "e", Params: tt.params,
				Event:    json.RawMessage(`{"id":"e","email":"bob@example.com"}`),
				Settings: actions.Settings{Mailjet: &actions.Mailjet{APIURL: srv.URL, APIKey: "key", APISecret: "secret-value"}},
			})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Do = %v, want %q", err, tt.wantErr)
			}
			if err != nil && actions.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v", actions.IsPermanent(err), tt.wantPermanent)
			}
			if actions.IsRefused(err) != tt.wantRefused {
				t.Errorf("refused = %v, want %v", actions.IsRefused(err), tt.wantRefused)
			}
			if method != tt.wantMethod || path != tt.wantPath || body != tt.wantBody {
				t.Errorf("request %s %s %s\nwant %s %s %s", method, path, body, tt.wantMethod, tt.wantPath, tt.wantBody)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	kind, _ := actions.Lookup(mailjetunsub.Name)
	tests := []struct {
		name    string
		params  map[string]any
		wantErr string
	}{
		{"list", map[string]any{"list_id": int64(42)}, ""},
		{"exclude", map[string]any{"exclude": true}, ""},
		{"neither", map[string]any{}, "list_id: want list_id"},
		{"both", map[string]any{"list_id": int64(1), "exclude": true}, "exclude: give either"},
		{"bad action", map[string]any{"list_id": int64(1), "action": "delete"}, "action: want unsub or remove"},
		{"bad list", map[string]any{"list_id": "abc"}, "list_id: want a positive number"},
		{"templated list", map[string]any{"list_id": "{{ .campaign }}"}, "list_id: must not be a template"},
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

// TestDoRetryAfter checks that the Retry-After of a 429 from Mailjet's
// rate limits reaches the runner (actions.RetryAfter), which waits as
// long before the next attempt.
func TestDoRetryAfter(t *testing.T) {
	kind, err := actions.Lookup(mailjetunsub.Name)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	err = kind.Action().Do(context.Background(), actions.Call{
		Key: "r/0/e", Rule: "r", EventID: "e", Params: map[string]any{"list_id": "42"},
		Event:    json.RawMessage(`{"id":"e","email":"bob@example.com"}`),
		Settings: actions.Settings{Mailjet: &actions.Mailjet{APIURL: srv.URL, APIKey: "key", APISecret: "secret-value"}},
	})
	if err == nil || actions.IsPermanent(err) || !strings.HasSuffix(err.Error(), "429 Too Many Requests (Retry-After: 1m)") {
		t.Errorf("Do = %v, want a 429 retried after 1m", err)
	}
}

// TestDoExcludeUnknownContact excludes addresses from campaigns on a
// server that, as Mailjet does, answers 404 to the update of a contact it
// does not have and 400 to the creation of one it has: an unknown address
// is created excluded, rather than dead-lettered (which would suspend
// every later exclusion), and one created meanwhile is updated.
func TestDoExcludeUnknownContact(t *testing.T) {
	kind, err := actions.Lookup(mailjetunsub.Name)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	contacts := map[string]bool{"known@example.com": false} // address: excluded
	var requests []string
	raceOn := "" // an address created by someone else right after its 404
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		b, _ := io.ReadAll(r.Body)
		requests = append(requests, r.Method+" "+r.URL.Path)
		var body struct {
			Email                   string
			IsExcludedFromCampaigns bool
		}
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		switch {
		case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/v3/REST/contact/"):
			email := strings.TrimPrefix(r.URL.Path, "/v3/REST/contact/")
			if _, ok := contacts[email]; !ok {
				if email == raceOn {
					contacts[email] = false
				}
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, `{"ErrorInfo":"","ErrorMessage":"Object not found","StatusCode":404}`)
				return
			}
			contacts[email] = body.IsExcludedFromCampaigns
			io.WriteString(w, `{"Count":1,"Data":[{}],"Total":1}`)
		case r.Method == "POST" && r.URL.Path == "/v3/REST/contact":
			if _, ok := contacts[body.Email]; ok {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"ErrorInfo":"","ErrorMessage":"MJ18 A Contact resource with value \"`+body.Email+`\" for Email already exists.","StatusCode":400}`)
				return
			}
			contacts[body.Email] = body.IsExcludedFromCampaigns
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"Count":1,"Data":[{}],"Total":1}`)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	defer srv.Close()
	tests := []struct {
		email string
		race  bool
		want  []string
	}{
		{"known@example.com", false, []string{"PUT /v3/REST/contact/known@example.com"}},
		{"new@example.com", false, []string{"PUT /v3/REST/contact/new@example.com", "POST /v3/REST/contact"}},
		{"racing@example.com", true, []string{"PUT /v3/REST/contact/racing@example.com", "POST /v3/REST/contact", "PUT /v3/REST/contact/racing@example.com"}},
	}
	for _, tt := range tests {
		mu.Lock()
		requests = nil
		if tt.race {
			raceOn = tt.email
		}
		mu.Unlock()
		err := kind.Action().Do(context.Background(), actions.Call{
			Key: "r/0/e", Rule: "r", EventID: "e", Params: map[string]any{"exclude": true},
			Event:    json.RawMessage(`{"id":"e","email":"` + tt.email + `"}`),
			Settings: actions.Settings{Mailjet: &actions.Mailjet{APIURL: srv.URL, APIKey: "key", APISecret: "secret-value"}},
		})
		mu.Lock()
		if err != nil {
			t.Errorf("%s: Do = %v", tt.email, err)
		}
		if !contacts[tt.email] {
			t.Errorf("%s is not excluded", tt.email)
		}
		if strings.Join(requests, ", ") != strings.Join(tt.want, ", ") {
			t.Errorf("%s: requests %q, want %q", tt.email, requests, tt.want)
		}
		mu.Unlock()
	}
}

// TestDoTimeout unsubscribes at a Mailjet that takes the request and
// never answers: the attempt ends at the action's timeout, retried.
func TestDoTimeout(t *testing.T) {
	kind, err := actions.Lookup(mailjetunsub.Name)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	err = kind.Action().Do(context.Background(), actions.Call{
		Key: "r/0/e", Rule: "r", EventID: "e", Params: map[string]any{"list_id": "42", "timeout": "300ms"},
		Event:    json.RawMessage(`{"id":"e","email":"bob@example.com"}`),
		Settings: actions.Settings{Mailjet: &actions.Mailjet{APIURL: srv.URL, APIKey: "key", APISecret: "secret-value"}},
	})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Do took %s, want about 300ms", took)
	}
	if err == nil || actions.IsPermanent(err) || !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Errorf("Do = %v (permanent %v), want no answer within 300ms, retried", err, actions.IsPermanent(err))
	}
}
