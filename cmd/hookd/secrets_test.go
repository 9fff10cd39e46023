package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/smtptest"
)

// TestPathSecretNotShown runs hookd with a rule whose http action posts to
// a Slack-like URL given as ${VAR}, with its token in the path, to a
// loopback server that answers 500 and echoes the path: the job
// dead-letters, and neither the admin API (and so the dashboard), nor
// hookd deadletters, nor hookd test, nor the log shows the token, while
// the request went to the whole URL.
func TestPathSecretNotShown(t *testing.T) {
	const token = "SLACKs3cretTOKEN0123"
	paths := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.Path
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "no webhook at "+r.URL.Path)
	}))
	t.Cleanup(hook.Close)
	t.Setenv("HOOKD_TEST_SLACK_URL", hook.URL+"/services/T0ABC/B0DEF/"+token)
	rule := "rules:\n  - name: alert\n    when: type == \"open\"\n    actions:\n" +
		"      - http: { url: \"${HOOKD_TEST_SLACK_URL}\", body: '{\"text\":\"{{ .email }} opened\"}' }\n        retry: none\n"
	config, _ := rulesConfig(t, "", "alert.yaml", rule)
	data := t.TempDir()
	p := startHookd(t, data, "--config", config)
	if a := postHook(t, p.hooks, openEvent(1)); a.Accepted != 1 {
		t.Fatalf("posted 1 event, %+v", a)
	}
	var dead struct{ Jobs []struct{ ID int64 } }
	waitFor(t, p, "a dead letter", func() bool {
		getJSON(t, p.admin+"/api/deadletters", &dead)
		return len(dead.Jobs) == 1
	})
	if got := <-paths; got != "/services/T0ABC/B0DEF/"+token {
		t.Errorf("request to %q, want the whole path", got)
	}

	shown := map[string]string{}
	for _, path := range []string{"/api/deadletters", "/api/jobs", "/api/jobs/1", "/api/targets"} {
		resp, err := http.Get(p.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s %v", path, resp.Status, err)
		}
		shown["GET "+path] = string(b)
	}
	p.stop(t)
	shown["log"] = p.output()
	for _, args := range [][]string{{"list"}, {"list", "--json"}, {"targets"}, {"targets", "--json"}} {
		stdout, stderr, err := runHookd(t, append([]string{"deadletters", "--data", data}, args...)...)
		if err != nil {
			t.Fatalf("hookd deadletters %v: %v\n%s", args, err, stderr)
		}
		shown["hookd deadletters "+strings.Join(args, " ")] = stdout + stderr
	}
	events := filepath.Join(t.TempDir(), "events.json")
	if err := os.WriteFile(events, []byte(openEvent(1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{}, {"--json"}} {
		stdout, stderr, err := runHookd(t, append([]string{"test", "--config", config, "--event", events}, args...)...)
		if err != nil {
			t.Fatalf("hookd test %v: %v\n%s", args, err, stderr)
		}
		shown["hookd test "+strings.Join(args, " ")] = stdout + stderr
	}

	host := strings.TrimPrefix(hook.URL, "http://")
	for what, text := range shown {
		for _, secret := range []string{token, "T0ABC/B0DEF"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q:\n%s", what, secret, text)
			}
		}
		if !strings.Contains(text, host+"/[redacted]") {
			t.Errorf("%s does not tell where the action posts (%s/[redacted]):\n%s", what, host, text)
		}
	}
	if !strings.Contains(shown["GET /api/deadletters"], "answered 500 Internal Server Error") {
		t.Errorf("the dead letter lacks its error: %s", shown["GET /api/deadletters"])
	}
}

// TestSecretsNeverShown runs hookd serve, at log level debug, with every
// kind of secret its configuration holds, each read from the environment
// (${VAR}): the admin token, a source's basic password, a source's token,
// a generic source's HMAC secret, the SMTP password, the Mailjet API
// secret, an http action's header value and an exec action's env value.
// It uses each the way it is used (right and wrong credentials on the
// hooks and on the admin listener, the login form), and makes each action
// fail against a server that repeats what it was sent (the SMTP relay
// refuses the password; Mailjet's stand-in answers 401 quoting the
// credentials; the http receiver answers 500 quoting the headers; the
// program prints its environment under set -x), so that four jobs are
// dead-lettered with the errors. Then no secret shows in the log, in
// any answer of the admin listener (every GET of the API, /metrics, the
// dashboard's page, login form and scripts), nor in what hookd check,
// hookd deadletters, hookd events and hookd test print.
func TestSecretsNeverShown(t *testing.T) {
	secrets := map[string]string{
		"HOOKD_T_ADMIN": "admin-S3CRET-token-0001",
		"HOOKD_T_BASIC": "basic-S3CRET-password-0002",
		"HOOKD_T_SRC":   "source-S3CRET-token-0003",
		"HOOKD_T_HMAC":  "hmac-S3CRET-key-0004",
		"HOOKD_T_SMTP":  "smtp-S3CRET-password-0005",
		"HOOKD_T_MJ":    "mailjet-S3CRET-private-0006",
		"HOOKD_T_HDR":   "header-S3CRET-bearer-0007",
		"HOOKD_T_EXEC":  "exec-S3CRET-env-0008",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	relay := smtptest.Start(t, smtptest.Options{Username: "shop", Password: "the-relay's-own-password"})
	// Mailjet's stand-in and the http receiver repeat the credentials and
	// headers they were sent, as a careless server's error page may.
	echo := func(code int) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(code)
			user, pass, _ := r.BasicAuth()
			fmt.Fprintf(w, "refused: user %s password %s headers %v", user, pass, r.Header)
		}))
		t.Cleanup(s.Close)
		return s
	}
	mj, receiver := echo(http.StatusUnauthorized), echo(http.StatusInternalServerError)
	dir := t.TempDir()
	rules := `rules:
  - name: leaky
    when: type == "open"
    actions:
      - email: { to: "{{ .email }}", subject: Hi, text: Hello }
        retry: none
      - mailjet_send: { to: "{{ .email }}", template_id: 1 }
        retry: none
      - http: { url: "` + receiver.URL + `/alert", headers: { Authorization: "Bearer ${HOOKD_T_HDR}" } }
        retry: none
      - exec: { command: /bin/sh, args: ["-c", 'set -x; : "$TOKEN"; env; exit 1'], env: { TOKEN: "${HOOKD_T_EXEC}" } }
        retry: none
`
	if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules", "leaky.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `admin: { token: "${HOOKD_T_ADMIN}" }
smtp: { host: 127.0.0.1, port: %d, tls: none, username: shop, password: "${HOOKD_T_SMTP}", from: shop@example.com }
mailjet: { api_url: %q, api_key: public-key, api_secret: "${HOOKD_T_MJ}" }
sources:
  - { name: mailjet, provider: mailjet, auth: { basic: { user: hookd, password: "${HOOKD_T_BASIC}" } } }
  - { name: tok, provider: mailjet, auth: { token: { value: "${HOOKD_T_SRC}" } } }
  - { name: app, provider: generic, verify: { hmac: { header: X-Signature, secret: "${HOOKD_T_HMAC}" } }, map: { type: kind, email: to, id: id } }
rules:
  - rules/*.yaml
`, relay.Port, mj.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	p := startHookd(t, data, "--config", config, "--log-level", "debug")

	shown := map[string]string{}
	// A client that shows each answer as it came, the login's redirect
	// with its cookie included.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(what, method, url, body string, header map[string]string, want int) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", what, resp.StatusCode, b, want)
		}
		shown[what] = fmt.Sprint(resp.Header) + string(b)
	}
	basic := func(user, pass string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
	}
	sign := func(body string) map[string]string {
		m := hmac.New(sha256.New, []byte(secrets["HOOKD_T_HMAC"]))
		m.Write([]byte(body))
		return map[string]string{"X-Signature": hex.EncodeToString(m.Sum(nil))}
	}
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	open := "[" + mailjetEvent("open", 1, "ann@example.com", at, "") + "]"
	send("hook, right password", "POST", p.hooks+"/hooks/mailjet", open, basic("hookd", secrets["HOOKD_T_BASIC"]), http.StatusOK)
	send("hook, wrong password", "POST", p.hooks+"/hooks/mailjet", open, basic("hookd", "guess-"+secrets["HOOKD_T_BASIC"][:8]), http.StatusUnauthorized)
	send("hook, token in the path", "POST", p.hooks+"/hooks/tok/"+secrets["HOOKD_T_SRC"], "["+mailjetEvent("sent", 2, "bob@example.com", at, "")+"]", nil, http.StatusOK)
	send("hook, token in the query", "POST", p.hooks+"/hooks/tok?token="+secrets["HOOKD_T_SRC"], "["+mailjetEvent("sent", 3, "bob@example.com", at, "")+"]", nil, http.StatusOK)
	send("hook, token, malformed", "POST", p.hooks+"/hooks/tok/"+secrets["HOOKD_T_SRC"], "{not json", nil, http.StatusBadRequest)
	send("hook, wrong token", "POST", p.hooks+"/hooks/tok/wrong-token-of-24-chars", "[]", nil, http.StatusUnauthorized)
	generic := `{"kind":"signup","to":"cat@example.com","id":"g1"}`
	send("hook, signed", "POST", p.hooks+"/hooks/app", generic, sign(generic), http.StatusOK)
	send("hook, badly signed", "POST", p.hooks+"/hooks/app", generic, sign(generic+" "), http.StatusUnauthorized)

	bearer := map[string]string{"Authorization": "Bearer " + secrets["HOOKD_T_ADMIN"]}
	waitFor(t, p, "4 dead letters", func() bool {
		var dead struct{ Jobs []struct{ ID int64 } }
		adminGet(t, p, secrets["HOOKD_T_ADMIN"], "/api/deadletters", &dead)
		return len(dead.Jobs) == 4
	})
	send("admin, wrong bearer", "GET", p.admin+"/api/events", "", map[string]string{"Authorization": "Bearer " + secrets["HOOKD_T_ADMIN"][:10]}, http.StatusUnauthorized)
	send("login, wrong token", "POST", p.admin+"/ui/login", "token=wrong", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnauthorized)
	send("login", "POST", p.admin+"/ui/login", "token="+secrets["HOOKD_T_ADMIN"], map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusSeeOther)
	for _, path := range []string{"/api/events", "/api/events?format=csv", "/api/events?format=ndjson", "/api/stats", "/api/quarantine",
		"/api/rules", "/api/jobs", "/api/jobs/1", "/api/jobs/2", "/api/jobs/3", "/api/jobs/4", "/api/deadletters", "/api/targets",
		"/api/suppressions", "/api/deliverability", "/api/rules/activity", "/metrics", "/readyz", "/ui/", "/ui/login",
		"/ui/static/app.js", "/ui/static/login.js"} {
		send("GET "+path, "GET", p.admin+path, "", bearer, http.StatusOK)
	}
	var dead struct {
		Jobs []struct {
			Action    string
			LastError string `json:"last_error"`
		}
	}
	adminGet(t, p, secrets["HOOKD_T_ADMIN"], "/api/deadletters", &dead)
	for _, j := range dead.Jobs {
		// The servers and the program repeated the secrets: the errors
		// quote them blanked.
		if j.Action != "email" && !strings.Contains(j.LastError, "[redacted]") {
			t.Errorf("the %s job's error %q quotes no secret blanked", j.Action, j.LastError)
		}
		if j.Action == "email" && !strings.Contains(j.LastError, "AUTH failed") {
			t.Errorf("the email job's error %q, want the relay's refusal of the password", j.LastError)
		}
	}
	p.stop(t)
	shown["log"] = p.output()

	for _, args := range [][]string{
		{"check", "--config", config},
		{"deadletters", "list", "--data", data}, {"deadletters", "list", "--json", "--data", data},
		{"deadletters", "targets", "--data", data}, {"events", "--json", "--data", data},
		{"test", "--config", config, "--event", writeFile(t, "open.json", mailjetEvent("open", 9, "dan@example.com", at, ""))},
	} {
		stdout, stderr, err := runHookd(t, args...)
		if err != nil {
			t.Fatalf("hookd %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		shown["hookd "+strings.Join(args, " ")] = stdout + stderr
	}

	for what, text := range shown {
		for name, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %s:\n%s", what, name, text)
			}
		}
		for _, creds := range []string{"hookd:" + secrets["HOOKD_T_BASIC"], "public-key:" + secrets["HOOKD_T_MJ"]} {
			if strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(creds))) {
				t.Errorf("%s shows the base64 of %q:\n%s", what, creds, text)
			}
		}
	}
}
