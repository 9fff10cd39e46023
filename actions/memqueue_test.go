package actions_test

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
)

// memQueue is an in-memory actions.Queue for the Runner's own tests. It
// keeps the contract the store's queue keeps (one job per key, one running
// job per target, oldest due first, leases, suspension on a dead letter)
// and records every Fail. The store tests its own queue against the same
// contract; end-to-end tests run the Runner on it.
type memQueue struct {
	mu        sync.Mutex
	jobs      []*entry // ID-1 → entry
	suspended map[string]bool
	fails     []failure
	notes     map[int64]string // Succeed's note by job id
	claims    int
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
	ID   int64
	Err  string
	Next time.Time
	Dead bool
}

var errNotHeld = errors.New("memqueue: claim not held")

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

// resume lifts the suspension of target and wakes runners.
func (q *memQueue) resume(target string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.suspended, target)
	notify(q.wake)
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

func (q *memQueue) Claim(ctx context.Context, owner string, now time.Time, limit int, lease time.Duration) ([]actions.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	defer notify(q.changed)
	q.claims++
	busy := map[string]bool{}
	for _, e := range q.jobs {
		if e.Status == actions.Running && now.Before(e.lease) {
			busy[e.Target] = true
		}
	}
	var due []*entry
	for _, e := range q.jobs {
		switch {
		case e.Status == actions.Pending && !e.NextAt.After(now) && !q.suspended[e.Target] && !busy[e.Target]:
			due = append(due, e)
		case e.Status == actions.Running && !now.Before(e.lease):
			due = append(due, e)
		}
	}
	slices.SortStableFunc(due, func(a, b *entry) int { return a.NextAt.Compare(b.NextAt) })
	var out []actions.Job
	for _, e := range due {
		if len(out) == limit {
			break
		}
		if busy[e.Target] && e.Status == actions.Pending {
			continue
		}
		busy[e.Target] = true
		e.Status, e.owner, e.lease = actions.Running, owner, now.Add(lease)
		e.Attempts++
		e.Updated = now
		out = append(out, e.Job)
	}
	return out, nil
}

// held returns the entry id if owner holds its claim.
func (q *memQueue) held(id int64, owner string) (*entry, error) {
	if id < 1 || int(id) > len(q.jobs) {
		return nil, errNotHeld
	}
	e := q.jobs[id-1]
	if e.Status != actions.Running || e.owner != owner {
		return nil, errNotHeld
	}
	return e, nil
}

func (q *memQueue) Succeed(ctx context.Context, id int64, owner string, took time.Duration, note string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, err := q.held(id, owner)
	if err != nil {
		return err
	}
	e.Status, e.owner, e.Updated = actions.Done, "", time.Now()
	if q.notes == nil {
		q.notes = map[int64]string{}
	}
	q.notes[id] = note
	notify(q.changed)
	return nil
}

func (q *memQueue) Fail(ctx context.Context, id int64, owner string, took time.Duration, msg string, next time.Time, dead bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, err := q.held(id, owner)
	if err != nil {
		return err
	}
	q.fails = append(q.fails, failure{ID: id, Err: msg, Next: next, Dead: dead})
	e.LastError, e.owner, e.Updated = msg, "", time.Now()
	if dead {
		e.Status = actions.Dead
		q.suspended[e.Target] = true
	} else {
		e.Status, e.NextAt = actions.Pending, next
	}
	notify(q.changed)
	return nil
}

func (q *memQueue) Wake() <-chan struct{} { return q.wake }

var _ actions.Queue = (*memQueue)(nil)

// TestMemQueue checks the double itself on the points the Runner's tests
// lean on: one job per key, one job per target at a time, suspension.
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

	got, _ := q.Claim(ctx, "me", now.Add(time.Millisecond), 10, time.Minute)
	ids := func(js []actions.Job) []int64 {
		out := []int64{}
		for _, j := range js {
			out = append(out, j.ID)
		}
		return slices.SortedFunc(slices.Values(out), cmp.Compare)
	}
	if want := []int64{a2, b1}; !slices.Equal(ids(got), want) {
		t.Fatalf("first claim = %v, want %v (oldest of a, and b)", ids(got), want)
	}
	if got, _ := q.Claim(ctx, "me", now.Add(time.Millisecond), 10, time.Minute); len(got) != 0 {
		t.Fatalf("claim while a runs = %v, want none", ids(got))
	}
	if err := q.Fail(ctx, a2, "other", 0, "x", now, true); err == nil {
		t.Fatal("Fail by another owner succeeded")
	}
	if err := q.Fail(ctx, a2, "me", 0, "x", now, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Claim(ctx, "me", now.Add(time.Millisecond), 10, time.Minute); len(got) != 0 {
		t.Fatalf("claim while a is suspended = %v, want none", ids(got))
	}
	q.resume("a")
	if got, _ := q.Claim(ctx, "me", now.Add(time.Millisecond), 10, time.Minute); !slices.Equal(ids(got), []int64{a1}) {
		t.Fatalf("claim after resume = %v, want [%d]", ids(got), a1)
	}
	// b1's lease expires: it is claimed again, its attempt counted.
	got, _ = q.Claim(ctx, "you", now.Add(2*time.Minute), 10, time.Minute)
	if len(got) != 2 || got[0].Attempts != 2 || got[1].Attempts != 2 {
		t.Fatalf("claim after leases expired = %+v, want a1 and b1 again, attempt 2", got)
	}
}
