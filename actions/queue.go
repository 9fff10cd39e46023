package actions

import (
	"context"
	"errors"
	"time"
)

// Queue is the durable job queue a Runner works from. The store implements
// it, in the same database as the events, so that a job is written in the
// same transaction as the decision that made it.
//
// Every method is safe for concurrent use, and for use by several runners
// (several hookd replicas) on one queue: a job is claimed by one owner at a
// time, and a claim whose lease expired (its runner died) can be claimed
// again, which is why an Action may run twice and must be idempotent.
type Queue interface {
	// Claim marks as Running, for owner until now+lease, the due jobs of at
	// most targets targets, at most batch jobs of each, and returns them
	// grouped by target, each target's in the order they are to run, with
	// Status Running and Attempts already counting this attempt.
	//
	// A target's jobs still Running under a lease that expired (their
	// runner died) are claimed again first, oldest lease first, with
	// LapsedOwner naming the runner whose claim lapsed, unless owner is
	// that runner: a live runner whose own claims lapsed (it lost the
	// queue for a whole lease) is still running those jobs, or holds
	// their outcomes to record, and renews the claims once the queue is
	// back, so that it never runs a job a second time beside its first
	// attempt. Otherwise a target qualifies when it is not suspended and
	// has no job Running; then its Pending jobs with NextAt not after now
	// are claimed, oldest NextAt first, targets in the order of their
	// oldest such job. When except is not empty, the targets whose jobs
	// are of that action (Job.Action) are left out of the latter: the
	// runner's workers busy with one action, a mail relay that hung, keep
	// a worker for the others.
	Claim(ctx context.Context, owner string, now time.Time, targets, batch int, lease time.Duration, except string) ([]Job, error)
	// Renew extends to now+lease the claims owner holds on the jobs ids,
	// all in one transaction, and changes nothing else about them. A
	// runner renews the jobs it holds, well within their lease, for as
	// long as it runs them, so that a claim lapses only when its runner
	// stopped renewing it (it died, hung, or could not reach the queue for
	// a whole lease), however long its jobs run. A claim whose lease
	// expired but that no one claimed again is still owner's, and is
	// renewed. A job owner does not hold (another runner claimed it after
	// its lease expired, its outcome was recorded, it was never claimed)
	// is left alone: the others are renewed, and the error then wraps
	// ErrNotHeld and names the jobs. When ctx ends first, or on any other
	// error, none is renewed.
	Renew(ctx context.Context, owner string, ids []int64, now time.Time, lease time.Duration) error
	// Finish records the outcomes of jobs owner claimed, all in one
	// transaction, suspending the target of each Dead outcome that is not
	// Refused, and then puts off the Pending jobs of the target of
	// each outcome with a Hold to that Hold (see Outcome.Hold). An
	// outcome for a job that owner no longer holds (its lease expired and
	// another runner claimed it) is not recorded: the others are, and the
	// error then wraps ErrNotHeld and names the jobs.
	Finish(ctx context.Context, owner string, outcomes []Outcome) error
	// Wake returns a channel that receives a value when jobs were enqueued
	// or a target was resumed, so a runner does not have to poll often.
	Wake() <-chan struct{}
}

// ErrNotHeld is wrapped by the errors of Queue.Finish and Queue.Renew for
// jobs not Running under the caller's claim: another runner took them
// over after their lease expired, or they were never claimed.
var ErrNotHeld = errors.New("job not held by this owner")

// Outcome is how one claimed job ended.
type Outcome struct {
	// ID is the job's.
	ID int64
	// Unrun tells that the job was claimed but not attempted: its claim is
	// undone and its Attempts counted back, and it stays due as it was.
	// The other fields are then ignored.
	Unrun bool
	// Status is Done, Pending (it failed and runs again at Next) or Dead (a
	// dead letter: its target is suspended until resumed, unless Refused).
	Status string
	// Refused, with Status Dead, tells that the target refused this job's
	// content (see Refused): the job is dead, and its target is not
	// suspended, its other jobs running on.
	Refused bool
	// Attempt is the job's Attempts as claimed; it numbers the attempt
	// recorded.
	Attempt int
	// Took is how long the attempt ran.
	Took time.Duration
	// Error is why the attempt failed, empty when it succeeded.
	Error string
	// Note says more about a Done attempt: "" for an action that acted,
	// "skipped: ..." for one that chose not to (see Skip).
	Note string
	// Next is when a Pending job is due again.
	Next time.Time
	// Hold, when not zero, is when the target of a Pending job said it
	// can be called again (its answer's Retry-After, see RetryAfter):
	// the target's other Pending jobs due before then are put off until
	// then, so that they do not meet the same refusal one after the
	// other, each spending an attempt.
	Hold time.Time
}
