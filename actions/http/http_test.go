package http_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	httpaction "github.com/hookd/hookd/actions/http"
	"github.com/hookd/hookd/internal/tlsfile/tlsfiletest"
	"github.com/hookd/hookd/rules"
)

const event = `{"id":"ev1","type":"blocked","domain":"example.com"}`

// request is what the test server saw of one request.
type request struct {
	method, path, query string
	header              http.Header
	body                string
	user, pass          string
	basic               bool
}

// newServer starts a loopback server that records each request and
// answers with answer; closing release (done at cleanup) unblocks a
// handler that waits for it.
func newServer(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, <-chan request) {
	t.Helper()
	reqs := make(chan request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		user, pass, basic := r.BasicAuth()
		reqs <- request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(b), user, pass, basic}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, reqs
}

// do runs the registered http action once with params.
func do(ctx context.Context, t *testing.T, params map[string]any) error {
	t.Helper()
	kind, err := actions.Lookup(httpaction.Name)
	if err != nil {
		t.Fatal(err)
	}
	return call(ctx, kind.Action(), params)
}

// call runs a once with params, as the runner would.
func call(ctx context.Context, a actions.Action, params map[string]any) error {
	return a.Do(ctx, actions.Call{
		Key: "rule/0/ev1", Attempt: 1, Rule: "rule", EventID: "ev1",
		Params: params, Event: json.RawMessage(event),
	})
}

func status(code int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func TestDo(t *testing.T) {
	tests := []struct {
		name          string
		params        map[string]any // url is the server's /hook
		status        int            // the answer; 0: 200
		wantErr       string         // "": success
		wantPermanent bool
		wantRefused   bool // the job alone is refused: its target runs on
		wantMethod    string
		wantBody      string
		wantHeader    map[string]string
	}{
		{
			name:       "event posted by default",
			params:     map[string]any{},
			wantMethod: "POST", wantBody: event,
			wantHeader: map[string]string{"Content-Type": "application/json", "Idempotency-Key": "rule/0/ev1", "User-Agent": "hookd"},
		},
		{
			name: "put with headers and a rendered body",
			params: map[string]any{
				"method":  "put",
				"headers": map[string]any{"Authorization": "Bearer abc", "X-Count": json.Number("5"), "user-agent": "shop/1"},
				"body":    `{"text":"example.com is blocking us"}`,
			},
			wantMethod: "PUT", wantBody: `{"text":"example.com is blocking us"}`,
			wantHeader: map[string]string{"Authorization": "Bearer abc", "X-Count": "5", "User-Agent": "shop/1", "Idempotency-Key": "rule/0/ev1"},
		},
		{
			name:       "body mapping sent as JSON",
			params:     map[string]any{"body": map[string]any{"text": "hi", "n": json.Number("12345678901234567890"), "tags": []any{"a", true}}},
			wantMethod: "POST", wantBody: `{"n":12345678901234567890,"tags":["a",true],"text":"hi"}`,
		},
		{
			name:       "other content type sent as is",
			params:     map[string]any{"body": "example.com: blocked", "content_type": "text/plain; charset=utf-8"},
			wantMethod: "POST", wantBody: "example.com: blocked",
			wantHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8"},
		},
		{name: "201", params: map[string]any{}, status: 201, wantMethod: "POST", wantBody: event},
		{name: "204", params: map[string]any{}, status: 204, wantMethod: "POST", wantBody: event},
		{name: "400", params: map[string]any{}, status: 400, wantMethod: "POST", wantBody: event, wantErr: "answered 400 Bad Request", wantPermanent: true, wantRefused: true},
		{name: "401", params: map[string]any{}, status: 401, wantMethod: "POST", wantBody: event, wantErr: "answered 401 Unauthorized", wantPermanent: true},
		{name: "403", params: map[string]any{}, status: 403, wantMethod: "POST", wantBody: event, wantErr: "answered 403 Forbidden", wantPermanent: true},
		{name: "404", params: map[string]any{}, status: 404, wantMethod: "POST", wantBody: event, wantErr: "answered 404 Not Found", wantPermanent: true},
		{name: "405", params: map[string]any{}, status: 405, wantMethod: "POST", wantBody: event, wantErr: "answered 405 Method Not Allowed", wantPermanent: true},
		{name: "407", params: map[string]any{}, status: 407, wantMethod: "POST", wantBody: event, wantErr: "answered 407 Proxy Authentication Required", wantPermanent: true},
		{name: "410", params: map[string]any{}, status: 410, wantMethod: "POST", wantBody: event, wantErr: "answered 410 Gone", wantPermanent: true},
		{name: "413", params: map[string]any{}, status: 413, wantMethod: "POST", wantBody: event, wantErr: "answered 413 Request Entity Too Large", wantPermanent: true, wantRefused: true},
		{name: "408", params: map[string]any{}, status: 408, wantMethod: "POST", wantBody: event, wantErr: "answered 408 Request Timeout"},
		{name: "409", params: map[string]any{}, status: 409, wantMethod: "POST", wantBody: event, wantErr: "answered 409 Conflict"},
		{name: "422", params: map[string]any{}, status: 422, wantMethod: "POST", wantBody: event, wantErr: "answered 422 Unprocessable Entity", wantPermanent: true, wantRefused: true},
		{name: "429", params: map[string]any{}, status: 429, wantMethod: "POST", wantBody: event, wantErr: "answered 429 Too Many Requests"},
		{name: "500", params: map[string]any{}, status: 500, wantMethod: "POST", wantBody: event, wantErr: "answered 500 Internal Server Error"},
		{name: "503", params: map[string]any{}, status: 503, wantMethod: "POST", wantBody: event, wantErr: "answered 503 Service Unavailable"},
		{
			name:    "header rendered with a line break",
			params:  map[string]any{"headers": map[string]any{"X-Email": "a@example.com\r\nX-Admin: 1"}},
			wantErr: "headers.X-Email: holds a line break", wantPermanent: true, wantRefused: true,
		},
		{
			name:    "header rendered longer than servers take",
			params:  map[string]any{"headers": map[string]any{"X-Agent": strings.Repeat("a", httpaction.MaxHeaderLine)}},
			wantErr: "headers.X-Agent: a header line of 8199 bytes, longer than servers take (8190)", wantPermanent: true, wantRefused: true,
		},
		{
			name:       "a header line as long as servers take",
			params:     map[string]any{"headers": map[string]any{"X-Agent": strings.Repeat("a", httpaction.MaxHeaderLine-len("X-Agent: "))}},
			wantMethod: "POST", wantBody: event,
		},
		{
			name:    "body not JSON after rendering",
			params:  map[string]any{"body": `{"text":"say "hi""}`},
			wantErr: "body: not valid JSON", wantPermanent: true, wantRefused: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := tt.status
			if code == 0 {
				code = 200
			}
			srv, reqs := newServer(t, status(code))
			tt.params["url"] = srv.URL + "/hook"
			err := do(t.Context(), t, tt.params)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Do: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Do = %v, want an error containing %q", err, tt.wantErr)
			case actions.IsPermanent(err) != tt.wantPermanent:
				t.Fatalf("Do = %v: permanent %v, want %v", err, actions.IsPermanent(err), tt.wantPermanent)
			case actions.IsRefused(err) != tt.wantRefused:
				t.Fatalf("Do = %v: refused %v, want %v", err, actions.IsRefused(err), tt.wantRefused)
			}
			if tt.wantMethod == "" {
				if len(reqs) != 0 {
					t.Fatalf("a request was sent: %+v", <-reqs)
				}
				return
			}
			r := <-reqs
			if r.method != tt.wantMethod || r.path != "/hook" || r.body != tt.wantBody {
				t.Errorf("request %s %s %q, want %s /hook %q", r.method, r.path, r.body, tt.wantMethod, tt.wantBody)
			}
			for k, v := range tt.wantHeader {
				if got := r.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestDoEscapesKey checks that a job key a header cannot carry is sent
// escaped, the same on every attempt.
func TestDoEscapesKey(t *testing.T) {
	srv, reqs := newServer(t, status(200))
	kind, _ := actions.Lookup(httpaction.Name)
	for attempt := 1; attempt <= 2; attempt++ {
		err := kind.Action().Do(t.Context(), actions.Call{
			Key: "rule/0/ev\r\n1", Attempt: attempt, Params: map[string]any{"url": srv.URL}, Event: json.RawMessage(event),
		})
		if err != nil {
			t.Fatalf("Do: %v", err)
		}
		if got := (<-reqs).header.Get("Idempotency-Key"); got != "rule%2F0%2Fev%0D%0A1" {
			t.Errorf("attempt %d: Idempotency-Key %q, want rule%%2F0%%2Fev%%0D%%0A1", attempt, got)
		}
	}
}

// TestDoLongKey checks that a job key longer than the 255 bytes Stripe
// and the idempotency middlewares modelled on it take is sent as its
// SHA-256, the same on every attempt, where such a server answered 400,
// dead-lettering the job.
func TestDoLongKey(t *testing.T) {
	srv, reqs := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header.Get("Idempotency-Key")) > httpaction.MaxIdempotencyKey {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	kind, _ := actions.Lookup(httpaction.Name)
	key := "clicks/0/once:https://example.com/landing?" + strings.Repeat("utm_campaign=spring&", 20)
	sum := sha256.Sum256([]byte(key))
	want := "sha256:" + hex.EncodeToString(sum[:])
	for attempt := 1; attempt <= 2; attempt++ {
		err := kind.Action().Do(t.Context(), actions.Call{
			Key: key, Attempt: attempt, Params: map[string]any{"url": srv.URL}, Event: json.RawMessage(event),
		})
		if err != nil {
			t.Fatalf("attempt %d: Do: %v", attempt, err)
		}
		if got := (<-reqs).header.Get("Idempotency-Key"); got != want {
			t.Errorf("attempt %d: Idempotency-Key %q, want %q", attempt, got, want)
		}
	}
}

// TestDoRedirect checks that no redirect is followed, to another host or
// the same one, with or without the body (307, 308), and that one is a
// permanent failure whose error says where it points, its path, query
// and userinfo redacted as the url's are.
func TestDoRedirect(t *testing.T) {
	elsewhere, elsewhereReqs := newServer(t, status(200))
	tests := []struct {
		name, to string
		code     int
		want     string // after "a redirect to "; SRV is the server's URL
	}{
		{"307 to another host", elsewhere.URL + "/steal?token=s3cret", http.StatusTemporaryRedirect, elsewhere.URL + "/[redacted]?token=[redacted]"},
		{"308 on the same host", "/moved", http.StatusPermanentRedirect, "SRV/[redacted]"},
		{"301 to https", "https://hooks.example.com/", http.StatusMovedPermanently, "https://hooks.example.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, reqs := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/hook" {
					http.Redirect(w, r, tt.to, tt.code)
				}
			})
			err := do(t.Context(), t, map[string]any{"url": srv.URL + "/hook"})
			want := fmt.Sprintf("answered %d %s (a redirect to %s, which hookd does not follow: set url to the final address)",
				tt.code, http.StatusText(tt.code), strings.Replace(tt.want, "SRV", srv.URL, 1))
			if err == nil || !actions.IsPermanent(err) || actions.IsRefused(err) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Do = %v, want a permanent error, not a refusal, containing %q", err, want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Do = %v: the redirect's query shown", err)
			}
			if len(reqs) != 1 || len(elsewhereReqs) != 0 {
				t.Fatalf("%d requests to the server and %d elsewhere, want 1 and 0", len(reqs), len(elsewhereReqs))
			}
		})
	}
}

// TestDoTimeout checks that a server that does not answer in time fails
// the attempt, to be retried, and that the caller's ctx ending is
// reported as such.
func TestDoTimeout(t *testing.T) {
	release := make(chan struct{})
	srv, reqs := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before srv.Close, which waits for handlers

	err := do(t.Context(), t, map[string]any{"url": srv.URL, "timeout": "50ms"})
	if err == nil || actions.IsPermanent(err) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("Do with a timeout = %v, want a retryable error saying no answer came", err)
	}
	<-reqs

	kind, _ := actions.Lookup(httpaction.Name)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- call(ctx, kind.Action(), map[string]any{"url": srv.URL}) }()
	select {
	case <-reqs: // the request is out; the server never answers
	case <-time.After(10 * time.Second):
		t.Fatal("no request arrived")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Do with its ctx cancelled = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Do did not return when its ctx was cancelled")
	}
}

// TestDoKeepsSecrets checks that userinfo, path, query and header values
// are sent but never in an error or the target, even when the server
// echoes them: a Slack-like path holds the token.
func TestDoKeepsSecrets(t *testing.T) {
	secrets := []string{"pw-s3cret", "q-s3cret", "h-s3cret", "XXp4thS3cretXX", "T0ABC/B0DEF"}
	srv, reqs := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		u, p, _ := r.BasicAuth()
		io.WriteString(w, "bad request from "+u+":"+p+" to "+r.URL.Path+" ("+strings.TrimPrefix(r.URL.Path, "/services/T0ABC/B0DEF/")+
			") with "+r.URL.RawQuery+" and "+r.Header.Get("X-Api-Key"))
	})
	withSecrets := func(base string) map[string]any {
		return map[string]any{
			"url":     strings.Replace(base, "http://", "http://hookd:pw-s3cret@", 1) + "/services/T0ABC/B0DEF/XXp4thS3cretXX?token=q-s3cret",
			"headers": map[string]any{"X-Api-Key": "h-s3cret"},
		}
	}
	params := withSecrets(srv.URL)
	err := do(t.Context(), t, params)
	if err == nil || !strings.Contains(err.Error(), "answered 500") || !strings.Contains(err.Error(), "bad request from") {
		t.Fatalf("Do = %v, want the 500 answer quoted", err)
	}
	r := <-reqs
	if r.user != "hookd" || r.pass != "pw-s3cret" || r.path != "/services/T0ABC/B0DEF/XXp4thS3cretXX" || r.query != "token=q-s3cret" || r.header.Get("X-Api-Key") != "h-s3cret" {
		t.Errorf("request: basic auth %s:%s, path %q, query %q, X-Api-Key %q; want the secrets sent", r.user, r.pass, r.path, r.query, r.header.Get("X-Api-Key"))
	}
	kind, _ := actions.Lookup(httpaction.Name)
	target := kind.Target(params)

	// A server that is gone: a transport error.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	goneErr := do(t.Context(), t, withSecrets(gone.URL))
	if goneErr == nil || actions.IsPermanent(goneErr) {
		t.Fatalf("Do to a closed server = %v, want a retryable error", goneErr)
	}
	for _, s := range secrets {
		for what, text := range map[string]string{"error": err.Error(), "transport error": goneErr.Error(), "target": target} {
			if strings.Contains(text, s) {
				t.Errorf("%s %q holds the secret %q", what, text, s)
			}
		}
	}
}

// TestRedact checks the parameters shown for a job: header values, and
// the URL's userinfo, path, query values and fragment, are "[redacted]";
// the rest is as it was, and the parameters given are left as they were.
func TestRedact(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		want   map[string]any
	}{
		{"no secrets",
			map[string]any{"url": "https://alerts.example.com/", "method": "PUT", "body": `{"a":1}`, "timeout": "5s"},
			map[string]any{"url": "https://alerts.example.com/", "method": "PUT", "body": `{"a":1}`, "timeout": "5s"}},
		{"no path",
			map[string]any{"url": "https://alerts.example.com"},
			map[string]any{"url": "https://alerts.example.com"}},
		{"path",
			map[string]any{"url": "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"},
			map[string]any{"url": "https://hooks.slack.com/[redacted]"}},
		{"short path",
			map[string]any{"url": "https://alerts.example.com/hook"},
			map[string]any{"url": "https://alerts.example.com/[redacted]"}},
		{"user and password",
			map[string]any{"url": "http://user:s3cretPW@127.0.0.1:19199/x"},
			map[string]any{"url": "http://[redacted]@127.0.0.1:19199/[redacted]"}},
		{"user only",
			map[string]any{"url": "https://tok3n-s3cret@api.example.com"},
			map[string]any{"url": "https://[redacted]@api.example.com"}},
		// blank, for errors, would leave both.
		{"short and percent-encoded password",
			map[string]any{"url": "https://u:p%40s@alerts.example.com/"},
			map[string]any{"url": "https://[redacted]@alerts.example.com/"}},
		{"query values and fragment",
			map[string]any{"url": "https://alerts.example.com/a/b?token=q-s3cret&v=1&flag=#frag"},
			map[string]any{"url": "https://alerts.example.com/[redacted]?token=[redacted]&v=[redacted]&flag=[redacted]#[redacted]"}},
		{"bare query token",
			map[string]any{"url": "https://alerts.example.com/?q-s3cret"},
			map[string]any{"url": "https://alerts.example.com/?[redacted]"}},
		{"everything",
			map[string]any{"url": "https://u:pw-s3cret@alerts.example.com:8443/hooks/p4th-s3cret?key=q-s3cret", "body": "{{ .email }}"},
			map[string]any{"url": "https://[redacted]@alerts.example.com:8443/[redacted]?key=[redacted]", "body": "{{ .email }}"}},
		{"headers",
			map[string]any{"url": "https://alerts.example.com/",
				"headers": map[string]any{"Authorization": "Bearer h-s3cret", "X-Count": json.Number("5")}},
			map[string]any{"url": "https://alerts.example.com/",
				"headers": map[string]any{"Authorization": "[redacted]", "X-Count": "[redacted]"}}},
		{"headers as text",
			map[string]any{"url": "https://alerts.example.com/", "headers": map[string]string{"X-Api-Key": "k-s3cret"}},
			map[string]any{"url": "https://alerts.example.com/", "headers": map[string]any{"X-Api-Key": "[redacted]"}}},
		{"invalid parameters are replaced whole",
			map[string]any{"url": "ftp://user:pw-s3cret@x", "headers": "Authorization: Bearer h-s3cret"},
			map[string]any{"url": "[redacted]", "headers": "[redacted]"}},
		{"url not text",
			map[string]any{"url": []any{"https://u:pw-s3cret@alerts.example.com"}},
			map[string]any{"url": "[redacted]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fmt.Sprint(tt.params)
			got := actions.RedactParams(httpaction.Name, tt.params)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RedactParams(%v)\n = %v\nwant %v", tt.params, got, tt.want)
			}
			if after := fmt.Sprint(tt.params); after != before {
				t.Errorf("RedactParams changed its argument: %s, was %s", after, before)
			}
		})
	}
}

func TestTarget(t *testing.T) {
	kind, err := actions.Lookup(httpaction.Name)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"url": "https://alerts.example.com/"}, "http POST https://alerts.example.com/"},
		{map[string]any{"url": "https://alerts.example.com"}, "http POST https://alerts.example.com"},
		{map[string]any{"url": "https://u:p@alerts.example.com:8443?token=x#frag", "method": "PUT"}, "http PUT https://alerts.example.com:8443"},
		// The fingerprint is of "https://alerts.example.com/hook": the
		// target this URL had before paths were kept secret.
		{map[string]any{"url": "https://alerts.example.com/hook"}, "http POST https://alerts.example.com/[redacted] (path 976cc5ee)"},
		{map[string]any{"url": "https://u:p@alerts.example.com/hook?token=x#frag"}, "http POST https://alerts.example.com/[redacted] (path 976cc5ee)"},
		{map[string]any{"url": "https://alerts.example.com/hook2"}, "http POST https://alerts.example.com/[redacted] (path be075ca0)"},
		{map[string]any{"url": "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"},
			"http POST https://hooks.slack.com/[redacted] (path c9caf2ca)"},
		{map[string]any{"url": "ftp://x"}, "http (invalid parameters)"},
	}
	for _, tt := range tests {
		if got := kind.Target(tt.params); got != tt.want {
			t.Errorf("Target(%v) = %q, want %q", tt.params, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	url := "https://alerts.example.com/hook"
	dir := t.TempDir()
	ca := tlsfiletest.Write(t, dir, tlsfiletest.Options{}).Cert
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		params    map[string]any
		wantParam string // "": valid
		wantErr   string
	}{
		{"minimal", map[string]any{"url": url}, "", ""},
		{"everything", map[string]any{
			"url": url, "method": "PUT", "headers": map[string]any{"Authorization": "Bearer {{ .campaign }}", "X-N": int64(5)},
			"body": `{"text":"{{ .domain }}"}`, "timeout": "3s",
		}, "", ""},
		{"literal JSON body", map[string]any{"url": url, "body": `{"text":"hi"}`}, "", ""},
		{"body mapping", map[string]any{"url": url, "body": map[string]any{"text": "{{ .domain }}"}}, "", ""},
		{"text body", map[string]any{"url": url, "body": "hi", "content_type": "text/plain"}, "", ""},
		{"no url", map[string]any{}, "url", "required"},
		{"url template", map[string]any{"url": "https://{{ .domain }}/hook"}, "url", "must not be a template"},
		{"url scheme", map[string]any{"url": "ftp://user:hunter22@example.com/x"}, "url", "want an absolute http:// or https:// URL"},
		{"url relative", map[string]any{"url": "/hook"}, "url", "want an absolute"},
		{"url not text", map[string]any{"url": []any{"x"}}, "url", "want text, got a list"},
		{"method GET", map[string]any{"url": url, "method": "GET"}, "method", "want POST or PUT"},
		{"method template", map[string]any{"url": url, "method": "{{ .m }}"}, "method", "must not be a template"},
		{"headers not a mapping", map[string]any{"url": url, "headers": "X: y"}, "headers", "want a mapping"},
		{"header name", map[string]any{"url": url, "headers": map[string]any{"Bad Name": "x"}}, "headers.Bad Name", "not a valid header name"},
		{"header value", map[string]any{"url": url, "headers": map[string]any{"X": map[string]any{}}}, "headers.X", "want text, got a mapping"},
		{"content type header", map[string]any{"url": url, "headers": map[string]any{"content-type": "text/plain"}}, "headers.content-type", "set content_type instead"},
		{"idempotency header", map[string]any{"url": url, "headers": map[string]any{"Idempotency-Key": "x"}}, "headers.Idempotency-Key", "not settable"},
		{"body not JSON", map[string]any{"url": url, "body": `{"text":`}, "body", "not valid JSON"},
		{"body not writable as JSON", map[string]any{"url": url, "body": map[string]any{"n": math.NaN()}}, "body", "cannot be written as JSON"},
		{"content type", map[string]any{"url": url, "content_type": "text/"}, "content_type", "want a media type"},
		{"timeout", map[string]any{"url": url, "timeout": "soon"}, "timeout", "want a positive duration"},
		{"negative timeout", map[string]any{"url": url, "timeout": "-1s"}, "timeout", "want a positive duration"},
		{"unknown", map[string]any{"url": url, "heders": map[string]any{}}, "heders", "unknown parameter"},
		{"ca_file", map[string]any{"url": url, "ca_file": ca}, "", ""},
		{"ca_file missing", map[string]any{"url": url, "ca_file": filepath.Join(dir, "nope.pem")}, "ca_file", "no such file or directory"},
		{"ca_file not PEM", map[string]any{"url": url, "ca_file": notPEM}, "ca_file", "no PEM certificate in " + notPEM},
		{"ca_file relative", map[string]any{"url": url, "ca_file": "ca.pem"}, "ca_file", "want an absolute path (ca.pem is not)"},
		{"ca_file template", map[string]any{"url": url, "ca_file": "/etc/{{ .domain }}.pem"}, "ca_file", "must not be a template"},
		{"ca_file with http", map[string]any{"url": "http://alerts.example.com/hook", "ca_file": ca}, "ca_file", "only with an https:// url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := actions.Validate(httpaction.Name, tt.params)
			if tt.wantParam == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var pe *rules.ParamError
			if !errors.As(err, &pe) || pe.Param != tt.wantParam || !strings.Contains(pe.Err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want a ParamError at %s containing %q", err, tt.wantParam, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter22") {
				t.Errorf("error %q holds the URL's password", err)
			}
		})
	}
}

// TestDoRetryAfter checks that a retried answer's Retry-After reaches the
// runner (actions.RetryAfter), which then waits as long before the next
// attempt, and that a permanent answer's does not make it retried.
func TestDoRetryAfter(t *testing.T) {
	tests := []struct {
		code          int
		retryAfter    string
		wantErr       string
		wantPermanent bool
	}{
		{429, "120", "answered 429 Too Many Requests (Retry-After: 2m)", false},
		{503, time.Now().Add(time.Hour + time.Minute).UTC().Format(http.TimeFormat), "answered 503 Service Unavailable (Retry-After: 1h)", false},
		{429, "", "answered 429 Too Many Requests", false},
		{400, "120", "answered 400 Bad Request", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.code, tt.retryAfter), func(t *testing.T) {
			srv, _ := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.code)
			})
			err := do(t.Context(), t, map[string]any{"url": srv.URL + "/hook"})
			if err == nil || !strings.HasSuffix(err.Error(), tt.wantErr) || actions.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("Do = %v (permanent %v), want an error ending %q (permanent %v)", err, actions.IsPermanent(err), tt.wantErr, tt.wantPermanent)
			}
		})
	}
}

// TestCheckLongHeader checks that a header rendered longer than servers
// take fails the rule on its event (Check), as a line break does, rather
// than making a job that the server's 400 or 431 would dead-letter,
// suspending the target of every other event's jobs.
func TestCheckLongHeader(t *testing.T) {
	kind, err := actions.Lookup(httpaction.Name)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]any{"url": "https://alerts.example.com/hook", "headers": map[string]any{"X-Agent": strings.Repeat("a", 10000)}}
	err = kind.(actions.Checker).Check(params, "a@example.com")
	var pe *rules.ParamError
	if !errors.As(err, &pe) || pe.Param != "headers.X-Agent" {
		t.Errorf("Check = %v, want an error of headers.X-Agent", err)
	}
}

// TestDoIdempotentServer runs attempts of one job against a server that
// honours Idempotency-Key as draft-ietf-httpapi-idempotency-key-header
// says: the first attempt times out while the server goes on with it, the
// retry that comes meanwhile is answered 409 Conflict, which is retried,
// and the one after the server finished gets the first request's outcome.
// The effect happens once, and no attempt dead-letters the job.
func TestDoIdempotentServer(t *testing.T) {
	var (
		mu      sync.Mutex
		done    = map[string]bool{} // key: the request finished
		running = map[string]bool{}
		effects int
	)
	finished := make(chan struct{})
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		switch {
		case done[key]:
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			return
		case running[key]:
			mu.Unlock()
			w.WriteHeader(http.StatusConflict)
			return
		}
		running[key] = true
		mu.Unlock()
		time.Sleep(500 * time.Millisecond) // longer than the action's timeout
		mu.Lock()
		effects++
		done[key], running[key] = true, false
		mu.Unlock()
		close(finished)
		w.WriteHeader(http.StatusCreated)
	})
	params := map[string]any{"url": srv.URL + "/hook", "timeout": "100ms"}
	err := do(t.Context(), t, params)
	if err == nil || actions.IsPermanent(err) || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("first attempt = %v, want no answer, retried", err)
	}
	err = do(t.Context(), t, params)
	if err == nil || actions.IsPermanent(err) || !strings.Contains(err.Error(), "409 Conflict") {
		t.Fatalf("retry while the first runs = %v (permanent %v), want 409, retried", err, actions.IsPermanent(err))
	}
	<-finished
	if err := do(t.Context(), t, params); err != nil {
		t.Fatalf("retry after the first finished = %v, want its outcome", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if effects != 1 {
		t.Errorf("the server acted %d times, want once", effects)
	}
}

// TestDoAnswerQuotesCredentials has the server, or a proxy before it,
// answer an error that quotes the request's Authorization header, the
// base64 of the URL's userinfo, and one that ends, where the error's
// quote of the answer is cut, inside a header's value: neither the
// credentials nor the start of the value show in the error.
func TestDoAnswerQuotesCredentials(t *testing.T) {
	const pass, key = "pw-s3cret-0123", "h-s3cret-header-value"
	auth := base64.StdEncoding.EncodeToString([]byte("hookd:" + pass))
	for _, tt := range []struct{ name, answer string }{
		{"the Authorization header", "refused: Authorization: Basic " + auth},
		{"a header value cut", strings.Repeat("x", 250) + key},
		{"the Authorization header cut", strings.Repeat("x", 240) + auth},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(500)
				io.WriteString(w, tt.answer+strings.Repeat(" and more", 200))
			})
			err := do(t.Context(), t, map[string]any{
				"url":     strings.Replace(srv.URL, "http://", "http://hookd:"+pass+"@", 1) + "/alert",
				"headers": map[string]any{"X-Api-Key": key},
			})
			if err == nil || !strings.Contains(err.Error(), "answered 500") {
				t.Fatalf("Do = %v, want the 500 answer quoted", err)
			}
			for _, s := range []string{auth, key} {
				for n := 4; n <= len(s); n++ {
					if strings.Contains(err.Error(), s[:n]) {
						t.Fatalf("the error shows %q of %q: %v", s[:n], s, err)
					}
				}
			}
		})
	}
}

// TestDoCAFile sends requests to a TLS server on loopback whose
// certificate its own CA signed: without ca_file, or with another CA's,
// the certificate is not trusted and the attempt is retried, saying why;
// with the CA's file, the request is sent. A CA file renewed in place is
// read again.
func TestDoCAFile(t *testing.T) {
	dir := t.TempDir()
	pair := tlsfiletest.Write(t, dir, tlsfiletest.Options{})
	cert, err := tls.LoadX509KeyPair(pair.Cert, pair.Key)
	if err != nil {
		t.Fatal(err)
	}
	var got sync.Map
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Idempotency-Key"), true)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	other := filepath.Join(t.TempDir(), "other.pem")
	otherPair := tlsfiletest.Write(t, filepath.Dir(other), tlsfiletest.Options{})
	if err := os.Rename(otherPair.Cert, other); err != nil {
		t.Fatal(err)
	}
	url := srv.URL + "/hook"

	tests := []struct {
		name    string
		caFile  string
		wantErr string // "": success
	}{
		{"the system's CAs alone", "", "the server's certificate is not trusted: hookd trusts the CAs of the system's store"},
		{"another CA", other, "the server's certificate is not trusted: it chains neither to a certificate of ca_file " + other + " nor to the system's store"},
		{"its CA", pair.Cert, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]any{"url": url}
			if tt.caFile != "" {
				params["ca_file"] = tt.caFile
			}
			if err := actions.Validate(httpaction.Name, params); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			kind, _ := actions.Lookup(httpaction.Name)
			key := fmt.Sprintf("rule/0/ev%d", i)
			err := kind.Action().Do(t.Context(), actions.Call{Key: key, Attempt: 1, Params: params, Event: json.RawMessage(event)})
			_, sent := got.Load(key)
			switch {
			case tt.wantErr == "" && (err != nil || !sent):
				t.Fatalf("Do = %v, sent %v; want the request sent", err, sent)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || actions.IsPermanent(err) || sent):
				t.Fatalf("Do = %v (permanent %v, sent %v), want a retried error containing %q", err, actions.IsPermanent(err), sent, tt.wantErr)
			}
		})
	}

	// The other CA's file replaced by this one's, as a renewal does: the
	// next attempt trusts it.
	kind, _ := actions.Lookup(httpaction.Name)
	if err := os.WriteFile(other, mustRead(t, pair.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(other, time.Now().Add(time.Minute), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	err = kind.Action().Do(t.Context(), actions.Call{Key: "rule/0/renewed", Attempt: 1, Params: map[string]any{"url": url, "ca_file": other}, Event: json.RawMessage(event)})
	if _, sent := got.Load("rule/0/renewed"); err != nil || !sent {
		t.Fatalf("Do after the CA file was renewed = %v, sent %v; want the request sent", err, sent)
	}
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
