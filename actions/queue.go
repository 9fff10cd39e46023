package actions

import (
	"context"
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
	// Claim marks as Running, for owner until now+lease, up to limit jobs
	// that are due: Pending with NextAt not after now, whose target is not
	// suspended and has no job Running, at most one job per target, oldest
	// NextAt first; and Running jobs whose lease expired. It returns them
	// with Attempts already counting this attempt.
	Claim(ctx context.Context, owner string, now time.Time, limit int, lease time.Duration) ([]Job, error)
	// Succeed marks a job Done, if owner still holds its claim, and records
	// the attempt with note ("" for an action that acted; "skipped: ..."
	// for one that chose not to, see Skip).
	Succeed(ctx context.Context, id int64, owner string, took time.Duration, note string) error
	// Fail records a failed attempt, if owner still holds the claim: the
	// job is Pending again, due at next, or, when dead, Dead with its
	// target suspended.
	Fail(ctx context.Context, id int64, owner string, took time.Duration, err string, next time.Time, dead bool) error
	// Wake returns a channel that receives a value when jobs were enqueued
	// or a target was resumed, so a runner does not have to poll often.
	Wake() <-chan struct{}
}
