package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
