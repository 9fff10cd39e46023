package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	httpaction "github.com/hookd/hookd/actions/http"
	"github.com/hookd/hookd/store"
)

// slackURL is an http action's url with its token in the path, and
// oldSlack the target that hookd gave it before paths were kept secret.
const (
	slackURL   = "https://hooks.slack.com/services/T0ABC/B0DEF/SLACKs3cretTOKEN?x=1"
	oldSlack   = "http POST https://hooks.slack.com/services/T0ABC/B0DEF/SLACKs3cretTOKEN"
	slackToken = "SLACKs3cretTOKEN"
)

// oldJobs enqueues, as a hookd before schema version 12 did, two jobs for
// the Slack URL and one for a URL without a path, and dead-letters the
// first, whose error named its target: the Slack target is suspended.
func oldJobs(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	job := func(n int, url, target string) actions.Job {
		return actions.Job{Key: fmt.Sprintf("notify/0/e%d", n), Rule: "notify", Action: httpaction.Name, Target: target,
			Params: json.RawMessage(`{"url":"` + url + `"}`), Retry: "none", EventID: fmt.Sprintf("e%d", n), Event: json.RawMessage(`{}`)}
	}
	err := st.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.Enqueue(ctx, job(1, slackURL, oldSlack), job(2, slackURL, oldSlack),
			job(3, "https://alerts.example.com/", "http POST https://alerts.example.com/"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := st.Claim(ctx, "old", time.Now().Add(time.Millisecond), 10, 10, time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []actions.Outcome
	for _, j := range claimed {
		o := actions.Outcome{ID: j.ID, Status: actions.Done, Attempt: j.Attempts, Took: time.Millisecond}
		switch j.ID {
		case 1:
			o.Status, o.Error = actions.Dead, "POST https://hooks.slack.com/services/T0ABC/B0DEF/SLACKs3cretTOKEN: answered 500 Internal Server Error"
		case 2:
			o = actions.Outcome{ID: j.ID, Unrun: true}
		}
		outcomes = append(outcomes, o)
	}
	if len(outcomes) != 3 {
		t.Fatalf("claimed %d jobs, want 3", len(outcomes))
	}
	if err := st.Finish(ctx, "old", outcomes); err != nil {
		t.Fatal(err)
	}
}

// checkRetargeted checks a store that oldJobs filled after the migration
// to schema version 12: no target, error or reason shows the token; the
// Slack target is the one the http action names now, still suspended,
// and holds the job enqueued for it before and one enqueued now, until it
// is resumed.
func checkRetargeted(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	kind, err := actions.Lookup(httpaction.Name)
	if err != nil {
		t.Fatal(err)
	}
	target := kind.Target(map[string]any{"url": slackURL})
	if target == oldSlack || strings.Contains(target, slackToken) {
		t.Fatalf("the http action's target %q shows the path", target)
	}
	ts, err := st.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 {
		t.Fatalf("targets %+v, want 2", ts)
	}
	slack, err := st.Target(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if !slack.Suspended || slack.Pending != 1 || slack.Dead != 1 {
		t.Errorf("target %+v, want suspended with one pending and one dead job", slack)
	}
	wantErr := strings.TrimPrefix(target, "http ") + ": answered 500 Internal Server Error"
	if want := "job 1 is dead: " + wantErr; slack.Reason != want {
		t.Errorf("reason %q, want %q", slack.Reason, want)
	}
	j, err := st.Job(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if j.Target != target || j.LastError != wantErr || len(j.History) != 1 || j.History[0].Error != wantErr {
		t.Errorf("job 1: target %q, last error %q, history %+v; want %q and %q", j.Target, j.LastError, j.History, target, wantErr)
	}
	// What hookd shows of the store holds no token but in the params.
	page, err := st.Jobs(ctx, store.JobQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range page.Jobs {
		j.Params = nil
		if b, _ := json.Marshal(j); strings.Contains(string(b), slackToken) {
			t.Errorf("job shows the token: %s", b)
		}
	}
	if b, _ := json.Marshal(ts); strings.Contains(string(b), slackToken) {
		t.Errorf("targets show the token: %s", b)
	}

	// A job enqueued now for the same URL waits for the same target.
	err = st.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.Enqueue(ctx, actions.Job{Key: "notify/0/e4", Rule: "notify", Action: httpaction.Name, Target: target,
			Params: json.RawMessage(`{"url":"` + slackURL + `"}`), Retry: "none", EventID: "e4", Event: json.RawMessage(`{}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if claimed, err := st.Claim(ctx, "new", time.Now().Add(time.Millisecond), 10, 10, time.Minute, ""); err != nil || len(claimed) != 0 {
		t.Fatalf("claimed %v (%v) from a suspended target", claimed, err)
	}
	if err := st.ResumeTarget(ctx, slack.ID); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.Claim(ctx, "new", time.Now().Add(time.Millisecond), 10, 10, time.Minute, "")
	if err != nil || len(claimed) != 2 || claimed[0].ID != 2 || claimed[1].ID != 4 {
		t.Fatalf("claimed %v (%v) once resumed, want jobs 2, enqueued before the migration, and 4", claimed, err)
	}
}

// TestRetarget runs the Go step of the migration to schema version 12 on
// whichever database the tests run on.
func TestRetarget(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	oldJobs(t, st)
	if err := st.Retarget(ctx); err != nil {
		t.Fatal(err)
	}
	checkRetargeted(t, st)
	// Run again, it finds nothing to do.
	if err := st.Retarget(ctx); err != nil {
		t.Fatal(err)
	}
	if ts, err := st.Targets(ctx); err != nil || len(ts) != 2 {
		t.Errorf("targets %v (%v) after a second run, want 2", ts, err)
	}
}

// TestRetargetMigration rolls a SQLite store back to schema version 11:
// opening it again migrates its targets.
func TestRetargetMigration(t *testing.T) {
	sqliteOnly(t) // it rolls a store.db back to an older schema
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldJobs(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	execRaw(t, dir,
		`DROP INDEX rule_firings_at`, // migration 14
		`UPDATE schema_version SET version = 11`,
	)
	st, err = store.Open(ctx, store.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkRetargeted(t, st)
}

// TestRetargetLeftovers enqueues jobs, as a replica of a hookd before
// schema version 12 does into a store that a newer replica has migrated,
// under targets that show the URL's path: a read-only open leaves them,
// and two replicas opening the store at once for writing rename them.
func TestRetargetLeftovers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := storeConfig(t, dir)
	st := openStore(t, dir)
	oldJobs(t, st)

	ro := cfg
	ro.ReadOnly = true
	rst, err := store.Open(ctx, ro, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rst.Close()
	if _, err := rst.Target(ctx, oldSlack); err != nil {
		t.Fatalf("the old target after a read-only open: %v", err)
	}

	opened := make(chan *store.Store, 2)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			s, err := store.Open(ctx, cfg, nil)
			opened <- s
			errs <- err
		}()
	}
	for range 2 {
		if s := <-opened; s != nil {
			defer s.Close()
		}
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	checkRetargeted(t, st)
}
