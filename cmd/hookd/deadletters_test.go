package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/internal/storetest"
	"github.com/hookd/hookd/store"
)

// seedDeadLetters makes a store in a new data directory whose job 1
// (target 1) is dead, suspending target 1, whose job 2 (target 1) waits,
// and whose job 3 (target 2) is dead too.
func seedDeadLetters(t *testing.T) (data string) {
	t.Helper()
	ctx := context.Background()
	data = filepath.Join(t.TempDir(), "data")
	st := openDataStore(t, data)
	defer st.Close()
	targets := map[string]string{"e1": "http POST a", "e2": "http POST a", "e3": "log"}
	var events []event.Event
	for i, id := range []string{"e1", "e2", "e3"} {
		at := time.Date(2025, 3, 1, 12, i, 0, 0, time.UTC)
		events = append(events, event.Event{ID: id, Source: "mailjet", Provider: "mailjet", Type: "bounce", Time: at, Received: at,
			Email: "ann@a.com", Domain: "a.com", Data: json.RawMessage(`{}`)})
	}
	storetest.Jobs(t, st, events, func(e event.Event) actions.Job {
		return actions.Job{Key: "notify/" + e.ID, Rule: "notify", Action: "http", Target: targets[e.ID],
			Params: json.RawMessage(`{}`), Retry: "3x1m", EventID: e.ID}
	})
	claimed, err := st.Claim(ctx, "test", time.Now().Add(time.Millisecond), 10, 1, time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 2 || claimed[0].ID+claimed[1].ID != 4 {
		t.Fatalf("claimed %+v, want jobs 1 and 3", claimed)
	}
	for _, j := range claimed {
		if err := st.Finish(ctx, "test", []actions.Outcome{{ID: j.ID, Status: actions.Dead, Attempt: 1, Took: time.Second, Error: "503 Service Unavailable"}}); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// cursorArg matches the cursor a note on stderr gives.
var cursorArg = regexp.MustCompile(`--cursor \S+`)

// clock matches the times of the test run in the output.
var clock = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)

func TestDeadLettersCommand(t *testing.T) {
	data := seedDeadLetters(t)
	missing := filepath.Join(t.TempDir(), "none")
	// In order: retry and resume change what follows.
	suspended := "2 targets suspended: hookd deadletters targets lists them\n"
	tests := []struct {
		name       string
		args       []string
		wantErr    string
		wantStderr string
	}{
		{name: "list", args: []string{"list"}, wantStderr: suspended},
		{name: "list_json", args: []string{"list", "--json", "--limit", "1"}, wantStderr: "more jobs are dead: repeat with --cursor CURSOR\n"},
		{name: "targets", args: []string{"targets"}},
		// The retry resumes target 1: job 1 runs with job 2.
		{name: "retry", args: []string{"retry", "1"}},
		{name: "list_after_retry", args: []string{"list"}, wantStderr: "1 target suspended: hookd deadletters targets lists them\n"},
		{name: "targets_after_retry", args: []string{"targets"}},
		{name: "targets_json", args: []string{"targets", "--json"}},
		{name: "retry_again", args: []string{"retry", "1"}, wantErr: "deadletters retry: no dead job 1 (hookd deadletters list shows them)"},
		{name: "retry_bad_id", args: []string{"retry", "one"}, wantErr: `deadletters retry: job id "one" is not a positive integer`},
		{name: "retry_nothing", args: []string{"retry"}, wantErr: "deadletters retry: give JOB_ID, or --all, or --rule, --action or --since"},
		{name: "retry_id_and_all", args: []string{"retry", "3", "--all"}, wantErr: "deadletters retry: give JOB_ID, or --all, or --rule, --action and --since, not both"},
		{name: "retry_all_and_rule", args: []string{"retry", "--all", "--rule", "notify"}, wantErr: "deadletters retry: --all selects every one: give it without --rule"},
		{name: "retry_bad_since", args: []string{"retry", "--since", "soon"}, wantErr: `deadletters retry: --since "soon" is not an RFC 3339 time such as 2025-03-01T12:00:00Z, a date such as 2025-03-01 (its midnight UTC) or a duration ago such as 24h or 7d`},
		{name: "retry_rule_none", args: []string{"retry", "--rule", "nope"}},
		{name: "resume_nothing", args: []string{"resume"}, wantErr: "deadletters resume: give TARGET_ID, or --all, or --action or --since"},
		{name: "resume_rule", args: []string{"resume", "--rule", "notify"}, wantErr: "deadletters resume: unknown flag: --rule"},
		{name: "resume_action_none", args: []string{"resume", "--action", "email"}},
		{name: "resume_action_unknown", args: []string{"resume", "--action", "mailjet-send"}, wantErr: `deadletters resume: --action "mailjet-send" is not an action kind (want one of: email, exec, http, log, mailjet_send, mailjet_unsubscribe, suppress)`},
		{name: "retry_action_unknown", args: []string{"retry", "--action", "webhook", "--since", "2h"}, wantErr: `deadletters retry: --action "webhook" is not an action kind (want one of: email, exec, http, log, mailjet_send, mailjet_unsubscribe, suppress)`},
		{name: "resume_action", args: []string{"resume", "--action", "http", "--since", "2025-01-01"}},
		{name: "resume", args: []string{"resume", "1"}},
		{name: "resume_json", args: []string{"resume", "2", "--json"}},
		{name: "resume_unknown", args: []string{"resume", "9"}, wantErr: "deadletters resume: no target 9 (hookd deadletters targets lists the suspended ones)"},
		// Job 3 is still dead, its target resumed.
		{name: "retry_all", args: []string{"retry", "--all", "--json"}},
		{name: "retry_all_again", args: []string{"retry", "--all"}},
		{name: "list_after", args: []string{"list"}},
		{name: "targets_after", args: []string{"targets"}},
		{name: "targets_after_json", args: []string{"targets", "--json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHookd(t, append([]string{"deadletters", "--data", data}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if stderr := cursorArg.ReplaceAllString(stderr, "--cursor CURSOR"); stderr != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", stderr, tt.wantStderr)
			}
			// Whole seconds keep the table's columns; fractions vary in length.
			stable := clock.ReplaceAllStringFunc(stdout, func(s string) string {
				if len(s) == len(time.RFC3339)-5 {
					return strings.Repeat("T", len(s))
				}
				return "TIME"
			})
			goldenText(t, filepath.Join("testdata", "deadletters", tt.name+".txt"), stable)
		})
	}
	// A store with no dead job and no suspended target.
	empty := filepath.Join(t.TempDir(), "data")
	openDataStore(t, empty).Close()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"list"}, "no dead letters\n"},
		{[]string{"list", "--json"}, ""},
		{[]string{"targets"}, "no suspended targets\n"},
		{[]string{"targets", "--json"}, ""},
	} {
		stdout, stderr, err := runHookd(t, append([]string{"deadletters", "--data", empty}, tt.args...)...)
		if err != nil || stdout != tt.want || stderr != "" {
			t.Errorf("deadletters %s on an empty store: %q, stderr %q, %v; want %q", strings.Join(tt.args, " "), stdout, stderr, err, tt.want)
		}
	}

	// retry JOB_ID --json prints the job and what became of its target,
	// as POST /api/deadletters/{id}/retry answers: job 1's was resumed.
	stdout, _, err := runHookd(t, "deadletters", "--data", seedDeadLetters(t), "retry", "1", "--json")
	var r struct {
		ID              int64  `json:"id"`
		Status          string `json:"status"`
		TargetResumed   *bool  `json:"target_resumed"`
		TargetSuspended *bool  `json:"target_suspended"`
	}
	if err != nil || json.Unmarshal([]byte(stdout), &r) != nil || r.ID != 1 || r.Status != "pending" ||
		r.TargetResumed == nil || !*r.TargetResumed || r.TargetSuspended == nil || *r.TargetSuspended {
		t.Errorf("retry 1 --json = %s, %v; want job 1 pending with target_resumed true and target_suspended false", stdout, err)
	}

	if _, _, err := runHookd(t, "deadletters", "--data", missing, "retry", "1"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("retry on a missing data directory: err = %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("retry created the missing data directory")
	}
}

// TestDeadLettersCommandLarge lists dead jobs whose events are larger than
// a store page holds a few of (store.PageBytes): --limit still counts jobs,
// not store pages, and the cursor note continues after the last one
// printed.
func TestDeadLettersCommandLarge(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	st := openDataStore(t, data)
	t.Cleanup(func() { st.Close() })
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var events []event.Event
	for i := range 12 {
		at := base.Add(time.Duration(i) * time.Second)
		events = append(events, event.Event{ID: fmt.Sprintf("big-%02d", i), Source: "mailjet", Provider: "mailjet", Type: "open",
			Time: at, Received: at, Email: "fat@x.com", Domain: "x.com", MessageID: fmt.Sprint(i),
			Data: json.RawMessage(fmt.Sprintf(`{"event":"open","p":%q}`, strings.Repeat("z", 1<<20)))})
	}
	// Each job holds its event's JSON, data included, as a rule's does.
	storetest.Jobs(t, st, events, func(e event.Event) actions.Job {
		b, err := e.Marshal()
		if err != nil {
			t.Error(err)
		}
		return actions.Job{Key: "notify/" + e.ID, Rule: "notify", Action: "http", Target: "http POST big",
			Params: json.RawMessage(`{}`), Retry: "3x1m", EventID: e.ID, Event: b}
	})
	claimed, err := st.Claim(ctx, "test", time.Now().Add(time.Millisecond), 1, len(events), time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != len(events) {
		t.Fatalf("claimed %d jobs, want %d", len(claimed), len(events))
	}
	// The jobs die one at a time in the order of their ids: the most
	// recently dead, listed first, is the highest id.
	slices.SortFunc(claimed, func(a, b actions.Job) int { return cmp.Compare(a.ID, b.ID) })
	var want []string
	for _, j := range claimed {
		if err := st.Finish(ctx, "test", []actions.Outcome{{ID: j.ID, Status: actions.Dead, Attempt: 1, Took: time.Second, Error: "503 Service Unavailable"}}); err != nil {
			t.Fatal(err)
		}
		want = append([]string{strconv.FormatInt(j.ID, 10)}, want...)
	}

	tests := []struct {
		name  string
		args  []string
		want  []string
		more  bool
		table bool
	}{
		{name: "json", args: []string{"--limit", "10", "--json"}, want: want[:10], more: true},
		{name: "table", args: []string{"--limit", "10"}, want: want[:10], more: true, table: true},
		{name: "all", args: []string{"--limit", "1000", "--json"}, want: want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHookd(t, append([]string{"deadletters", "--data", data, "list"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for line := range strings.Lines(stdout) {
				if tt.table {
					if f := strings.Fields(line); f[0] != "JOB" {
						ids = append(ids, f[0])
					}
					continue
				}
				var j store.JobRecord
				if err := json.Unmarshal([]byte(line), &j); err != nil {
					t.Fatalf("line of %d bytes: %v", len(line), err)
				}
				if len(j.Event) < 1<<20 {
					t.Fatalf("job %d: event of %d bytes, want its whole JSON", j.ID, len(j.Event))
				}
				ids = append(ids, strconv.FormatInt(j.ID, 10))
			}
			if got := strings.Join(ids, " "); got != strings.Join(tt.want, " ") {
				t.Fatalf("listed %s, want %s", got, strings.Join(tt.want, " "))
			}
			// The table's stderr also tells that the target is suspended.
			var (
				cursor string
				more   bool
			)
			for line := range strings.Lines(stderr) {
				if c, ok := strings.CutPrefix(strings.TrimSpace(line), "more jobs are dead: repeat with --cursor "); ok {
					cursor, more = c, true
				}
			}
			if more != tt.more {
				t.Fatalf("stderr = %q, want a cursor note: %v", stderr, tt.more)
			}
			if !more {
				return
			}
			stdout, _, err = runHookd(t, "deadletters", "--data", data, "list", "--json", "--cursor", cursor)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(stdout, "\n"); n != 2 || !strings.Contains(stdout, `"id":`+want[10]+`,`) || !strings.Contains(stdout, `"id":`+want[11]+`,`) {
				t.Fatalf("after the cursor: %d lines, want jobs %s and %s", n, want[10], want[11])
			}
		})
	}
}

// TestDeadLettersRedactsSecrets checks that the JSON of a dead http job
// shows its URL's password, path and query values and its header values as
// [redacted], as /api/deadletters does, while the store keeps them.
func TestDeadLettersRedactsSecrets(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	st := openDataStore(t, data)
	t.Cleanup(func() { st.Close() })
	params := json.RawMessage(`{"headers":{"Authorization":"Bearer h-s3cret"},"url":"http://user:s3cretPW@127.0.0.1:19199/hooks/p4th-s3cret?token=q-s3cret"}`)
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	storetest.Jobs(t, st, []event.Event{{ID: "e1", Source: "mailjet", Provider: "mailjet", Type: "bounce", Time: at, Received: at,
		Email: "ann@a.com", Domain: "a.com", Data: json.RawMessage(`{}`)}}, func(e event.Event) actions.Job {
		return actions.Job{Key: "notify/" + e.ID, Rule: "notify", Action: "http", Target: "http POST http://127.0.0.1:19199/x",
			Params: params, Retry: "3x1m", EventID: e.ID}
	})
	if _, err := st.Claim(ctx, "test", time.Now().Add(time.Millisecond), 10, 1, time.Minute, ""); err != nil {
		t.Fatal(err)
	}
	if err := st.Finish(ctx, "test", []actions.Outcome{{ID: 1, Status: actions.Dead, Attempt: 1, Took: time.Second, Error: "503 Service Unavailable"}}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list", "--json"}, {"retry", "1", "--json"}} {
		t.Run(args[0], func(t *testing.T) {
			stdout, _, err := runHookd(t, append([]string{"deadletters", "--data", data}, args...)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{"s3cretPW", "p4th-s3cret", "q-s3cret", "h-s3cret"} {
				if strings.Contains(stdout, secret) {
					t.Errorf("stdout holds the secret %q: %s", secret, stdout)
				}
			}
			want := `"params":{"headers":{"Authorization":"[redacted]"},"url":"http://[redacted]@127.0.0.1:19199/[redacted]?token=[redacted]"}`
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %s: %s", want, stdout)
			}
		})
	}
	j, err := st.Job(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(j.Params) != string(params) {
		t.Errorf("stored params = %s, want %s", j.Params, params)
	}
}

// TestHelpTellsJSONAnswers checks that the help of the commands whose
// --json prints what the API answers, rather than a listing's rows, says
// what that is, as the README's command table does.
func TestHelpTellsJSONAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"deadletters retry", []string{"deadletters", "retry", "--help"}, []string{"target_resumed", "target_suspended"}},
		{"suppressions remove", []string{"suppressions", "remove", "--help"}, []string{`{"removed":"EMAIL"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runHookd(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%s --help does not name %s:\n%s", tc.name, w, out)
				}
			}
		})
	}
}
