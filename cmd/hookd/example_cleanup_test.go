package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleListCleanup runs examples/list-cleanup: the bounces as one
// Version 2 array, the blocked events as single objects, then one bounce
// again as Mailjet's retry would. Ann's hard bounce unsubscribes her from
// list 42 once (her second hard bounce finds the rule's once key taken)
// and suppresses her; Bob's soft bounce and Cat's greylisting change
// nothing; Dan, blocked as an unknown user, is suppressed only.
func TestExampleListCleanup(t *testing.T) {
	mj := newMJStandIn(t, mjKey, mjSecret)
	t.Setenv("MJ_APIKEY_PUBLIC", mjKey)
	t.Setenv("MJ_APIKEY_PRIVATE", mjSecret)
	dir := exampleDir(t, "list-cleanup", map[string]string{"http://127.0.0.1:8025": mj.URL})
	p := startHookd(t, t.TempDir(), "--config", filepath.Join(dir, "hookd.yaml"))
	hook := p.hooks + "/hooks/mailjet"

	hookdSend(t, "--group", "--file", filepath.Join(dir, "events", "bounces.json"), hook)
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
	p.stop(t)
}
