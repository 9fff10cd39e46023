package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	_ "github.com/hookd/hookd/actions/email"
	_ "github.com/hookd/hookd/actions/http"
	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/internal/storetest"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/rules"
	"github.com/hookd/hookd/store"
)

// seedJobs projects four events through st's projector, each enqueuing a
// job, then runs the jobs by hand: job 1 (target a) dies, suspending a;
// job 2 (a) waits; job 3 (b) fails and waits for a retry; job 4 (c) is
// done.
func seedJobs(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	targets := map[string]string{"j1": "http POST a", "j2": "http POST a", "j3": "http POST b", "j4": "http POST c"}
	var events []event.Event
	for i, id := range []string{"j1", "j2", "j3", "j4"} {
		events = append(events, event.Event{ID: id, Source: "mailjet", Provider: "mailjet", Type: "bounce",
			Time: base.Add(time.Duration(i) * time.Minute), Received: base.Add(time.Duration(i) * time.Minute),
			Email: "ann@a.com", Domain: "a.com", Data: json.RawMessage(`{"event":"bounce"}`)})
	}
	storetest.Jobs(t, st, events, func(e event.Event) actions.Job {
		return actions.Job{Key: "notify/" + e.ID, Rule: "notify", Action: "http", Target: targets[e.ID],
			Params: json.RawMessage(`{"url":"https://a.example/hook"}`), Retry: "3x1m", EventID: e.ID}
	})

	claimed, err := st.Claim(ctx, "test", time.Now().Add(time.Millisecond), 10, 1, time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	byEvent := map[string]int64{}
	for _, j := range claimed {
		byEvent[j.EventID] = j.ID
	}
	if len(claimed) != 3 || byEvent["j1"] == 0 || byEvent["j3"] == 0 || byEvent["j4"] == 0 {
		t.Fatalf("claimed %+v, want the jobs of j1, j3 and j4", claimed)
	}
	if err := st.Finish(ctx, "test", []actions.Outcome{{ID: byEvent["j1"], Status: actions.Dead, Attempt: 1, Took: time.Second, Error: "503 Service Unavailable"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Finish(ctx, "test", []actions.Outcome{{ID: byEvent["j3"], Status: actions.Pending, Attempt: 1, Took: time.Second, Error: "timeout", Next: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Finish(ctx, "test", []actions.Outcome{{ID: byEvent["j4"], Status: actions.Done, Attempt: 1, Took: time.Second}}); err != nil {
		t.Fatal(err)
	}
}

// newJobsServer serves the API on a store holding seedJobs' jobs, with
// the rules status that status returns (nil for none), logging as JSON to
// logs when not nil.
func newJobsServer(t *testing.T, status func() rules.Status, logs io.Writer) *httptest.Server {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seedJobs(t, st)
	e := testEcho(t)
	deps := api.Deps{Store: st, Rules: status}
	if logs != nil {
		deps.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	api.Register(e.Group("/api"), deps)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, srv *httptest.Server, method, path string) (int, []byte) {
	t.Helper()
	code, body, _ := doHeader(t, srv, method, path)
	return code, body
}

// doHeader is do that also returns the answer's header.
func doHeader(t *testing.T, srv *httptest.Server, method, path string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// A HEAD answer has no body, so hookd's error handler gives it no type.
	if ct := resp.Header.Get("Content-Type"); method != http.MethodHead && ct != "application/json" {
		t.Errorf("%s %s: Content-Type = %q, want application/json", method, path, ct)
	}
	return resp.StatusCode, body, resp.Header
}

// clockFields are the JSON fields holding the time of the test run, which
// golden files cannot hold.
var clockFields = regexp.MustCompile(`"(created|updated|next_at|started|suspended_at|loaded|checked)":"[^"]*"`)

// stable replaces in body the times of the test run and the paths under
// dir, so that it compares with a golden file.
func stable(body []byte, dir string) []byte {
	s := clockFields.ReplaceAllString(string(body), `"$1":"TIME"`)
	if dir != "" {
		quoted, _ := json.Marshal(dir)
		s = strings.ReplaceAll(s, strings.Trim(string(quoted), `"`), "DIR")
	}
	return []byte(s)
}

func TestJobs(t *testing.T) {
	var logs testenv.Buffer
	srv := newJobsServer(t, nil, &logs)
	// In order: the POSTs change what follows.
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"jobs_all", "GET", "/api/jobs", 200},
		{"jobs_page", "GET", "/api/jobs?limit=2", 200},
		{"jobs_status_rule_event", "GET", "/api/jobs?status=pending&rule=notify&event_id=j3", 200},
		{"jobs_bad_status", "GET", "/api/jobs?status=failed", 400},
		{"jobs_unknown_param", "GET", "/api/jobs?target=a", 400},
		{"job", "GET", "/api/jobs/1", 200},
		{"job_missing", "GET", "/api/jobs/99", 404},
		{"job_bad_id", "GET", "/api/jobs/one", 400},
		{"deadletters", "GET", "/api/deadletters", 200},
		{"deadletters_bad_cursor", "GET", "/api/deadletters?cursor=nope", 400},
		{"targets", "GET", "/api/targets", 200},
		{"targets_page", "GET", "/api/targets?limit=2", 200},
		{"targets_page_next", "GET", "/api/targets?limit=2&cursor=dGh0dHAgUE9TVCBi", 200},
		{"targets_suspended", "GET", "/api/targets?suspended=true", 200},
		{"targets_not_suspended", "GET", "/api/targets?suspended=false&limit=1", 200},
		{"targets_target", "GET", "/api/targets?target=http+POST+b", 200},
		{"targets_target_suspended", "GET", "/api/targets?target=http%20POST%20b&suspended=true", 200},
		{"targets_target_missing", "GET", "/api/targets?target=http+POST+z", 200},
		{"targets_bad_suspended", "GET", "/api/targets?suspended=yes", 400},
		{"targets_empty_target", "GET", "/api/targets?target=", 400},
		{"targets_bad_cursor", "GET", "/api/targets?cursor=nope", 400},
		{"targets_bad_limit", "GET", "/api/targets?limit=1001", 400},
		{"targets_unknown_param", "GET", "/api/targets?name=a", 400},
		{"retry_missing", "POST", "/api/deadletters/99/retry", 404},
		{"retry_not_dead", "POST", "/api/deadletters/2/retry", 404},
		{"retry", "POST", "/api/deadletters/1/retry", 200},
		{"deadletters_after_retry", "GET", "/api/deadletters", 200},
		{"resume_missing", "POST", "/api/targets/99/resume", 404},
		{"resume_bad_id", "POST", "/api/targets/0/resume", 400},
		{"resume", "POST", "/api/targets/1/resume", 200},
		{"targets_after_resume", "GET", "/api/targets", 200},
		{"rules_none", "GET", "/api/rules", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(t, srv, tt.method, tt.path)
			if status != tt.status {
				t.Errorf("status = %d, want %d; body %s", status, tt.status, body)
			}
			goldenJSON(t, tt.name, stable(body, ""))
		})
	}
	// An operator's retry and resume leave a trace in the log.
	for _, want := range []string{
		`"msg":"dead letter retried","job":1,"target":"http POST a","target_resumed":true,`,
		`"msg":"target resumed","target":"http POST a","pending":2,`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

// TestJobsBulk retries and resumes in bulk over the API after an outage
// that left a dead job and a suspended target per recipient, of two
// rules and two action kinds, and checks the counts each answer gives,
// that a filter selects what it names only, that a bare POST is refused
// rather than taken for all, and that repeating an answered request does
// nothing more.
func TestJobsBulk(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// Five recipients of rule welcome's email, and two http targets of
	// rule notify: each job dead, each target suspended.
	var events []event.Event
	for i := range 7 {
		id := fmt.Sprintf("e%d", i)
		events = append(events, event.Event{ID: id, Source: "mailjet", Provider: "mailjet", Type: "open",
			Time: base.Add(time.Duration(i) * time.Minute), Received: base, Email: id + "@a.com", Domain: "a.com", Data: json.RawMessage(`{}`)})
	}
	storetest.Jobs(t, st, events, func(e event.Event) actions.Job {
		if e.ID < "e5" {
			return actions.Job{Key: "welcome/" + e.ID, Rule: "welcome", Action: "email", Target: "email " + e.Email,
				Params: json.RawMessage(`{}`), EventID: e.ID}
		}
		return actions.Job{Key: "notify/" + e.ID, Rule: "notify", Action: "http", Target: "http POST " + e.ID,
			Params: json.RawMessage(`{"url":"https://a.example/hook"}`), EventID: e.ID}
	})
	claimed, err := st.Claim(ctx, "test", time.Now().Add(time.Millisecond), 10, 1, time.Minute, "")
	if err != nil || len(claimed) != 7 {
		t.Fatalf("claimed %d jobs, %v; want 7", len(claimed), err)
	}
	for _, j := range claimed {
		if err := st.Finish(ctx, "test", []actions.Outcome{{ID: j.ID, Status: actions.Dead, Attempt: 1, Error: "relay down"}}); err != nil {
			t.Fatal(err)
		}
	}
	var logs testenv.Buffer
	e := testEcho(t)
	api.Register(e.Group("/api"), api.Deps{Store: st, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	// In order: each changes what follows.
	tests := []struct {
		name, method, path string
		status             int
		body               string
	}{
		{"retry nothing selected", "POST", "/api/deadletters/retry", 400,
			`{"error":"give all=true to select every dead job, or one or more of rule, action, since"}`},
		{"retry all with a filter", "POST", "/api/deadletters/retry?all=true&rule=welcome", 400,
			`{"error":"all=true selects every dead job: give it without rule"}`},
		{"retry all=1", "POST", "/api/deadletters/retry?all=1", 400,
			`{"error":"all: \"1\"; want true, or leave it out and give rule, action, since"}`},
		{"retry empty rule", "POST", "/api/deadletters/retry?rule=", 400,
			`{"error":"rule: empty; leave it out not to filter"}`},
		{"retry unknown parameter", "POST", "/api/deadletters/retry?target=x", 400, ""},
		{"retry bad since", "POST", "/api/deadletters/retry?since=soon", 400, ""},
		{"retry GET", "GET", "/api/deadletters/retry", 405, ""},
		{"retry unknown action", "POST", "/api/deadletters/retry?action=emial", 400,
			`{"error":"action: \"emial\" is not an action kind (want one of: email, http)"}`},
		{"resume unknown action", "POST", "/api/targets/resume?action=emial&since=1h", 400,
			`{"error":"action: \"emial\" is not an action kind (want one of: email, http)"}`},
		{"retry since later", "POST", "/api/deadletters/retry?since=2100-01-01", 200, `{"retried":0,"targets_resumed":0}`},
		{"retry rule and action", "POST", "/api/deadletters/retry?rule=notify&action=email", 200, `{"retried":0,"targets_resumed":0}`},
		{"resume http", "POST", "/api/targets/resume?action=http", 200, `{"resumed":2}`},
		{"resume http again", "POST", "/api/targets/resume?action=http", 200, `{"resumed":0}`},
		{"retry rule", "POST", "/api/deadletters/retry?rule=notify&since=1h", 200, `{"retried":2,"targets_resumed":0}`},
		{"retry email", "POST", "/api/deadletters/retry?action=email", 200, `{"retried":5,"targets_resumed":5}`},
		{"retry all left", "POST", "/api/deadletters/retry?all=true", 200, `{"retried":0,"targets_resumed":0}`},
		{"resume nothing selected", "POST", "/api/targets/resume", 400,
			`{"error":"give all=true to select every suspended target, or one or more of action, since"}`},
		{"resume rule", "POST", "/api/targets/resume?rule=welcome", 400, ""},
		{"resume all", "POST", "/api/targets/resume?all=true", 200, `{"resumed":0}`},
	}
	for _, tt := range tests {
		status, body := do(t, srv, tt.method, tt.path)
		if status != tt.status || (tt.body != "" && strings.TrimSpace(string(body)) != tt.body) {
			t.Errorf("%s: %s %s = %d %s; want %d %s", tt.name, tt.method, tt.path, status, body, tt.status, tt.body)
		}
	}
	dead, err := st.DeadLetters(ctx, 0, "")
	if err != nil || len(dead.Jobs) != 0 {
		t.Errorf("dead letters left: %d, %v; want none", len(dead.Jobs), err)
	}
	ts, err := st.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range ts {
		if tg.Suspended || tg.Pending != 1 {
			t.Errorf("target %+v, want resumed with its retried job pending", tg)
		}
	}
	for _, want := range []string{
		`"msg":"dead letters retried","all":false,"rule":"","action":"email","since":"0001-01-01T00:00:00Z","jobs":5,"targets_resumed":5,`,
		`"msg":"targets resumed","all":false,"action":"http","since":"0001-01-01T00:00:00Z","targets":2,`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

// TestBodyRefused sends parameters in a request body, as a form (curl -d)
// or as JSON: no route reads a body, so each is refused naming the body,
// rather than answered as if the parameters were missing.
func TestBodyRefused(t *testing.T) {
	srv := newServer(t)
	for _, tt := range []struct {
		name, method, path, contentType, body string
		status                                int
		want                                  string
	}{
		{"form", "POST", "/api/deadletters/retry", "application/x-www-form-urlencoded", "all=true", 400,
			`{"error":"request body: POST /api/deadletters/retry takes no body; give its parameters in the query string (/api/deadletters/retry?name=value)"}`},
		{"json", "POST", "/api/targets/resume", "application/json", `{"all":true}`, 400,
			`{"error":"request body: POST /api/targets/resume takes no body; give its parameters in the query string (/api/targets/resume?name=value)"}`},
		{"form beside the query", "POST", "/api/deadletters/retry?all=true", "application/x-www-form-urlencoded", "rule=x", 400, ""},
		{"delete", "DELETE", "/api/suppressions/a@b.com", "text/plain", "a@b.com", 400, ""},
		{"get", "GET", "/api/events", "application/x-www-form-urlencoded", "type=open", 400, ""},
		{"empty body", "POST", "/api/deadletters/retry?all=true", "application/x-www-form-urlencoded", "", 200, `{"retried":0,"targets_resumed":0}`},
		{"chunked", "POST", "/api/deadletters/retry", "application/x-www-form-urlencoded", "chunked:all=true", 400, ""},
	} {
		// A reader of unknown length is sent chunked.
		var send io.Reader = strings.NewReader(tt.body)
		if b, ok := strings.CutPrefix(tt.body, "chunked:"); ok {
			send = io.MultiReader(strings.NewReader(b))
		}
		req, err := http.NewRequest(tt.method, srv.URL+tt.path, send)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", tt.contentType)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || (tt.want != "" && strings.TrimSpace(string(body)) != tt.want) {
			t.Errorf("%s: %s %s with body %q = %d %s; want %d %s", tt.name, tt.method, tt.path, tt.body, resp.StatusCode, body, tt.status, tt.want)
		}
	}
}

// TestEmptyChunkedBody sends a POST whose body is chunked and empty, as
// some clients send a POST without one: it has no parameter in it, so it
// is not refused.
func TestEmptyChunkedBody(t *testing.T) {
	srv := newServer(t)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/deadletters/retry?all=true HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"retried":0,"targets_resumed":0}` {
		t.Errorf("POST with an empty chunked body = %d %s; want 200", resp.StatusCode, body)
	}
}

// TestJobsRedactSecrets checks that no answer showing a job shows the
// secrets of an http action's parameters, its URL's password, path and
// query values and its header values, while the stored job keeps them.
func TestJobsRedactSecrets(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	params := map[string]any{
		"url":     "http://user:s3cretPW@127.0.0.1:19199/hooks/p4th-s3cret?token=q-s3cret",
		"headers": map[string]any{"Authorization": "Bearer h-s3cret", "X-Api-Key": "k-s3cret"},
	}
	kind, err := actions.Lookup("http")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	e := event.Event{ID: "s1", Source: "mailjet", Provider: "mailjet", Type: "bounce", Time: base, Received: base,
		Email: "ann@a.com", Domain: "a.com", Data: json.RawMessage(`{"event":"bounce"}`)}
	storetest.Jobs(t, st, []event.Event{e}, func(e event.Event) actions.Job {
		return actions.Job{Key: "notify/" + e.ID, Rule: "notify", Action: "http", Target: kind.Target(params),
			Params: raw, Retry: "3x1m", EventID: e.ID}
	})
	ec := testEcho(t)
	api.Register(ec.Group("/api"), api.Deps{Store: st})
	srv := httptest.NewServer(ec)
	t.Cleanup(srv.Close)

	secrets := []string{"s3cretPW", "p4th-s3cret", "q-s3cret", "h-s3cret", "k-s3cret"}
	check := func(t *testing.T, body []byte) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(string(body), s) {
				t.Errorf("answer holds the secret %q: %s", s, body)
			}
		}
		for _, want := range []string{
			`"url":"http://[redacted]@127.0.0.1:19199/[redacted]?token=[redacted]"`,
			`"headers":{"Authorization":"[redacted]","X-Api-Key":"[redacted]"}`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("answer lacks %s: %s", want, body)
			}
		}
	}
	for _, path := range []string{"/api/jobs", "/api/jobs/1", "/api/jobs?status=pending&event_id=s1"} {
		t.Run(path, func(t *testing.T) {
			status, body := do(t, srv, "GET", path)
			if status != 200 {
				t.Fatalf("status = %d, want 200; body %s", status, body)
			}
			check(t, body)
		})
	}

	// Dead, the job shows in /api/deadletters and in the answer to its
	// retry.
	if _, err := st.Claim(ctx, "test", time.Now().Add(time.Millisecond), 10, 1, time.Minute, ""); err != nil {
		t.Fatal(err)
	}
	if err := st.Finish(ctx, "test", []actions.Outcome{{ID: 1, Status: actions.Dead, Attempt: 1, Took: time.Second, Error: "503 Service Unavailable"}}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ method, path string }{
		{"GET", "/api/deadletters"},
		{"POST", "/api/deadletters/1/retry"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			status, body := do(t, srv, tt.method, tt.path)
			if status != 200 {
				t.Fatalf("status = %d, want 200; body %s", status, body)
			}
			check(t, body)
		})
	}

	// The runner still gets the real parameters.
	j, err := st.Job(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(j.Params) != string(raw) {
		t.Errorf("stored params = %s, want %s", j.Params, raw)
	}
}

func TestRules(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("testdata", "rules", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(file, good, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := rules.NewWatcher(context.Background(), []string{"rules.yaml"}, rules.Options{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := newJobsServer(t, w.Status, nil)

	status, body := do(t, srv, "GET", "/api/rules")
	if status != http.StatusOK {
		t.Fatalf("status = %d; body %s", status, body)
	}
	goldenJSON(t, "rules", stable(body, dir))

	// A broken file keeps the running rules and reports why.
	bad := strings.Replace(string(good), `type == "open"`, `type == `, 1)
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(context.Background()); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	status, body = do(t, srv, "GET", "/api/rules")
	if status != http.StatusOK {
		t.Fatalf("status = %d; body %s", status, body)
	}
	goldenJSON(t, "rules_errors", stable(body, dir))

	status, body = do(t, srv, "GET", "/api/rules?verbose=1")
	if status != http.StatusBadRequest {
		t.Errorf("status = %d, want 400; body %s", status, body)
	}
}
