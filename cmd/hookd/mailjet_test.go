package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookd/hookd/internal/mjapi"
)

const (
	mjKey    = "mj-public-key"
	mjSecret = "mj-private-secret-value"
)

// mailjetConfig writes a configuration whose mailjet section points at url.
func mailjetConfig(t *testing.T, url, secret string) string {
	t.Helper()
	return writeFile(t, "hookd.yaml", fmt.Sprintf(`sources:
  - name: mailjet
    provider: mailjet
mailjet: { api_url: %q, api_key: %q, api_secret: %q }
`, url, mjKey, secret))
}

func TestMailjetRegisterAndStatus(t *testing.T) {
	mj := newMJStandIn(t, mjKey, mjSecret)
	cfg := mailjetConfig(t, mj.URL, mjSecret)
	const hook = "https://hookd:hook-password@hooks.example.com/hooks/mailjet"
	list := "GET /v3/REST/eventcallbackurl?Limit=1000 "
	post := func(ev string, version int, backup bool) string {
		return fmt.Sprintf(`POST /v3/REST/eventcallbackurl {"EventType":%q,"Url":%q,"Version":%d,"IsBackup":%v,"Status":"alive"}`, ev, hook, version, backup)
	}
	steps := []struct {
		name      string
		args      []string
		before    func()
		wantOut   string
		wantCalls []string
		wantErr   string
		wantWarn  string // standard error
	}{
		{
			name:      "status with nothing registered fails",
			args:      []string{"status"},
			wantCalls: []string{list},
			wantErr:   "mailjet status: no event callback URLs, so Mailjet posts no events: hookd mailjet register --url URL creates them",
		},
		{
			name: "first register creates one record per event type",
			args: []string{"register", "--url", hook, "--group"},
			wantOut: "sent     created\nopen     created\nclick    created\nbounce   created\nspam     created\nblocked  created\nunsub    created\n" +
				"Mailjet posts all to https://hookd:xxxxx@hooks.example.com/hooks/mailjet (version 2, main URL)\n",
			wantCalls: []string{list, post("sent", 2, false), post("open", 2, false), post("click", 2, false), post("bounce", 2, false),
				post("spam", 2, false), post("blocked", 2, false), post("unsub", 2, false)},
		},
		{
			name:      "registering again changes nothing",
			args:      []string{"register", "--url", hook, "--group", "--events", "open,click"},
			wantOut:   "open     unchanged\nclick    unchanged\nMailjet posts open,click to https://hookd:xxxxx@hooks.example.com/hooks/mailjet (version 2, main URL)\n",
			wantCalls: []string{list},
		},
		{
			// The stand-in, as Mailjet, revives a dead record only when
			// its URL changes: "status" below shows open alive again.
			name: "a dead URL is recreated, a Version 1 registration updated",
			before: func() {
				mj.mu.Lock()
				mj.callbacks[1].Status = "dead" // open
				mj.mu.Unlock()
			},
			args:    []string{"register", "--url", hook, "--events", "open,click"},
			wantOut: "open     recreated\nclick    updated\nMailjet posts open,click to https://hookd:xxxxx@hooks.example.com/hooks/mailjet (version 1, main URL)\n",
			wantCalls: []string{list,
				`DELETE /v3/REST/eventcallbackurl/102 `,
				post("open", 1, false),
				`PUT /v3/REST/eventcallbackurl/103 {"Status":"alive","Url":"` + hook + `","Version":1}`},
		},
		{
			name:      "a backup URL is its own record",
			args:      []string{"register", "--url", hook, "--events", "bounce", "--backup"},
			wantOut:   "bounce   created\nMailjet posts bounce to https://hookd:xxxxx@hooks.example.com/hooks/mailjet (version 1, backup URL)\n",
			wantCalls: []string{list, post("bounce", 1, true)},
		},
		{
			name: "status lists every record",
			args: []string{"status"},
			wantOut: "EVENT    VERSION  KIND    STATUS  URL\n" +
				"sent     2        main    alive   https://hookd:xxxxx@hooks.example.com/hooks/mailjet\n" +
				"click    1        main    alive   https://hookd:xxxxx@hooks.example.com/hooks/mailjet\n" +
				"bounce   2        main    alive   https://hookd:xxxxx@hooks.example.com/hooks/mailjet\n" +
				"spam     2        main    alive   https://hookd:xxxxx@hooks.example.com/hooks/mailjet\n" +
				"blocked  2        main    alive   https://hookd:xxxxx@hooks.example.com/hooks/mailjet\n" +
				"unsub    2        main    alive   https://hookd:xxxxx@hooks.example.com/hooks/mailjet\n" +
				"open     1        main    alive   https://hookd:xxxxx@hooks.example.com/hooks/mailjet\n" +
				"bounce   1        backup  alive   https://hookd:xxxxx@hooks.example.com/hooks/mailjet\n",
			wantCalls: []string{list},
		},
		{
			name: "status with a dead URL fails after listing",
			before: func() {
				mj.mu.Lock()
				mj.callbacks[4].Status = "dead" // blocked
				mj.mu.Unlock()
			},
			args:      []string{"status"},
			wantCalls: []string{list},
			wantErr:   "mailjet status: 1 callback URL dead: Mailjet no longer calls it; fix the URL, then run hookd mailjet register",
		},
		{
			name: "status with two dead URLs says them",
			before: func() {
				mj.mu.Lock()
				mj.callbacks[0].Status = "dead" // sent
				mj.mu.Unlock()
			},
			args:      []string{"status"},
			wantCalls: []string{list},
			wantErr:   "mailjet status: 2 callback URLs dead: Mailjet no longer calls them; fix the URLs, then run hookd mailjet register",
		},
		{
			name:      "a URL no source takes is registered with a warning",
			args:      []string{"register", "--url", "https://hooks.example.com/hooks/mailjett", "--events", "spam"},
			wantOut:   "spam     updated\nMailjet posts spam to https://hooks.example.com/hooks/mailjett (version 1, main URL)\n",
			wantCalls: []string{list, `PUT /v3/REST/eventcallbackurl/105 {"Status":"alive","Url":"https://hooks.example.com/hooks/mailjett","Version":1}`},
			wantWarn:  "warning: https://hooks.example.com/hooks/mailjett: no source has the path /hooks/mailjett (/hooks/mailjet): Mailjet's deliveries would be refused unless a proxy in front of hookd rewrites them\n",
		},
		{
			name:    "an unknown event type is refused before any call",
			args:    []string{"register", "--url", hook, "--events", "open,opened"},
			wantErr: `mailjet register: --events: unknown event type "opened" (want all, or some of sent, open, click, bounce, spam, blocked, unsub)`,
		},
		{
			name:    "a URL that is not one is refused",
			args:    []string{"register", "--url", "hooks.example.com/x"},
			wantErr: "mailjet register: --url: want an absolute http:// or https:// URL",
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before()
			}
			mj.Reset()
			stdout, stderr, err := runHookd(t, append([]string{"mailjet", "--config", cfg}, st.args...)...)
			if stderr != st.wantWarn {
				t.Errorf("standard error\n%s\nwant\n%s", stderr, st.wantWarn)
			}
			if st.wantErr != "" {
				if err == nil || err.Error() != st.wantErr {
					t.Fatalf("err = %v, want %s", err, st.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if st.wantOut != "" && stdout != st.wantOut {
				t.Errorf("output\n%s\nwant\n%s", stdout, st.wantOut)
			}
			var got []string
			for _, c := range mj.Calls() {
				got = append(got, c.String())
			}
			if strings.Join(got, "\n") != strings.Join(st.wantCalls, "\n") {
				t.Errorf("Mailjet calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(st.wantCalls, "\n"))
			}
		})
	}
}

func TestMailjetBadKey(t *testing.T) {
	mj := newMJStandIn(t, mjKey, mjSecret)
	cfg := mailjetConfig(t, mj.URL, "a-wrong-secret-value")
	_, _, err := runHookd(t, "mailjet", "--config", cfg, "status")
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "a-wrong-secret-value") {
		t.Fatalf("err = %v, want a 401 without the secret", err)
	}
	noKeys := writeFile(t, "hookd.yaml", "sources: [{name: mailjet, provider: mailjet}]\n")
	if _, _, err := runHookd(t, "mailjet", "--config", noKeys, "status"); err == nil || !strings.Contains(err.Error(), "has no mailjet api_key and api_secret") {
		t.Fatalf("without keys: %v", err)
	}
}

// TestCallbackWatch checks that the periodic check counts dead URLs in the
// gauge and failed checks in the counter.
func TestCallbackWatch(t *testing.T) {
	mj := newMJStandIn(t, mjKey, mjSecret)
	reg := prometheus.NewRegistry()
	var logs strings.Builder
	client := &mjapi.Client{BaseURL: mj.URL, Key: mjKey, Secret: mjSecret}
	w, err := newCallbackWatch(client, 1, nil, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Register(context.Background(), "https://h.example.com/hooks/mailjet", []string{"open", "click", "bounce"}, 2, false); err != nil {
		t.Fatal(err)
	}
	w.check(context.Background())
	if got := testutil.ToFloat64(w.dead); got != 0 {
		t.Errorf("dead = %v, want 0", got)
	}
	mj.mu.Lock()
	mj.callbacks[0].Status, mj.callbacks[2].Status = "dead", "dead"
	mj.mu.Unlock()
	w.check(context.Background())
	if got := testutil.ToFloat64(w.dead); got != 2 {
		t.Errorf("dead = %v, want 2", got)
	}
	if n := strings.Count(logs.String(), "marked an event callback URL dead"); n != 2 {
		t.Errorf("%d warnings, want 2:\n%s", n, logs.String())
	}
	client.Secret = "wrong-secret-value"
	w.check(context.Background())
	if got := testutil.ToFloat64(w.errors); got != 1 || strings.Contains(logs.String(), "wrong-secret-value") {
		t.Errorf("errors = %v, logs:\n%s", got, logs.String())
	}
	if got := testutil.ToFloat64(w.dead); got != 2 {
		t.Errorf("dead after a failed check = %v, want the last known 2", got)
	}
}

// TestMailjetTokenHidden checks that a source's token, registered as the
// last segment of the callback URL, is printed by neither register nor
// status, nor logged by serve's check of dead URLs: it is the source's
// only credential.
func TestMailjetTokenHidden(t *testing.T) {
	const token, oldToken = "hook-token-0123456789", "Old-Hook-Token-9876543210"
	mj := newMJStandIn(t, mjKey, mjSecret)
	cfg := writeFile(t, "hookd.yaml", fmt.Sprintf(`sources:
  - name: mailjet
    provider: mailjet
    auth: { token: { value: %q } }
mailjet: { api_url: %q, api_key: %q, api_secret: %q }
`, token, mj.URL, mjKey, mjSecret))
	const hidden = "https://hooks.example.com/hooks/mailjet/xxxxx"
	tests := []struct {
		name              string
		args              []string
		wantOut, wantWarn string
		wantErr           bool
	}{
		{
			name:    "register",
			args:    []string{"register", "--url", "https://hooks.example.com/hooks/mailjet/" + token, "--events", "open"},
			wantOut: "open     created\nMailjet posts open to " + hidden + " (version 1, main URL)\n",
		},
		{
			name:    "register, percent-encoded",
			args:    []string{"register", "--url", "https://hooks.example.com/hooks/mailjet/hook%2Dtoken-0123456789", "--events", "click"},
			wantOut: "click    created\nMailjet posts click to " + hidden + " (version 1, main URL)\n",
		},
		{
			name:     "register with a typo in the path",
			args:     []string{"register", "--url", "https://hooks.example.com/hooks/mailjett/" + token, "--events", "bounce"},
			wantOut:  "bounce   created\nMailjet posts bounce to https://hooks.example.com/hooks/mailjett/xxxxx (version 1, main URL)\n",
			wantWarn: "warning: https://hooks.example.com/hooks/mailjett/xxxxx: no source has the path /hooks/mailjett/xxxxx (/hooks/mailjet): Mailjet's deliveries would be refused unless a proxy in front of hookd rewrites them\n",
		},
		{
			// A token rotated since: not one of the configuration's.
			name:     "register with an old token",
			args:     []string{"register", "--url", "https://hooks.example.com/hooks/mailjet/" + oldToken, "--events", "sent"},
			wantOut:  "sent     created\nMailjet posts sent to " + hidden + " (version 1, main URL)\n",
			wantWarn: "warning: " + hidden + ": source \"mailjet\" refuses the URL's credentials: Mailjet's deliveries would be refused unless a proxy in front of hookd rewrites them\n",
		},
		{
			name:     "register with a typo in the path and an old token",
			args:     []string{"register", "--url", "https://hooks.example.com/hooks/mailjett/" + oldToken, "--events", "spam"},
			wantOut:  "spam     created\nMailjet posts spam to https://hooks.example.com/hooks/mailjett/xxxxx (version 1, main URL)\n",
			wantWarn: "warning: https://hooks.example.com/hooks/mailjett/xxxxx: no source has the path /hooks/mailjett/xxxxx (/hooks/mailjet): Mailjet's deliveries would be refused unless a proxy in front of hookd rewrites them\n",
		},
		{
			name: "status",
			args: []string{"status"},
			wantOut: "EVENT   VERSION  KIND  STATUS  URL\n" +
				"open    1        main  alive   " + hidden + "\n" +
				"click   1        main  alive   " + hidden + "\n" +
				"bounce  1        main  alive   https://hooks.example.com/hooks/mailjett/xxxxx\n" +
				"sent    1        main  alive   " + hidden + "\n" +
				"spam    1        main  alive   https://hooks.example.com/hooks/mailjett/xxxxx\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHookd(t, append([]string{"mailjet", "--config", cfg}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if stdout != tt.wantOut || stderr != tt.wantWarn {
				t.Errorf("output\n%s%s\nwant\n%s%s", stdout, stderr, tt.wantOut, tt.wantWarn)
			}
			if strings.Contains(stdout+stderr, oldToken) {
				t.Errorf("the old token is shown:\n%s%s", stdout, stderr)
			}
		})
	}

	t.Run("serve's check of dead URLs", func(t *testing.T) {
		mj.mu.Lock()
		mj.callbacks[0].Status = "dead"
		mj.mu.Unlock()
		var logs strings.Builder
		client := &mjapi.Client{BaseURL: mj.URL, Key: mjKey, Secret: mjSecret}
		w, err := newCallbackWatch(client, 1, []string{token}, slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		w.check(context.Background())
		if !strings.Contains(logs.String(), "url="+hidden) || strings.Contains(logs.String(), token) {
			t.Errorf("logs, want the URL %s without the token:\n%s", hidden, logs.String())
		}
	})
}

// TestCallbackWatchHide checks that the tokens a reload of the sources
// brings are hidden in the dead URLs the watch logs, and those of before
// still are: Mailjet may still hold a URL with a token hookd no longer
// takes.
func TestCallbackWatchHide(t *testing.T) {
	// All lower case, as a token may be: not one redact.Path takes for a
	// token by its look.
	const oldToken, newToken = "oldhooktokenoflettersonly", "newhooktokenoflettersonly"
	mj := newMJStandIn(t, mjKey, mjSecret)
	var logs strings.Builder
	client := &mjapi.Client{BaseURL: mj.URL, Key: mjKey, Secret: mjSecret}
	w, err := newCallbackWatch(client, 1, []string{oldToken}, slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{oldToken, newToken} {
		if _, err := client.Register(context.Background(), "https://h.example.com/hooks/mailjet/"+tok, []string{"open"}, 1, tok == newToken); err != nil {
			t.Fatal(err)
		}
	}
	mj.mu.Lock()
	for i := range mj.callbacks {
		mj.callbacks[i].Status = "dead"
	}
	mj.mu.Unlock()
	w.hide([]string{newToken})
	w.check(context.Background())
	if n := strings.Count(logs.String(), "marked an event callback URL dead"); n != 2 {
		t.Errorf("%d warnings, want 2:\n%s", n, logs.String())
	}
	for _, tok := range []string{oldToken, newToken} {
		if strings.Contains(logs.String(), tok) {
			t.Errorf("the watch logged the token %s:\n%s", tok, logs.String())
		}
	}
}
