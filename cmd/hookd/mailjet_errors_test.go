package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestMailjetSendErrors runs hookd with a mailjet_send rule against a
// stand-in for Mailjet that answers each recipient differently, and checks
// what the runner made of each answer: 401 dead-letters the job after one
// attempt; 429 then 503 are retried until the 200; a 200 whose message
// Status is "error" fails every attempt until the retries are spent.
func TestMailjetSendErrors(t *testing.T) {
	mj := newMJStandIn(t, mjKey, mjSecret)
	var (
		mu    sync.Mutex
		tries = map[string]int{}
	)
	mj.fail = func(method, path, body string) (int, string) {
		if path != "/v3.1/send" {
			return 0, ""
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.Contains(body, "bad-key@"):
			return 401, `{"ErrorMessage":"API key authentication/authorization failure","StatusCode":401}`
		case strings.Contains(body, "busy@"):
			tries["busy"]++
			switch tries["busy"] {
			case 1:
				return 429, `{"ErrorMessage":"Too many requests","StatusCode":429}`
			case 2:
				return 503, `Service Unavailable`
			}
		case strings.Contains(body, "broken@"):
			return 200, `{"Messages":[{"Status":"error","Errors":[{"ErrorIdentifier":"x","ErrorCode":"send-0003","StatusCode":500,"ErrorMessage":"internal error"}]}]}`
		}
		return 0, ""
	}
	cfg := mailjetRulesConfig(t, mj.URL, `  - name: thanks
    when: type == "open"
    actions:
      - mailjet_send: { to: "{{ .email }}", subject: "Thanks", text: "Thanks for reading.", from: "shop@example.com" }
        retry: "3x20ms"
`)
	p := startHookd(t, t.TempDir(), "--config", cfg)
	var events []string
	for i, who := range []string{"bad-key", "busy", "broken"} {
		events = append(events, strings.Replace(openEvent(i+1), fmt.Sprintf("User%d@Example.com", i+1), who+"@example.com", 1))
	}
	postHook(t, p.hooks, "["+strings.Join(events, ",")+"]")
	jobs := settle(t, p, 3)

	got := map[string]string{}
	for _, j := range jobs {
		var errs []string
		for _, h := range j.History {
			errs = append(errs, h.Error)
		}
		got[j.Target] = fmt.Sprintf("%s after %d: %s", j.Status, len(j.History), strings.Join(errs, " | "))
	}
	want := map[string]string{
		"mailjet_send bad-key@example.com": "dead after 1: mailjet_send: POST /v3.1/send: Mailjet answered 401 Unauthorized: {\"ErrorMessage\":\"API key authentication/authorization failure\",\"StatusCode\":401}",
		"mailjet_send busy@example.com": "done after 3: mailjet_send: POST /v3.1/send: Mailjet answered 429 Too Many Requests: {\"ErrorMessage\":\"Too many requests\",\"StatusCode\":429}" +
			" | mailjet_send: POST /v3.1/send: Mailjet answered 503 Service Unavailable: Service Unavailable | ",
		"mailjet_send broken@example.com": "dead after 4: " + strings.TrimSuffix(strings.Repeat(`mailjet_send: message status "error": send-0003 500 internal error | `, 3), " | ") +
			` | retries spent after 4 attempts: mailjet_send: message status "error": send-0003 500 internal error`,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s:\n got %s\nwant %s", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("jobs %v, want %d", got, len(want))
	}
	var dead struct{ Jobs []apiJob }
	getJSON(t, p.admin+"/api/deadletters", &dead)
	if len(dead.Jobs) != 2 {
		t.Errorf("%d dead letters, want 2", len(dead.Jobs))
	}
	p.stop(t)
}

// TestMailjetUnsubscribeRefused runs hookd with a mailjet_unsubscribe rule,
// whose jobs all share the target "mailjet_unsubscribe list 42", against a
// stand-in for Mailjet that refuses one address (400): that job alone is
// dead, with an error that says so, and the other events' jobs run, the
// target not suspended. Then a 401 (bad keys) suspends the target, as
// hookd deadletters shows.
func TestMailjetUnsubscribeRefused(t *testing.T) {
	mj := newMJStandIn(t, mjKey, mjSecret)
	mj.fail = func(method, path, body string) (int, string) {
		switch {
		case !strings.HasSuffix(path, "/managecontact"):
			return 0, ""
		case strings.Contains(body, "refused@"):
			return 400, `{"ErrorMessage":"Invalid email address","StatusCode":400}`
		case strings.Contains(body, "revoked@"):
			return 401, `{"ErrorMessage":"API key authentication/authorization failure","StatusCode":401}`
		}
		return 0, ""
	}
	cfg := mailjetRulesConfig(t, mj.URL, `  - name: unsubscribe
    when: type == "open"
    actions:
      - mailjet_unsubscribe: { list_id: 42 }
        retry: "3x20ms"
`)
	data := t.TempDir()
	p := startHookd(t, data, "--config", cfg)
	event := func(n int, who string) string {
		return strings.Replace(openEvent(n), fmt.Sprintf("User%d@Example.com", n), who+"@example.com", 1)
	}
	postHook(t, p.hooks, "["+event(1, "refused")+","+event(2, "ann")+","+event(3, "bob")+"]")
	got := map[string]string{}
	for _, j := range settle(t, p, 3) {
		var errs []string
		for _, h := range j.History {
			errs = append(errs, h.Error)
		}
		got[j.EventID] = fmt.Sprintf("%s after %d: %s", j.Status, len(j.History), strings.Join(errs, " | "))
	}
	ids := func(n int) string {
		id, err := idsOf(event(n, map[int]string{1: "refused", 2: "ann", 3: "bob"}[n]))
		if err != nil || len(id) != 1 {
			t.Fatalf("idsOf = %v, %v", id, err)
		}
		return id[0]
	}
	want := map[string]string{
		ids(1): `dead after 1: refused (target not suspended): mailjet_unsubscribe refused@example.com: POST /v3/REST/contactslist/42/managecontact: Mailjet answered 400 Bad Request: {"ErrorMessage":"Invalid email address","StatusCode":400}`,
		ids(2): "done after 1: ",
		ids(3): "done after 1: ",
	}
	if !maps.Equal(got, want) {
		t.Errorf("jobs:\n got %v\nwant %v", got, want)
	}
	var targets struct{ Targets []struct{ Name string } }
	getJSON(t, p.admin+"/api/targets?suspended=true", &targets)
	if len(targets.Targets) != 0 {
		t.Errorf("suspended targets %+v, want none", targets.Targets)
	}
	out, stderr, err := runHookd(t, "deadletters", "list", "--data", data)
	if err != nil || !strings.Contains(out, "refused (target not suspended): mailjet_unsubscribe refused@example.com") || stderr != "" {
		t.Errorf("hookd deadletters list: %v\n%s%s", err, out, stderr)
	}

	postHook(t, p.hooks, event(4, "revoked"))
	settle(t, p, 4)
	getJSON(t, p.admin+"/api/targets?suspended=true", &targets)
	if len(targets.Targets) != 1 || targets.Targets[0].Name != "mailjet_unsubscribe list 42" {
		t.Errorf("suspended targets %+v, want mailjet_unsubscribe list 42", targets.Targets)
	}
	out, stderr, err = runHookd(t, "deadletters", "list", "--data", data)
	if err != nil || !strings.Contains(out, "Mailjet answered 401 Unauthorized") || stderr != "1 target suspended: hookd deadletters targets lists them\n" {
		t.Errorf("hookd deadletters list: %v\n%s%s", err, out, stderr)
	}
	p.stop(t)
}

// mailjetRulesConfig writes a configuration with a mailjet source, its
// mailjet section pointing at url, and a rule file of the rules given, and
// returns its path.
func mailjetRulesConfig(t *testing.T, url, rules string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("rules:\n"+rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`sources: [{name: mailjet, provider: mailjet}]
mailjet: { api_url: %q, api_key: %q, api_secret: %q }
rules: [rules.yaml]
`, url, mjKey, mjSecret)), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}
