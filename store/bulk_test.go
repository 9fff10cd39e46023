package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/store"
)

// outage makes four dead jobs on four targets, as a relay outage leaves
// them, one per recipient: old (rule mail, email), dead before the
// returned time, then mail (rule mail, email), hook (rule hook, http) and
// other (rule hook, email). Target "email mail" also has a job waiting
// behind its dead one.
func outage(t *testing.T) (*store.Store, time.Time) {
	t.Helper()
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	mk := func(rule, action, e string) actions.Job {
		j := job(rule, e, action+" "+e)
		j.Action = action
		return j
	}
	die := func(jobs ...actions.Job) {
		enqueue(t, st, jobs...)
		for _, j := range claim(t, st, "me", time.Now().Add(time.Millisecond), 10) {
			if err := finish(ctx, st, "me", actions.Outcome{ID: j.ID, Status: actions.Dead, Error: "relay down"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	die(mk("mail", "email", "old"))
	time.Sleep(2 * time.Millisecond)
	since := time.Now()
	time.Sleep(2 * time.Millisecond)
	die(mk("mail", "email", "mail"), mk("hook", "http", "hook"), mk("hook", "email", "other"))
	waiting := mk("mail", "email", "waiting")
	waiting.Target = "email mail"
	enqueue(t, st, waiting)
	return st, since
}

// state returns the events of the dead jobs and the names of the
// suspended targets, sorted.
func state(t *testing.T, st *store.Store) (dead, suspended []string) {
	t.Helper()
	page, err := st.DeadLetters(context.Background(), 0, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range page.Jobs {
		dead = append(dead, j.EventID)
	}
	ts, err := st.Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range ts {
		if tg.Suspended {
			suspended = append(suspended, tg.Name)
		}
	}
	slices.Sort(dead)
	slices.Sort(suspended)
	return dead, suspended
}

// TestRetryDeadLetters checks that a bulk retry makes pending again the
// dead jobs its filter selects, and those only, resumes their targets and
// no other, numbers their attempts on, and does nothing when repeated.
func TestRetryDeadLetters(t *testing.T) {
	tests := []struct {
		name  string
		f     func(since time.Time) store.DeadFilter
		want  store.Retried
		dead  []string // left dead
		susp  []string // left suspended
		ready []string // claimable once retried
	}{
		{name: "all", f: func(time.Time) store.DeadFilter { return store.DeadFilter{} },
			want: store.Retried{Jobs: 4, Targets: 4}, ready: []string{"hook", "mail", "old", "other"}},
		{name: "rule", f: func(time.Time) store.DeadFilter { return store.DeadFilter{Rule: "mail"} },
			want: store.Retried{Jobs: 2, Targets: 2}, dead: []string{"hook", "other"}, susp: []string{"email other", "http hook"},
			ready: []string{"mail", "old"}},
		{name: "action", f: func(time.Time) store.DeadFilter { return store.DeadFilter{Action: "email"} },
			want: store.Retried{Jobs: 3, Targets: 3}, dead: []string{"hook"}, susp: []string{"http hook"},
			ready: []string{"mail", "old", "other"}},
		{name: "action since", f: func(since time.Time) store.DeadFilter { return store.DeadFilter{Action: "email", Since: since} },
			want: store.Retried{Jobs: 2, Targets: 2}, dead: []string{"hook", "old"}, susp: []string{"email old", "http hook"},
			ready: []string{"mail", "other"}},
		{name: "rule and action", f: func(time.Time) store.DeadFilter { return store.DeadFilter{Rule: "hook", Action: "email"} },
			want: store.Retried{Jobs: 1, Targets: 1}, dead: []string{"hook", "mail", "old"}, susp: []string{"email mail", "email old", "http hook"},
			ready: []string{"other"}},
		{name: "none matches", f: func(time.Time) store.DeadFilter { return store.DeadFilter{Rule: "nope"} },
			dead: []string{"hook", "mail", "old", "other"}, susp: []string{"email mail", "email old", "email other", "http hook"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, since := outage(t)
			f := tt.f(since)
			got, err := st.RetryDeadLetters(ctx, f)
			if err != nil || got != tt.want {
				t.Fatalf("RetryDeadLetters(%+v) = %+v, %v; want %+v", f, got, err, tt.want)
			}
			dead, susp := state(t, st)
			if fmt.Sprint(dead) != fmt.Sprint(tt.dead) || fmt.Sprint(susp) != fmt.Sprint(tt.susp) {
				t.Errorf("after the retry, dead %v and suspended %v; want %v and %v", dead, susp, tt.dead, tt.susp)
			}
			if again, err := st.RetryDeadLetters(ctx, f); err != nil || again != (store.Retried{}) {
				t.Errorf("the retry repeated = %+v, %v; want nothing done", again, err)
			}
			// The retried jobs run, each at its second attempt (the job
			// waiting behind target "email mail" runs too once resumed).
			var ready []string
			for _, j := range claimBatch(t, st, "me", time.Now().Add(time.Millisecond), 10, 10) {
				if j.EventID == "waiting" {
					continue
				}
				if j.Attempts != 2 || j.RetriedAfter != 1 {
					t.Errorf("job %s claimed at attempt %d, retried after %d; want 2 and 1", j.EventID, j.Attempts, j.RetriedAfter)
				}
				ready = append(ready, j.EventID)
			}
			slices.Sort(ready)
			if fmt.Sprint(ready) != fmt.Sprint(tt.ready) {
				t.Errorf("claimed %v, want %v", ready, tt.ready)
			}
		})
	}
}

// TestResumeTargets checks that a bulk resume lifts the suspensions its
// filter selects, and those only, leaves every dead job dead, and does
// nothing when repeated.
func TestResumeTargets(t *testing.T) {
	tests := []struct {
		name string
		f    func(since time.Time) store.TargetFilter
		want int
		susp []string
	}{
		{name: "all", f: func(time.Time) store.TargetFilter { return store.TargetFilter{} }, want: 4},
		{name: "action", f: func(time.Time) store.TargetFilter { return store.TargetFilter{Action: "email"} }, want: 3,
			susp: []string{"http hook"}},
		{name: "action since", f: func(since time.Time) store.TargetFilter { return store.TargetFilter{Action: "email", Since: since} },
			want: 2, susp: []string{"email old", "http hook"}},
		{name: "none matches", f: func(time.Time) store.TargetFilter { return store.TargetFilter{Action: "exec"} },
			susp: []string{"email mail", "email old", "email other", "http hook"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, since := outage(t)
			f := tt.f(since)
			if n, err := st.ResumeTargets(ctx, f); err != nil || n != tt.want {
				t.Fatalf("ResumeTargets(%+v) = %d, %v; want %d", f, n, err, tt.want)
			}
			dead, susp := state(t, st)
			if fmt.Sprint(dead) != "[hook mail old other]" || fmt.Sprint(susp) != fmt.Sprint(tt.susp) {
				t.Errorf("after the resume, dead %v and suspended %v; want all four dead and %v suspended", dead, susp, tt.susp)
			}
			if n, err := st.ResumeTargets(ctx, f); err != nil || n != 0 {
				t.Errorf("the resume repeated = %d, %v; want 0", n, err)
			}
		})
	}
}

func TestListTargets(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name  string
		q     store.TargetQuery
		pages []string
	}{
		{name: "all in one page", q: store.TargetQuery{}, pages: []string{"[email mail email old email other http hook]"}},
		{name: "pages of two", q: store.TargetQuery{Limit: 2}, pages: []string{"[email mail email old]", "[email other http hook]"}},
		{name: "pages of three", q: store.TargetQuery{Limit: 3}, pages: []string{"[email mail email old email other]", "[http hook]"}},
		{name: "suspended", q: store.TargetQuery{Suspended: &yes, Limit: 3}, pages: []string{"[email old email other http hook]"}},
		{name: "not suspended", q: store.TargetQuery{Suspended: &no}, pages: []string{"[email mail]"}},
		{name: "by name", q: store.TargetQuery{Name: "email other"}, pages: []string{"[email other]"}},
		{name: "by name, not suspended", q: store.TargetQuery{Name: "email other", Suspended: &no}, pages: []string{"[]"}},
		{name: "unknown name", q: store.TargetQuery{Name: "email nobody"}, pages: []string{"[]"}},
	}
	ctx := context.Background()
	st, _ := outage(t)
	// "email mail" alone is resumed: its job waiting behind the dead one
	// is counted, and the filters tell it from the others.
	mail, err := st.Target(ctx, "email mail")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ResumeTarget(ctx, mail.ID); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			var pages []string
			for range 10 {
				page, err := st.ListTargets(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, tg := range page.Targets {
					names = append(names, tg.Name)
					if tg.Name == "email mail" && (tg.Pending != 1 || tg.Dead != 1) {
						t.Errorf("email mail: %d pending, %d dead; want 1 and 1", tg.Pending, tg.Dead)
					}
				}
				pages = append(pages, fmt.Sprint(names))
				if page.Next == "" {
					break
				}
				q.Cursor = page.Next
			}
			if fmt.Sprint(pages) != fmt.Sprint(tt.pages) {
				t.Errorf("pages %v; want %v", pages, tt.pages)
			}
		})
	}
}

func TestListTargetsRefuses(t *testing.T) {
	ctx := context.Background()
	st, _ := outage(t)
	jobs, err := st.Jobs(ctx, store.JobQuery{Limit: 1})
	if err != nil || jobs.Next == "" {
		t.Fatalf("Jobs: %v, next %q; want a next cursor", err, jobs.Next)
	}
	for name, q := range map[string]store.TargetQuery{
		"a cursor of jobs":  {Cursor: jobs.Next},
		"not base64":        {Cursor: "!!"},
		"a kind alone":      {Cursor: "dA"},
		"a limit too large": {Limit: store.MaxLimit + 1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := st.ListTargets(ctx, q); !errors.As(err, new(*store.QueryError)) {
				t.Errorf("ListTargets(%+v) = %v; want a *store.QueryError", q, err)
			}
		})
	}
}
