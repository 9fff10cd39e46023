package listener_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	_ "github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/listener"
	_ "github.com/hookd/hookd/listener/mailjet"
	"github.com/hookd/hookd/listener/providertest"
	_ "github.com/hookd/hookd/listener/standardwebhooks"
)

const (
	basicUser = "hookd"
	basicPass = "s3cret-pass#:word"
	token     = "0123456789abcdef0123"
	// b64Token has characters a URL may carry encoded or not.
	b64Token = "Ab+Cd/Ef=Gh:ij@kl0123"
)

// server starts a listener over a fresh SQLite log and serves it on loopback.
func server(t *testing.T, maxBody int64) (string, eventlog.Log) {
	t.Helper()
	return serverLogged(t, maxBody, nil)
}

// serverLogged is server with the listener logging to logger.
func serverLogged(t *testing.T, maxBody int64, logger *slog.Logger) (string, eventlog.Log) {
	t.Helper()
	l, log := startWith(t, listener.Config{
		MaxBody: maxBody,
		Sources: []config.Source{
			{Name: "mailjet", Provider: "mailjet"},
			{Name: "basic", Provider: "mailjet", Auth: config.Auth{Basic: &config.BasicAuth{User: basicUser, Password: basicPass}}},
			{Name: "token", Provider: "mailjet", Path: "/in/tok", Auth: config.Auth{Token: &config.TokenAuth{Value: token, Param: "key"}}},
			{Name: "b64", Provider: "mailjet", Path: "/in/b64", Auth: config.Auth{Token: &config.TokenAuth{Value: b64Token, Param: "key"}}},
		},
	}, startOpts{logger: logger})
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(srv.Close)
	return srv.URL, log
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type reply struct {
	status int
	body   map[string]any
	header http.Header
	close  bool // the server closes the connection after this answer
}

func post(t *testing.T, method, url string, body []byte, hdr map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, close: resp.Close}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, url, raw)
		}
	}
	return r
}

func basic(user, pass string) map[string]string {
	r, _ := http.NewRequest("POST", "/", nil)
	r.SetBasicAuth(user, pass)
	return map[string]string{"Authorization": r.Header.Get("Authorization")}
}

func TestHookAnswers(t *testing.T) {
	open := fixture(t, "open.json")
	tests := []struct {
		name       string
		method     string
		path       string
		body       []byte
		hdr        map[string]string
		maxBody    int64
		wantStatus int
		wantErr    string // substring of the JSON error
		wantAcc    float64
	}{
		{name: "v1 object", method: "POST", path: "/hooks/mailjet", body: open, wantStatus: 200, wantAcc: 1},
		{name: "v2 array", method: "POST", path: "/hooks/mailjet", body: fixture(t, "grouped-v2.json"), wantStatus: 200, wantAcc: 7},
		{name: "basic ok", method: "POST", path: "/hooks/basic", body: open, hdr: basic(basicUser, basicPass), wantStatus: 200, wantAcc: 1},
		{name: "basic wrong password", method: "POST", path: "/hooks/basic", body: open, hdr: basic(basicUser, "nope"), wantStatus: 401, wantErr: "credentials"},
		{name: "basic wrong user", method: "POST", path: "/hooks/basic", body: open, hdr: basic("root", basicPass), wantStatus: 401, wantErr: "credentials"},
		{name: "basic missing", method: "POST", path: "/hooks/basic", body: open, wantStatus: 401, wantErr: "credentials"},
		{name: "token in query", method: "POST", path: "/in/tok?key=" + token, body: open, wantStatus: 200, wantAcc: 1},
		{name: "token in path", method: "POST", path: "/in/tok/" + token, body: open, wantStatus: 200, wantAcc: 1},
		{name: "token wrong", method: "POST", path: "/in/tok/" + token + "x", body: open, wantStatus: 401},
		{name: "token missing", method: "POST", path: "/in/tok", body: open, wantStatus: 401},
		{name: "token in path, each character percent-encoded", method: "POST", path: "/in/b64/" + url.QueryEscape(b64Token), body: open, wantStatus: 200, wantAcc: 1},
		{name: "token in path, only its slash encoded", method: "POST", path: "/in/b64/" + url.PathEscape(b64Token), body: open, wantStatus: 200, wantAcc: 1},
		{name: "token in query, encoded", method: "POST", path: "/in/b64?key=" + url.QueryEscape(b64Token), body: open, wantStatus: 200, wantAcc: 1},
		{name: "token in query, as it is", method: "POST", path: "/in/b64?key=" + b64Token, body: open, wantStatus: 200, wantAcc: 1},
		{name: "token in query, its plus a space", method: "POST", path: "/in/b64?key=" + strings.ReplaceAll(url.QueryEscape(b64Token), "%2B", "%20"), body: open, wantStatus: 401},
		{name: "token in default param name", method: "POST", path: "/in/tok?token=" + token, body: open, wantStatus: 401},
		{name: "unknown source", method: "POST", path: "/hooks/nope", body: open, wantStatus: 404, wantErr: "no route"},
		{name: "path segment without token auth", method: "POST", path: "/hooks/mailjet/extra", body: open, wantStatus: 404},
		{name: "GET on a hook", method: "GET", path: "/hooks/mailjet", wantStatus: 405, wantErr: "not allowed"},
		{name: "PUT on a hook", method: "PUT", path: "/hooks/mailjet", body: open, wantStatus: 405},
		{name: "too large", method: "POST", path: "/hooks/mailjet", body: bytes.Repeat([]byte(" "), 2048), maxBody: 1024, wantStatus: 413, wantErr: "larger than 1024"},
		{name: "malformed", method: "POST", path: "/hooks/mailjet", body: []byte(`{"event":`), wantStatus: 400, wantErr: "quarantined"},
		{name: "trailing slash", method: "POST", path: "/hooks/mailjet/", body: open, wantStatus: 404, wantErr: "not found: no route for /hooks/mailjet/ (did you mean /hooks/mailjet?)"},
		{name: "gzip without Content-Encoding", method: "POST", path: "/hooks/mailjet", body: gzipped(t, open), wantStatus: 400, wantErr: "body is gzip-compressed, sent without Content-Encoding: hookd takes bodies uncompressed"},
		{name: "form", method: "POST", path: "/hooks/mailjet", body: []byte("event=open&email=a%40b.c"), hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, wantStatus: 400, wantErr: "body sent as a form (Content-Type application/x-www-form-urlencoded), not JSON"},
		{name: "gzip", method: "POST", path: "/hooks/mailjet", body: open, hdr: map[string]string{"Content-Encoding": "gzip"}, wantStatus: 400, wantErr: `Content-Encoding "gzip": hookd takes bodies uncompressed`},
		{name: "time past 2261", method: "POST", path: "/hooks/mailjet", body: []byte(`{"event":"open","time":9300000000,"email":"a@b.c"}`), wantStatus: 400, wantErr: "event 0: time 2264-09-14T21:20:00Z is outside the years 1678 to 2261"},
		{name: "email too long", method: "POST", path: "/hooks/mailjet", body: []byte(`{"event":"open","time":1433103519,"email":"` + strings.Repeat("a", 996) + `@b.co"}`), wantStatus: 400, wantErr: "event 0: email of 1001 bytes, more than the 1000"},
		{name: "campaign too long", method: "POST", path: "/hooks/mailjet", body: []byte(`{"event":"open","time":1433103519,"email":"a@b.c","customcampaign":"` + strings.Repeat("c", 1001) + `"}`), wantStatus: 400, wantErr: "event 0: campaign of 1001 bytes"},
		{name: "email at the bound", method: "POST", path: "/hooks/mailjet", body: []byte(`{"event":"open","time":1433103519,"email":"` + strings.Repeat("a", 995) + `@b.co"}`), wantStatus: 200, wantAcc: 1},
		{name: "UTF-8 byte order mark", method: "POST", path: "/hooks/mailjet", body: append([]byte("\ufeff"), open...), wantStatus: 200, wantAcc: 1},
		{name: "identity encoding", method: "POST", path: "/hooks/mailjet", body: open, hdr: map[string]string{"Content-Encoding": "identity"}, wantStatus: 200, wantAcc: 1},
		{name: "empty body", method: "POST", path: "/hooks/mailjet", body: nil, wantStatus: 400, wantErr: "quarantined"},
		{name: "not UTF-8", method: "POST", path: "/hooks/mailjet", body: []byte("{\"event\":\"open\",\"time\":1433103519,\"email\":\"caf\xe9@b.c\"}"), wantStatus: 400, wantErr: "event 0: not UTF-8 at byte 46"},
		{name: "auth before parsing", method: "POST", path: "/hooks/basic", body: []byte(`{"event":`), wantStatus: 401},
		{name: "healthz", method: "GET", path: "/healthz", wantStatus: 200},
		{name: "healthz HEAD", method: "HEAD", path: "/healthz", wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := server(t, tt.maxBody)
			r := post(t, tt.method, url+tt.path, tt.body, tt.hdr)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %v)", r.status, tt.wantStatus, r.body)
			}
			if tt.wantStatus >= 400 {
				msg, _ := r.body["error"].(string)
				if msg == "" || !strings.Contains(msg, tt.wantErr) {
					t.Fatalf("error = %q, want it to contain %q", msg, tt.wantErr)
				}
				if strings.Contains(msg, basicPass) || strings.Contains(msg, token) {
					t.Fatalf("error reveals a secret: %q", msg)
				}
			}
			if tt.wantAcc > 0 && r.body["accepted"] != tt.wantAcc {
				t.Fatalf("accepted = %v, want %v", r.body["accepted"], tt.wantAcc)
			}
		})
	}
}

// TestTokenAtRoot: a source at the path "/" takes its token as the path's
// one segment, as any other source takes it after its path.
func TestTokenAtRoot(t *testing.T) {
	l, _ := startWith(t, listener.Config{Sources: []config.Source{
		{Name: "root", Provider: "mailjet", Path: "/", Auth: config.Auth{Token: &config.TokenAuth{Value: token}}},
	}}, startOpts{})
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(srv.Close)
	open := fixture(t, "open.json")
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/" + token, 200},
		{"/?token=" + token, 200},
		{"/" + token + "x", 401},
		{"/", 401},
	} {
		if r := post(t, "POST", srv.URL+tt.path, open, nil); r.status != tt.want {
			t.Errorf("POST %s: status %d, want %d (body %v)", strings.ReplaceAll(tt.path, token, "TOKEN"), r.status, tt.want, r.body)
		}
	}
}

func TestRejectedRequestsStoreNothing(t *testing.T) {
	url, log := server(t, 1024)
	open := fixture(t, "open.json")
	post(t, "POST", url+"/hooks/basic", open, basic(basicUser, "wrong"))
	post(t, "POST", url+"/in/tok", open, nil)
	post(t, "POST", url+"/hooks/mailjet", bytes.Repeat([]byte("x"), 4096), nil)
	if got := providertest.Messages(t, log, eventlog.TopicEvents, 0); len(got) != 0 {
		t.Fatalf("log holds %d events after rejected requests, want 0", len(got))
	}
}

func TestMalformedBodyIsQuarantined(t *testing.T) {
	url, log := server(t, 0)
	body := []byte(`[{"event":"open","time":1433103519,"email":"a@b.c"}, 42]`)
	r := post(t, "POST", url+"/hooks/mailjet", body, map[string]string{"Content-Type": "application/json"})
	if r.status != 400 {
		t.Fatalf("status = %d, want 400", r.status)
	}
	got := providertest.Messages(t, log, eventlog.TopicQuarantine, 1)
	if len(got) != 1 {
		t.Fatalf("quarantine holds %d bodies, want 1", len(got))
	}
	var q event.Quarantined
	if err := json.Unmarshal(got[0].Payload, &q); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q.Body, body) || q.Source != "mailjet" || q.Error == "" || q.ContentType != "application/json" {
		t.Fatalf("quarantined = %+v", q)
	}
	if events := providertest.Messages(t, log, eventlog.TopicEvents, 0); len(events) != 0 {
		t.Fatalf("a rejected batch appended %d events", len(events))
	}
}

// A provider retries a 400 like any failure, for up to a day: the retries
// of one malformed body are answered 400 and kept once.
func TestRetriedMalformedBodyIsQuarantinedOnce(t *testing.T) {
	url, log := server(t, 0)
	body := []byte(`{"event":"open","time":"yesterday"}`)
	first := post(t, "POST", url+"/hooks/mailjet", body, nil)
	for range 3 {
		retry := post(t, "POST", url+"/hooks/mailjet", body, nil)
		if retry.status != 400 || !strings.Contains(retry.body["error"].(string), "already quarantined") {
			t.Fatalf("retry = %d %v, want 400 already quarantined", retry.status, retry.body)
		}
	}
	if first.status != 400 || !strings.Contains(first.body["error"].(string), "quarantined as quarantine:") {
		t.Fatalf("first = %d %v, want 400 quarantined as ...", first.status, first.body)
	}
	// Another body, or the same one to another source, is kept too.
	other := post(t, "POST", url+"/hooks/mailjet", []byte(`{"event":"open","time":"today"}`), nil)
	elsewhere := post(t, "POST", url+"/hooks/basic", body, basic(basicUser, basicPass))
	for _, r := range []reply{other, elsewhere} {
		if r.status != 400 || !strings.Contains(r.body["error"].(string), "quarantined as") {
			t.Fatalf("answer = %d %v, want 400 quarantined as ...", r.status, r.body)
		}
	}
	if got := providertest.Messages(t, log, eventlog.TopicQuarantine, 3); len(got) != 3 {
		t.Fatalf("quarantine holds %d bodies, want 3", len(got))
	}
}

func TestDuplicatesAreCountedNotAppended(t *testing.T) {
	url, log := server(t, 0)
	open := fixture(t, "open.json")
	first := post(t, "POST", url+"/hooks/mailjet", open, nil)
	retry := post(t, "POST", url+"/hooks/mailjet", open, nil)
	if first.body["accepted"] != 1.0 || first.body["duplicates"] != 0.0 {
		t.Fatalf("first delivery = %v", first.body)
	}
	if retry.status != 200 || retry.body["accepted"] != 0.0 || retry.body["duplicates"] != 1.0 {
		t.Fatalf("retried delivery = %d %v, want 200 with 1 duplicate", retry.status, retry.body)
	}
	// The same event inside a Version 2 array is the same event.
	grouped := post(t, "POST", url+"/hooks/mailjet", fixture(t, "grouped-v2.json"), nil)
	if grouped.body["accepted"] != 6.0 || grouped.body["duplicates"] != 1.0 {
		t.Fatalf("grouped delivery = %v, want 6 accepted and 1 duplicate", grouped.body)
	}
	if got := providertest.Messages(t, log, eventlog.TopicEvents, 7); len(got) != 7 {
		t.Fatalf("log holds %d events, want 7", len(got))
	}
}

func TestConcurrentRequestsAreGroupCommitted(t *testing.T) {
	url, log := server(t, 0)
	const n = 200
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"event":"open","time":1433103519,"MessageID":%d,"email":"u%d@example.com"}`, 19421777396190490+i, i)
			resp, err := http.Post(url+"/hooks/mailjet", "application/json", strings.NewReader(body))
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Fatalf("a request got %d", s)
		}
	}
	got := providertest.Messages(t, log, eventlog.TopicEvents, n)
	if len(got) != n {
		t.Fatalf("log holds %d events, want %d", len(got), n)
	}
	seen := map[string]bool{}
	for _, m := range got {
		e, err := event.Unmarshal(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if e.Source != "mailjet" || e.Received.IsZero() || seen[e.ID] {
			t.Fatalf("bad or repeated event %+v", e)
		}
		seen[e.ID] = true
	}
}

// TestLogFailureAnswers503 checks that requests whose group commits fail
// are answered 503 with Retry-After and logged once each, and the cause once for the
// outage (then once a minute while it lasts), not once per commit nor once
// more per request by the error handler.
func TestLogFailureAnswers503(t *testing.T) {
	var logs testenv.Buffer
	url, log := serverLogged(t, 0, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	const n = 5
	for range n {
		r := post(t, "POST", url+"/hooks/mailjet", fixture(t, "open.json"), nil)
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("status = %d, want 503", r.status)
		}
		if msg, _ := r.body["error"].(string); !strings.Contains(msg, "retry") {
			t.Fatalf("error = %q", msg)
		}
		if got := r.header.Get("Retry-After"); got != "5" {
			t.Fatalf("Retry-After = %q, want 5", got)
		}
	}
	out := logs.String()
	for msg, want := range map[string]int{`msg="hook request"`: n, `msg="event log unavailable: group commit failed"`: 1, `msg="request failed"`: 0} {
		if got := strings.Count(out, msg); got != want {
			t.Errorf("%s logged %d times, want %d:\n%s", msg, got, want, out)
		}
	}
}

// gzipped returns body compressed with gzip.
func gzipped(t *testing.T, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
