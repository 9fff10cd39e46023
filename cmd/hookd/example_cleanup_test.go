package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleListCleanup runs examples/list-cleanup: the bounces as one
// Version 2 array, hookd killed and started again on its data, the blocked
// events as single objects, then one bounce again as Mailjet's retry would.
// Ann's hard bounce unsubscribes her from list 42 once (her second hard
// bounce finds the rule's once key taken) and suppresses her; Bob's soft
// bounce and Cat's greylisting change nothing; Dan, blocked as an unknown
// user, is suppressed only. Then the README's suppressions commands: Dan
// removed from the list stays off it when a later message to him is
// blocked too (once: email).
func TestExampleListCleanup(t *testing.T) {
	mj := newMJStandIn(t, mjKey, mjSecret)
	t.Setenv("MJ_APIKEY_PUBLIC", mjKey)
	t.Setenv("MJ_APIKEY_PRIVATE", mjSecret)
	dir := exampleDir(t, "list-cleanup", map[string]string{"http://127.0.0.1:8025": mj.URL})
	data := t.TempDir()
	p := startHookd(t, data, "--config", filepath.Join(dir, "hookd.yaml"))
	hook := p.hooks + "/hooks/mailjet"

	hookdSend(t, "--group", "--file", filepath.Join(dir, "events", "bounces.json"), hook)
	settle(t, p, 3)
	p.kill(t)
	p = startHookd(t, data, "--config", filepath.Join(dir, "hookd.yaml"))
	hook = p.hooks + "/hooks/mailjet"
	hookdSend(t, "--concurrency", "1", "--file", filepath.Join(dir, "events", "blocked.json"), hook)
	settle(t, p, 5)
	first := readFile(t, filepath.Join(dir, "events", "bounces.json"))
	first = first[strings.Index(first, "{") : strings.Index(first, "}")+1]
	if a := postHook(t, p.hooks, first); a.Accepted != 0 || a.Duplicates != 1 {
		t.Errorf("redelivery: %+v, want 1 duplicate", a)
	}
	jobs := settle(t, p, 5)

	wantJobs := "clean-hard-bounces mailjet_unsubscribe mailjet_unsubscribe list 42 done \n" +
		"clean-hard-bounces suppress suppress done \n" +
		"suppress-blocked-recipients suppress suppress done \n"
	if got := jobSummary(jobs); got != wantJobs {
		t.Errorf("jobs:\n%s\nwant\n%s", got, wantJobs)
	}
	var calls []string
	for _, c := range mj.Calls() {
		// serve's check of the callback URLs, at start.
		if c.Method == "GET" && strings.HasPrefix(c.Path, "/v3/REST/eventcallbackurl") {
			continue
		}
		calls = append(calls, c.String())
	}
	want := `POST /v3/REST/contactslist/42/managecontact {"Action":"unsub","Email":"ann@example.com"}`
	if strings.Join(calls, "\n") != want {
		t.Errorf("Mailjet calls:\n%s\nwant\n%s", strings.Join(calls, "\n"), want)
	}
	var sup struct {
		Suppressions []struct{ Email, Reason, Rule string }
	}
	getJSON(t, p.admin+"/api/suppressions", &sup)
	var got []string
	for _, s := range sup.Suppressions {
		got = append(got, s.Email+" | "+s.Reason+" | "+s.Rule)
	}
	wantSup := "ann@example.com | hard bounce: user unknown | clean-hard-bounces\n" +
		"dan@example.net | blocked: user unknown | suppress-blocked-recipients"
	if strings.Join(got, "\n") != wantSup {
		t.Errorf("suppressions:\n%s\nwant\n%s", strings.Join(got, "\n"), wantSup)
	}

	// The README's commands, beside the running hookd.
	out, stderr, err := runHookd(t, "suppressions", "list", "--data", data)
	if err != nil || !strings.Contains(out, "\nann@example.com ") || !strings.Contains(out, "\ndan@example.net ") {
		t.Errorf("hookd suppressions list: %v\n%s%s", err, out, stderr)
	}
	if out, stderr, err := runHookd(t, "suppressions", "remove", "dan@example.net", "--data", data); err != nil {
		t.Fatalf("hookd suppressions remove: %v\n%s%s", err, out, stderr)
	}
	later := readFile(t, filepath.Join(dir, "events", "blocked.json"))
	later = later[strings.LastIndex(later, "{") : strings.LastIndex(later, "}")+1]
	later = strings.Replace(later, `"time": 1793714640`, `"time": 1793718240`, 1)
	later = strings.Replace(later, `"MessageID": 19421777835146605`, `"MessageID": 19421777835146705`, 1)
	if a := postHook(t, p.hooks, later); a.Accepted != 1 {
		t.Fatalf("Dan's later block: %+v, want 1 accepted", a)
	}
	if got := jobSummary(settle(t, p, 6)); got != wantJobs {
		t.Errorf("jobs after Dan's later block:\n%s\nwant\n%s", got, wantJobs)
	}
	getJSON(t, p.admin+"/api/suppressions", &sup)
	if len(sup.Suppressions) != 1 || sup.Suppressions[0].Email != "ann@example.com" {
		t.Errorf("suppressions after removing Dan and his later block: %+v, want Ann's only", sup.Suppressions)
	}
	p.stop(t)
}
