package actions_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
)

// memQueue is an in-memory actions.Queue for the Runner's own tests. It
// keeps the contract the store's queue keeps (one job per key, one running
// job per target, oldest due first, leases, suspension on a dead letter
// other than a refused one)
// and records every Fail. The store tests its own queue against the same
// contract; end-to-end tests run the Runner on it.
type memQueue struct {
	mu        sync.Mutex
	jobs      []*entry // ID-1 → entry
	suspended map[string]bool
	fails     []failure
	notes     map[int64]string // Succeed's note by job id
	claims    int
	renewals  int
	wake      chan struct{}
	changed   chan struct{}
}

type entry struct {
	actions.Job
	owner string
	lease time.Time
}

// failure is one Fail call.
type failure struct {
	ID      int64
	Attempt int
	Err     string
	Next    time.Time
	Dead    bool
	Refused bool
}

func newMemQueue() *memQueue {
	return &memQueue{
		suspended: map[string]bool{},
		wake:      make(chan struct{}, 1),
		changed:   make(chan struct{}, 1),
	}
}

// notify signals ch without blocking; a signal already pending stands.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// add enqueues j, due now unless it says otherwise, and wakes runners. A
// second job with the key of an earlier one is not added.
func (q *memQueue) add(j actions.Job) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range q.jobs {
		if e.Key == j.Key {
			return e.ID
		}
	}
	j.ID = int64(len(q.jobs) + 1)
	j.Status = actions.Pending
	if j.NextAt.IsZero() {
		j.NextAt = time.Now()
	}
	j.Created, j.Updated = time.Now(), time.Now()
	q.jobs = append(q.jobs, &entry{Job: j})
	notify(q.wake)
	notify(q.changed)
	return j.ID
}

// retry makes the dead job id pending again, due now, as the store's
// RetryDeadLetter does: its attempts go on from where they stopped, and
// RetriedAfter records where that was.
func (q *memQueue) retry(id int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.jobs[id-1]
	if e.Status != actions.Dead {
		panic(fmt.Sprintf("retry of job %d, which is %s", id, e.Status))
	}
	e.Status, e.RetriedAfter, e.NextAt, e.Updated = actions.Pending, e.Attempts, time.Now(), time.Now()
	notify(q.wake)
	notify(q.changed)
}

// resume lifts the suspension of target and wakes runners.
func (q *memQueue) resume(target string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.suspended, target)
	notify(q.wake)
}

// isSuspended reports whether target is suspended.
func (q *memQueue) isSuspended(target string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.suspended[target]
}

// job returns a copy of the job id.
func (q *memQueue) job(id int64) actions.Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.jobs[id-1].Job
}

// failures returns the Fail calls so far.
func (q *memQueue) failures() []failure {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.fails)
}

// claimCount returns how many times Claim was called.
func (q *memQueue) claimCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.claims
}

// owner returns the owner of job id's claim, empty when it is not running.
func (q *memQueue) owner(id int64) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.jobs[id-1].owner
}

// renewCount returns how many times Renew was called.
func (q *memQueue) renewCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.renewals
}

// takeOver gives the running jobs of target to owner, as when another
// runner claims them after their lease lapsed.
func (q *memQueue) takeOver(target, owner string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	defer notify(q.changed)
	for _, e := range q.jobs {
		if e.Target == target && e.Status == actions.Running {
			e.owner, e.lease = owner, time.Now().Add(time.Hour)
			e.Attempts++
		}
	}
}

// waitUntil waits, at most 10 s, until cond holds for the queue.
func (q *memQueue) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-q.changed:
		case <-deadline.C:
			t.Fatalf("gave up waiting until %s", what)
		}
	}
}

func (q *memQueue) Claim(ctx context.Context, owner string, now time.Time, targets, batch int, lease time.Duration, except string) ([]actions.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	defer notify(q.changed)
	q.claims++
	// A target with a live claim is busy; one with only expired claims
	// has those claimed again, but the caller's own, and nothing else.
	busy, expired := map[string]bool{}, map[string]bool{}
	for _, e := range q.jobs {
		if e.Status == actions.Running {
			if now.Before(e.lease) {
				busy[e.Target] = true
			} else {
				expired[e.Target] = true
			}
		}
	}
	var due []*entry
	for _, e := range q.jobs {
		switch {
		case busy[e.Target]:
		case expired[e.Target]:
			if e.Status == actions.Running && e.owner != owner {
				due = append(due, e)
			}
		case e.Status == actions.Pending && !e.NextAt.After(now) && !q.suspended[e.Target] && (except == "" || e.Action != except):
			due = append(due, e)
		}
	}
	// Expired claims first, then oldest due first; the first job of each
	// target places all of its jobs.
	slices.SortStableFunc(due, func(a, b *entry) int {
		if ea, eb := a.Status == actions.Running, b.Status == actions.Running; ea != eb {
			if ea {
				return -1
			}
			return 1
		}
		return a.NextAt.Compare(b.NextAt)
	})
	var order []string
	byTarget := map[string][]*entry{}
	for _, e := range due {
		if _, ok := byTarget[e.Target]; !ok {
			if len(order) == targets {
				continue
			}
			order = append(order, e.Target)
		}
		if len(byTarget[e.Target]) < batch {
			byTarget[e.Target] = append(byTarget[e.Target], e)
		}
	}
	var out []actions.Job
	for _, t := range order {
		for _, e := range byTarget[t] {
			j := e.Job
			if e.Status == actions.Running {
				j.LapsedOwner = e.owner
			}
			e.Status, e.owner, e.lease = actions.Running, owner, now.Add(lease)
			e.Attempts++
			e.Updated = now
			j.Status, j.Attempts, j.Updated = e.Status, e.Attempts, e.Updated
			out = append(out, j)
		}
	}
	return out, nil
}

func (q *memQueue) Renew(ctx context.Context, owner string, ids []int64, now time.Time, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	defer notify(q.changed)
	q.renewals++
	var notHeld []int64
	for _, id := range ids {
		if id < 1 || int(id) > len(q.jobs) {
			notHeld = append(notHeld, id)
			continue
		}
		e := q.jobs[id-1]
		if e.Status != actions.Running || e.owner != owner {
			notHeld = append(notHeld, id)
			continue
		}
		e.lease = now.Add(lease)
	}
	if len(notHeld) > 0 {
		return fmt.Errorf("jobs %v: %w", notHeld, actions.ErrNotHeld)
	}
	return nil
}

func (q *memQueue) Finish(ctx context.Context, owner string, outcomes []actions.Outcome) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	defer notify(q.changed)
	var notHeld []int64
	for _, o := range outcomes {
		if o.ID < 1 || int(o.ID) > len(q.jobs) {
			notHeld = append(notHeld, o.ID)
			continue
		}
		e := q.jobs[o.ID-1]
		if e.Status != actions.Running || e.owner != owner {
			notHeld = append(notHeld, o.ID)
			continue
		}
		e.owner, e.Updated = "", time.Now()
		switch {
		case o.Unrun:
			e.Status = actions.Pending
			e.Attempts--
		case o.Status == actions.Done:
			e.Status = actions.Done
			if q.notes == nil {
				q.notes = map[int64]string{}
			}
			q.notes[o.ID] = o.Note
		default:
			q.fails = append(q.fails, failure{ID: o.ID, Attempt: o.Attempt, Err: o.Error, Next: o.Next, Dead: o.Status == actions.Dead, Refused: o.Refused})
			e.LastError, e.Status = o.Error, o.Status
			switch {
			case o.Status == actions.Dead && !o.Refused:
				q.suspended[e.Target] = true
			case o.Status == actions.Pending:
				e.NextAt = o.Next
			}
		}
	}
	for _, o := range outcomes {
		if o.Unrun || o.Status != actions.Pending || o.Hold.IsZero() || slices.Contains(notHeld, o.ID) {
			continue
		}
		target := q.jobs[o.ID-1].Target
		for _, e := range q.jobs {
			if e.Target == target && e.Status == actions.Pending && e.NextAt.Before(o.Hold) {
				e.NextAt = o.Hold
			}
		}
	}
	if len(notHeld) > 0 {
		return fmt.Errorf("jobs %v: %w", notHeld, actions.ErrNotHeld)
	}
	return nil
}

func (q *memQueue) Wake() <-chan struct{} { return q.wake }

var _ actions.Queue = (*memQueue)(nil)

// TestMemQueue checks the double itself on the points the Runner's tests
// lean on: one job per key, batches per target in due order, one batch per
// target at a time, unrun jobs, suspension, expired and renewed leases.
func TestMemQueue(t *testing.T) {
	q := newMemQueue()
	ctx := context.Background()
	now := time.Now()
	a1 := q.add(actions.Job{Key: "r/0/1", Target: "a"})
	if again := q.add(actions.Job{Key: "r/0/1", Target: "a"}); again != a1 {
		t.Fatalf("second job with one key added as %d", again)
	}
	a2 := q.add(actions.Job{Key: "r/0/2", Target: "a", NextAt: now.Add(-time.Second)})
	b1 := q.add(actions.Job{Key: "r/0/3", Target: "b"})
	ids := func(js []actions.Job) []int64 {
		out := []int64{}
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	at := now.Add(time.Millisecond)

	// Batches of 2: a's jobs oldest due first, then b's.
	got, _ := q.Claim(ctx, "me", at, 10, 2, time.Minute, "")
	if want := []int64{a2, a1, b1}; !slices.Equal(ids(got), want) {
		t.Fatalf("batch claim = %v, want %v", ids(got), want)
	}
	if got[0].Attempts != 1 || got[0].Status != actions.Running {
		t.Fatalf("claimed job = %+v, want running, attempt 1", got[0])
	}
	if err := q.Finish(ctx, "me", []actions.Outcome{{ID: a2, Status: actions.Done}, {ID: a1, Unrun: true}, {ID: b1, Unrun: true}}); err != nil {
		t.Fatal(err)
	}
	if j := q.job(a1); j.Status != actions.Pending || j.Attempts != 0 {
		t.Fatalf("unrun job = %+v, want pending, attempt 0", j)
	}

	// Batches of 1, one target at a time.
	got, _ = q.Claim(ctx, "me", at, 1, 1, time.Minute, "")
	if want := []int64{a1}; !slices.Equal(ids(got), want) {
		t.Fatalf("claim of one target = %v, want %v", ids(got), want)
	}
	if got, _ := q.Claim(ctx, "me", at, 10, 1, time.Minute, ""); !slices.Equal(ids(got), []int64{b1}) {
		t.Fatalf("claim while a runs = %v, want [%d]", ids(got), b1)
	}
	if err := q.Finish(ctx, "other", []actions.Outcome{{ID: a1, Status: actions.Dead}}); !errors.Is(err, actions.ErrNotHeld) {
		t.Fatalf("Finish by another owner: %v, want ErrNotHeld", err)
	}
	if err := q.Finish(ctx, "me", []actions.Outcome{{ID: a1, Status: actions.Dead, Error: "x"}}); err != nil {
		t.Fatal(err)
	}
	a3 := q.add(actions.Job{Key: "r/0/4", Target: "a"})
	if got, _ := q.Claim(ctx, "me", at.Add(time.Millisecond), 10, 10, time.Minute, ""); len(got) != 0 {
		t.Fatalf("claim while a is suspended = %v, want none", ids(got))
	}
	q.resume("a")
	if got, _ := q.Claim(ctx, "me", time.Now(), 10, 10, time.Minute, ""); !slices.Equal(ids(got), []int64{a3}) {
		t.Fatalf("claim after resume = %v, want [%d]", ids(got), a3)
	}
	// a3's claim is renewed, b1's is not: b1's lapses, and is claimed
	// again with its attempts counted and the owner whose claim lapsed.
	if err := q.Renew(ctx, "me", []int64{a3}, time.Now().Add(50*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	got, _ = q.Claim(ctx, "you", time.Now().Add(70*time.Second), 10, 10, time.Minute, "")
	if len(got) != 1 || got[0].ID != b1 || got[0].Attempts != 2 || got[0].LapsedOwner != "me" {
		t.Fatalf("claim after b1's lease expired = %+v, want b1 again, attempt 2, lapsed from me", got)
	}
	if err := q.Renew(ctx, "me", []int64{a3, b1}, time.Now(), time.Minute); !errors.Is(err, actions.ErrNotHeld) {
		t.Fatalf("Renew of a job taken over: %v, want ErrNotHeld", err)
	}
	if got, _ := q.Claim(ctx, "you", time.Now().Add(115*time.Second), 10, 10, time.Minute, ""); len(got) != 1 || got[0].ID != a3 {
		t.Fatalf("claim after a3's renewed lease expired = %+v, want a3", got)
	}
}
