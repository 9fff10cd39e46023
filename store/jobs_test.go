package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/store"
)

// claim claims the jobs of up to limit targets, one of each, at now for
// owner, with a lease of a minute.
func claim(t *testing.T, st *store.Store, owner string, now time.Time, limit int) []actions.Job {
	t.Helper()
	return claimBatch(t, st, owner, now, limit, 1)
}

// claimBatch claims up to batch jobs of each of up to limit targets.
func claimBatch(t *testing.T, st *store.Store, owner string, now time.Time, limit, batch int) []actions.Job {
	t.Helper()
	jobs, err := st.Claim(context.Background(), owner, now, limit, batch, time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// finish records the outcome o of owner's claim, numbering its attempt
// as the store counts it.
func finish(ctx context.Context, st *store.Store, owner string, o actions.Outcome) error {
	if rec, err := st.Job(ctx, o.ID); err == nil {
		o.Attempt = rec.Attempts
	}
	return st.Finish(ctx, owner, []actions.Outcome{o})
}

// events returns the event ids of jobs, in order.
func events(jobs []actions.Job) []string {
	out := []string{}
	for _, j := range jobs {
		out = append(out, j.EventID)
	}
	return out
}

// jobByEvent returns the one job of event e.
func jobByEvent(t *testing.T, st *store.Store, e string) store.JobRecord {
	t.Helper()
	page, err := st.Jobs(context.Background(), store.JobQuery{EventID: e})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 1 {
		t.Fatalf("%d jobs for event %s, want 1", len(page.Jobs), e)
	}
	return page.Jobs[0]
}

func TestQueueClaim(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	enqueue(t, st, job("r", "a1", "a"), job("r", "a2", "a"), job("r", "b1", "b"))
	enqueue(t, st, job("r", "c1", "c"))
	now := time.Now().Add(time.Millisecond)

	got := claim(t, st, "me", now, 2)
	if want := []string{"a1", "b1"}; !slices.Equal(events(got), want) {
		t.Fatalf("first claim = %v, want %v: the oldest due job of each target, oldest first, up to the limit", events(got), want)
	}
	for _, j := range got {
		if j.Status != actions.Running || j.Attempts != 1 || string(j.Params) != `{"n":12345678901234567890}` || j.Retry != "3x10ms" {
			t.Errorf("claimed %+v: want running, attempt 1, params and retry intact", j)
		}
	}
	if got := claim(t, st, "me", now, 10); !slices.Equal(events(got), []string{"c1"}) {
		t.Fatalf("second claim = %v, want [c1]: a and b are running", events(got))
	}
	if got := claim(t, st, "you", now, 10); len(got) != 0 {
		t.Fatalf("claim with every target running = %v, want none", events(got))
	}

	a1 := jobByEvent(t, st, "a1")
	if err := finish(ctx, st, "you", actions.Outcome{ID: a1.ID, Status: actions.Done, Took: time.Millisecond}); !errors.Is(err, store.ErrNotHeld) {
		t.Errorf("Finish by another owner = %v, want ErrNotHeld", err)
	}
	if err := finish(ctx, st, "me", actions.Outcome{ID: a1.ID, Status: actions.Done, Took: 3 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := finish(ctx, st, "me", actions.Outcome{ID: a1.ID, Status: actions.Done, Took: time.Millisecond}); !errors.Is(err, store.ErrNotHeld) {
		t.Errorf("Finish of a job done = %v, want ErrNotHeld", err)
	}
	rec, err := st.Job(ctx, a1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != actions.Done || len(rec.History) != 1 || rec.History[0].Attempt != 1 ||
		rec.History[0].Took != 3*time.Millisecond || rec.History[0].Error != "" {
		t.Errorf("job done = %+v", rec)
	}
	if got := claim(t, st, "me", now, 10); !slices.Equal(events(got), []string{"a2"}) {
		t.Fatalf("claim after a1 is done = %v, want [a2]", events(got))
	}

	for _, e := range []string{"a2", "c1"} {
		if err := finish(ctx, st, "me", actions.Outcome{ID: jobByEvent(t, st, e).ID, Status: actions.Done, Took: time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	// A job is not claimed before it is due.
	b1 := jobByEvent(t, st, "b1")
	if err := finish(ctx, st, "me", actions.Outcome{ID: b1.ID, Status: actions.Pending, Took: time.Millisecond, Error: "down", Next: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, st, "me", now.Add(time.Minute), 10); len(got) != 0 {
		t.Fatalf("claim before the retry is due = %v, want none", events(got))
	}
	got = claim(t, st, "me", now.Add(time.Hour), 10)
	if len(got) != 1 || got[0].EventID != "b1" || got[0].Attempts != 2 || got[0].LastError != "down" {
		t.Fatalf("claim when the retry is due = %+v, want b1, attempt 2, last error down", got)
	}

	if _, err := st.Job(ctx, 999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Job(999) = %v, want ErrNotFound", err)
	}
}

// TestQueueLease checks that a job whose runner died is claimed again when
// its lease expires, before any other job of its target, and that the
// runner that lost it can no longer record it.
func TestQueueLease(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	enqueue(t, st, job("r", "a1", "a"), job("r", "a2", "a"))
	now := time.Now().Add(time.Millisecond)
	first := claim(t, st, "dead", now, 10)
	if !slices.Equal(events(first), []string{"a1"}) {
		t.Fatalf("claim = %v", events(first))
	}
	if got := claim(t, st, "alive", now.Add(59*time.Second), 10); len(got) != 0 {
		t.Fatalf("claim within the lease = %v, want none", events(got))
	}
	got := claim(t, st, "alive", now.Add(time.Minute), 10)
	if len(got) != 1 || got[0].ID != first[0].ID || got[0].Attempts != 2 {
		t.Fatalf("claim after the lease = %+v, want a1 again at attempt 2, and not a2 beside it", got)
	}
	if err := finish(ctx, st, "dead", actions.Outcome{ID: first[0].ID, Status: actions.Pending, Took: time.Second, Error: "late", Next: now}); !errors.Is(err, store.ErrNotHeld) {
		t.Errorf("Finish by the owner whose lease expired = %v, want ErrNotHeld", err)
	}
	if err := finish(ctx, st, "alive", actions.Outcome{ID: first[0].ID, Status: actions.Done, Took: time.Second}); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, st, "alive", now.Add(time.Minute), 10); !slices.Equal(events(got), []string{"a2"}) {
		t.Fatalf("claim after a1 is done = %v, want [a2]", events(got))
	}
}

// TestQueueRenew checks that a claim renewed within its lease is not
// claimed again when its first lease lapses, while one not renewed is, by
// another runner only, naming the owner whose claim lapsed; that the runner that lost a job can
// no longer renew it; and that a claim whose lease lapsed but that no one
// took over can still be renewed.
func TestQueueRenew(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	enqueue(t, st, job("r", "a1", "a"), job("r", "b1", "b"))
	now := time.Now().Add(time.Millisecond)
	got := claim(t, st, "me", now, 10)
	if !slices.Equal(events(got), []string{"a1", "b1"}) {
		t.Fatalf("claim = %v", events(got))
	}
	a1, b1 := got[0], got[1]
	if err := st.Renew(ctx, "me", []int64{b1.ID}, now.Add(40*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	// me lost the queue for a lease, but is alive: it renews a1 once the
	// queue is back, and never claims a1 again beside its running attempt.
	if got := claim(t, st, "me", now.Add(time.Minute), 10); len(got) != 0 {
		t.Fatalf("claim by me when its own lease lapsed = %+v, want none", got)
	}
	got = claim(t, st, "other", now.Add(time.Minute), 10)
	if len(got) != 1 || got[0].ID != a1.ID || got[0].Attempts != 2 || got[0].LapsedOwner != "me" {
		t.Fatalf("claim when the first lease lapsed = %+v, want a1 alone, attempt 2, lapsed from me", got)
	}
	// The lapsed attempt is in the history, under its number, naming me.
	if rec, err := st.Job(ctx, a1.ID); err != nil {
		t.Fatal(err)
	} else if h := rec.History; len(h) != 1 || h[0].Attempt != 1 || !strings.Contains(h[0].Error, "interrupted: the claim of runner me lapsed") {
		t.Errorf("a1's history after its claim lapsed = %+v, want attempt 1 interrupted", h)
	}

	err := st.Renew(ctx, "me", []int64{a1.ID, b1.ID}, now.Add(61*time.Second), time.Minute)
	if !errors.Is(err, store.ErrNotHeld) || !strings.Contains(err.Error(), fmt.Sprintf("[%d]", a1.ID)) {
		t.Fatalf("Renew of a job taken over = %v, want ErrNotHeld naming job %d", err, a1.ID)
	}
	if got := claim(t, st, "other", now.Add(110*time.Second), 10); len(got) != 0 {
		t.Fatalf("claim within the renewed leases = %v, want none", events(got))
	}
	if err := finish(ctx, st, "other", actions.Outcome{ID: a1.ID, Status: actions.Done, Took: time.Second}); err != nil {
		t.Fatal(err)
	}

	// b1's lease lapsed at 121 s, but no one took it over: it is still
	// me's, and a renewal holds it.
	if err := st.Renew(ctx, "me", []int64{b1.ID}, now.Add(130*time.Second), time.Minute); err != nil {
		t.Fatalf("Renew of a lapsed claim no one took over = %v", err)
	}
	if got := claim(t, st, "third", now.Add(150*time.Second), 10); len(got) != 0 {
		t.Fatalf("claim within the renewed lease = %v, want none", events(got))
	}
	got = claim(t, st, "third", now.Add(190*time.Second), 10)
	if len(got) != 1 || got[0].ID != b1.ID || got[0].LapsedOwner != "me" {
		t.Fatalf("claim once the renewed lease lapsed = %+v, want b1, lapsed from me", got)
	}
	if err := st.Renew(ctx, "me", nil, now, time.Minute); err != nil {
		t.Errorf("Renew of no job = %v", err)
	}
}

// TestQueueDeadLetters checks that a dead job suspends its target, whose
// other jobs wait, until the target is resumed; and that a dead letter can
// be retried.
func TestQueueDeadLetters(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	enqueue(t, st, job("r", "a1", "a"), job("r", "a2", "a"), job("r", "b1", "b"))
	woken(st)
	now := time.Now().Add(time.Millisecond)
	got := claim(t, st, "me", now, 10)
	if !slices.Equal(events(got), []string{"a1", "b1"}) {
		t.Fatalf("claim = %v", events(got))
	}
	a1, b1 := got[0], got[1]
	if err := finish(ctx, st, "me", actions.Outcome{ID: a1.ID, Status: actions.Dead, Took: time.Second, Error: "gone"}); err != nil {
		t.Fatal(err)
	}

	targets, err := st.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 2 {
		t.Fatalf("targets = %+v", targets)
	}
	a, b := targets[0], targets[1]
	if a.Name != "a" || !a.Suspended || a.SuspendedAt.IsZero() || a.Reason == "" || a.Pending != 1 || a.Running != 0 || a.Dead != 1 {
		t.Errorf("target a = %+v, want suspended with 1 pending and 1 dead", a)
	}
	if b.Name != "b" || b.Suspended || b.Running != 1 {
		t.Errorf("target b = %+v, want 1 running", b)
	}
	if err := finish(ctx, st, "me", actions.Outcome{ID: b1.ID, Status: actions.Done, Took: time.Second}); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, st, "me", now.Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("claim with a suspended = %v, want none", events(got))
	}

	dead, err := st.DeadLetters(ctx, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(dead.Jobs) != 1 || dead.Jobs[0].ID != a1.ID || dead.Jobs[0].LastError != "gone" ||
		len(dead.Jobs[0].History) != 1 || dead.Jobs[0].History[0].Error != "gone" {
		t.Fatalf("dead letters = %+v", dead)
	}

	if err := st.ResumeTarget(ctx, 999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ResumeTarget(999) = %v, want ErrNotFound", err)
	}
	if woken(st) {
		t.Fatal("woken before the target was resumed")
	}
	if err := st.ResumeTarget(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if !woken(st) {
		t.Error("not woken when the target was resumed")
	}
	if got := claim(t, st, "me", now.Add(time.Hour), 10); !slices.Equal(events(got), []string{"a2"}) {
		t.Fatalf("claim after resume = %v, want [a2]; a1 stays dead", events(got))
	}
	a2 := jobByEvent(t, st, "a2")
	if err := finish(ctx, st, "me", actions.Outcome{ID: a2.ID, Status: actions.Done, Took: time.Second}); err != nil {
		t.Fatal(err)
	}

	if _, err := st.RetryDeadLetter(ctx, a2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RetryDeadLetter of a job done = %v, want ErrNotFound", err)
	}
	if _, err := st.RetryDeadLetter(ctx, a1.ID); err != nil {
		t.Fatal(err)
	}
	if !woken(st) {
		t.Error("not woken when a dead letter was retried")
	}
	got = claim(t, st, "me", time.Now().Add(time.Millisecond), 10)
	if len(got) != 1 || got[0].ID != a1.ID || got[0].Attempts != 2 || got[0].RetriedAfter != 1 {
		t.Fatalf("claim after retry = %+v, want a1 at attempt 2, retried after 1", got)
	}
	if dead, err := st.DeadLetters(ctx, 0, ""); err != nil || len(dead.Jobs) != 0 {
		t.Errorf("dead letters after retry = %+v, %v; want none", dead, err)
	}
	// Done at last, it has no last error; its history keeps "gone".
	if err := finish(ctx, st, "me", actions.Outcome{ID: a1.ID, Status: actions.Done, Took: time.Second}); err != nil {
		t.Fatal(err)
	}
	if j, err := st.Job(ctx, a1.ID); err != nil || j.Status != actions.Done || j.LastError != "" || j.RetriedAfter != 1 ||
		len(j.History) != 2 || j.History[0].Error != "gone" || j.History[0].Attempt != 1 || j.History[1].Attempt != 2 {
		t.Errorf("a1 done after its retry = %+v, %v; want no last error and both attempts, 1 and 2, in its history", j, err)
	}
}

func TestQueueListings(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	var all []actions.Job
	for i, e := range []string{"e1", "e2", "e3", "e4", "e5"} {
		r := "r"
		if i%2 == 1 {
			r = "s"
		}
		all = append(all, job(r, e, e))
	}
	enqueue(t, st, all...)
	now := time.Now().Add(time.Millisecond)
	for _, j := range claim(t, st, "me", now, 10) {
		if err := finish(ctx, st, "me", actions.Outcome{ID: j.ID, Status: actions.Dead, Took: 0, Error: "no"}); err != nil {
			t.Fatal(err)
		}
	}

	list := func(q store.JobQuery) []string {
		t.Helper()
		var got []string
		for {
			page, err := st.Jobs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range page.Jobs {
				got = append(got, j.EventID)
			}
			if page.Next == "" {
				return got
			}
			q.Cursor = page.Next
		}
	}
	tests := []struct {
		name string
		q    store.JobQuery
		want []string
	}{
		{"all, newest first, by pages", store.JobQuery{Limit: 2}, []string{"e5", "e4", "e3", "e2", "e1"}},
		{"by rule", store.JobQuery{Rule: "s"}, []string{"e4", "e2"}},
		{"by event", store.JobQuery{EventID: "e3"}, []string{"e3"}},
		{"by status", store.JobQuery{Status: actions.Dead, Limit: 1}, []string{"e5", "e4", "e3", "e2", "e1"}},
		{"by target", store.JobQuery{Target: "e2"}, []string{"e2"}},
		{"by rule and status", store.JobQuery{Rule: "s", Status: actions.Dead, Limit: 1}, []string{"e4", "e2"}},
		{"none", store.JobQuery{Status: actions.Pending}, nil},
		{"none done", store.JobQuery{Status: actions.Done}, nil},
		{"none done of the rule", store.JobQuery{Rule: "r", Status: actions.Done}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := list(tt.q); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	var dead []string
	cursor := ""
	for {
		page, err := st.DeadLetters(ctx, 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Jobs {
			dead = append(dead, j.EventID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	slices.Sort(dead)
	if want := []string{"e1", "e2", "e3", "e4", "e5"}; !slices.Equal(dead, want) {
		t.Errorf("dead letters by pages = %v, want each of %v once", dead, want)
	}

	for _, q := range []store.JobQuery{{Status: "lost"}, {Limit: -1}, {Cursor: "nonsense"}} {
		if _, err := st.Jobs(ctx, q); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("Jobs(%+v) = %v, want ErrInvalidQuery", q, err)
		}
	}
	page, err := st.DeadLetters(ctx, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Jobs(ctx, store.JobQuery{Cursor: page.Next}); !errors.Is(err, store.ErrInvalidQuery) {
		t.Errorf("Jobs with a dead letters cursor = %v, want ErrInvalidQuery", err)
	}
}

func TestQueueReleaseClaims(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	enqueue(t, st, job("r", "a1", "a"), job("r", "b1", "b"), job("r", "c1", "c"))
	now := time.Now().Add(time.Millisecond)
	if got := claim(t, st, "dead/1", now, 2); len(got) != 2 {
		t.Fatalf("claimed %d jobs, want 2", len(got))
	}
	if got := claim(t, st, "alive/2", now, 1); len(got) != 1 {
		t.Fatalf("claimed %d jobs, want 1", len(got))
	}
	// Within the lease nobody else may take the dead owner's jobs...
	if got := claim(t, st, "new/3", now, 10); len(got) != 0 {
		t.Fatalf("claimed %v within the lease", events(got))
	}
	// ...until the restarted owner gives them back.
	n, err := st.ReleaseClaims(ctx, "dead/1")
	if err != nil || n != 2 {
		t.Fatalf("ReleaseClaims = %d, %v; want 2, nil", n, err)
	}
	got := claim(t, st, "new/3", time.Now().Add(time.Millisecond), 10)
	if want := []string{"a1", "b1"}; !slices.Equal(events(got), want) {
		t.Fatalf("after release claimed %v, want %v (not alive/2's job)", events(got), want)
	}
	for _, j := range got {
		if j.Attempts != 2 {
			t.Errorf("job %s attempt %d, want 2: the interrupted attempt counts", j.EventID, j.Attempts)
		}
		// The attempt the crash cut is in the history, under its number.
		rec, err := st.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.History) != 1 || rec.History[0].Attempt != 1 || !strings.HasPrefix(rec.History[0].Error, "interrupted: hookd stopped") {
			t.Errorf("job %s history %+v, want attempt 1 interrupted", j.EventID, rec.History)
		}
	}
	if n, err := st.ReleaseClaims(ctx, "nobody"); err != nil || n != 0 {
		t.Fatalf("ReleaseClaims(nobody) = %d, %v", n, err)
	}
}

// TestQueueBatch checks batches: a claim takes each target's due jobs in
// order, up to the batch size; Finish records several outcomes in one go,
// undoes the claim of a job left unrun, and records those the owner holds
// even when it no longer holds others.
func TestQueueBatch(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	enqueue(t, st, job("r", "a1", "a"), job("r", "b1", "b"), job("r", "a2", "a"), job("r", "a3", "a"))
	now := time.Now().Add(time.Millisecond)

	got := claimBatch(t, st, "me", now, 10, 2)
	if want := []string{"a1", "a2", "b1"}; !slices.Equal(events(got), want) {
		t.Fatalf("claim = %v, want %v: a's two oldest, then b's", events(got), want)
	}
	if got := claimBatch(t, st, "me", now, 10, 2); len(got) != 0 {
		t.Fatalf("claim while a and b run = %v, want none: a3 waits for a's batch", events(got))
	}
	a1, a2, b1 := got[0], got[1], got[2]
	err := st.Finish(ctx, "me", []actions.Outcome{
		{ID: a1.ID, Status: actions.Done, Attempt: 1, Took: time.Millisecond},
		{ID: a2.ID, Unrun: true},
		{ID: 999, Status: actions.Done, Attempt: 1},
		{ID: b1.ID, Status: actions.Pending, Attempt: 1, Error: "busy", Next: now.Add(time.Hour)},
	})
	if !errors.Is(err, store.ErrNotHeld) {
		t.Fatalf("Finish with a job not held = %v, want ErrNotHeld", err)
	}
	for _, c := range []struct {
		id       int64
		status   string
		attempts int
		history  int
	}{{a1.ID, actions.Done, 1, 1}, {a2.ID, actions.Pending, 0, 0}, {b1.ID, actions.Pending, 1, 1}} {
		rec, err := st.Job(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != c.status || rec.Attempts != c.attempts || len(rec.History) != c.history {
			t.Errorf("job %s: %s, %d attempts, %d recorded; want %s, %d, %d",
				rec.EventID, rec.Status, rec.Attempts, len(rec.History), c.status, c.attempts, c.history)
		}
	}
	if got := claimBatch(t, st, "me", now, 10, 10); !slices.Equal(events(got), []string{"a2", "a3"}) {
		t.Fatalf("claim after the batch = %v, want [a2 a3]: the unrun job first, b1 not due", events(got))
	}
}

// TestQueueHold checks that an outcome with a Hold (its target's
// Retry-After) puts off the target's other pending jobs due sooner, the
// batch's unrun ones among them, and leaves other targets and later jobs
// alone.
func TestQueueHold(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	enqueue(t, st, job("r", "a1", "a"), job("r", "a2", "a"), job("r", "a3", "a"), job("r", "b1", "b"))
	now := time.Now().Add(time.Millisecond)
	got := claimBatch(t, st, "me", now, 10, 2)
	if want := []string{"a1", "a2", "b1"}; !slices.Equal(events(got), want) {
		t.Fatalf("claim = %v, want %v", events(got), want)
	}
	a1, a2 := got[0], got[1]
	hold := now.Add(time.Minute)
	if err := st.Finish(ctx, "me", []actions.Outcome{
		{ID: a1.ID, Status: actions.Pending, Attempt: 1, Error: "429", Next: now.Add(time.Hour), Hold: hold},
		{ID: a2.ID, Unrun: true},
	}); err != nil {
		t.Fatal(err)
	}
	if got := claimBatch(t, st, "me", now.Add(59*time.Second), 10, 10); len(got) != 0 {
		t.Fatalf("claim before the hold ends = %v, want none: a2 and a3 are held, b1 is running", events(got))
	}
	if got := claimBatch(t, st, "me", hold, 10, 10); !slices.Equal(events(got), []string{"a2", "a3"}) {
		t.Fatalf("claim when the hold ends = %v, want [a2 a3]: a1 waits for its own retry", events(got))
	}
	if rec := jobByEvent(t, st, "a1"); !rec.NextAt.Equal(now.Add(time.Hour)) {
		t.Errorf("a1 due at %s, want its own %s", rec.NextAt, now.Add(time.Hour))
	}
}

// TestJobsPlan checks which index a listing of jobs reads, where SQLite,
// which keeps no statistics, would pick one that gives it every job of a
// kind to sort or to skip: by status done (nearly every job of a store),
// the jobs newest first, skipping those not done; by another status,
// jobs_status, whose few jobs it sorts, even with a rule.
func TestJobsPlan(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	tests := []struct {
		q         store.JobQuery
		want, not string
	}{
		{store.JobQuery{Status: actions.Done}, "SCAN jobs", "TEMP B-TREE"},
		{store.JobQuery{Status: actions.Done, Cursor: nextJobs(t, st)}, "SEARCH jobs USING INTEGER PRIMARY KEY", "TEMP B-TREE"},
		{store.JobQuery{Status: actions.Done, Rule: "r"}, "INDEX jobs_rule", "TEMP B-TREE"},
		{store.JobQuery{Status: actions.Dead, Rule: "r"}, "INDEX jobs_status", "jobs_rule"},
		{store.JobQuery{Status: actions.Pending, Rule: "r"}, "INDEX jobs_status", "jobs_rule"},
		{store.JobQuery{Rule: "r"}, "INDEX jobs_rule", "TEMP B-TREE"},
		{store.JobQuery{EventID: "e1", Status: actions.Done}, "INDEX jobs_event", "TEMP B-TREE"},
	}
	for _, tt := range tests {
		plan, err := st.JobsPlan(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, tt.want) || strings.Contains(plan, tt.not) {
			t.Errorf("Jobs(%+v) reads\n%s\nwant %s, not %s", tt.q, plan, tt.want, tt.not)
		}
	}
}

// nextJobs returns the cursor of a page of jobs that ends after two jobs
// it enqueues in st.
func nextJobs(t *testing.T, st *store.Store) string {
	t.Helper()
	enqueue(t, st, job("r", "e1", "e1"), job("r", "e2", "e2"))
	page, err := st.Jobs(context.Background(), store.JobQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return page.Next
}
