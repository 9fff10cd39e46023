package actions

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/internal/outage"
)

// RunnerConfig configures a Runner. Zero values take the documented
// defaults; negative ones are an error.
type RunnerConfig struct {
	// Owner names the runner in its claims. Runners sharing one queue (the
	// replicas of one deployment) need different owners. Default: the host
	// name, the process id and a random suffix, "host/pid/a1b2c3d4".
	Owner string
	// Workers is how many targets' jobs run at once (default 8), and a
	// spare one. A target's jobs run one at a time, in one worker, so a
	// slow target holds one worker and never holds up the others. When
	// all workers are busy, the spare one runs a target of another action
	// than the one that holds the most of them (looked for at each Poll),
	// so that a service all of whose targets are slow at once (a mail
	// relay that hung, with a target per recipient) does not hold up the
	// other actions.
	Workers int
	// Batch is how many due jobs of one target a worker claims at once and
	// runs one after the other (default 32): claiming and recording a batch
	// costs two transactions of the queue, whatever its size. A worker
	// stops its batch at the first job that fails.
	Batch int
	// Lease is how long a claim lasts unless renewed (default 30s): when
	// a runner dies holding jobs, another runner takes them over once
	// their lease lapsed. While a batch runs, the Runner renews the claim
	// on its jobs every third of the lease, so a job keeps its claim
	// however long its action runs (its own timeout bounds it). A shorter
	// lease hands a dead runner's jobs over sooner; the lease must stay
	// well above the time a renewal may take and the clock difference
	// between the replicas' machines.
	Lease time.Duration
	// Poll is how often the runner looks for due jobs when nothing woke it
	// (default 1s). Queue.Wake, a job finishing and a retry this runner
	// scheduled wake it sooner; polling finds retries scheduled by other
	// runners and jobs whose lease expired.
	Poll time.Duration
	// Settings are passed to every action (Call.Settings).
	Settings Settings
	// Grace is how long running jobs may go on after Run's ctx ends, before
	// their ctx is cancelled (default 5s), and then again how long Run
	// waits for them to return.
	Grace time.Duration
}

// Runner defaults.
const (
	DefaultWorkers = 8
	DefaultBatch   = 32
	DefaultLease   = 30 * time.Second
	DefaultPoll    = time.Second
	DefaultGrace   = 5 * time.Second
)

// withDefaults returns c with its zero values defaulted, or an error for a
// negative one.
func (c RunnerConfig) withDefaults() (RunnerConfig, error) {
	if c.Workers < 0 || c.Batch < 0 || c.Lease < 0 || c.Poll < 0 || c.Grace < 0 {
		return c, fmt.Errorf("runner config: workers, batch, lease, poll and grace must not be negative")
	}
	if c.Owner == "" {
		c.Owner = defaultOwner()
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.Poll == 0 {
		c.Poll = DefaultPoll
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	return c, nil
}

func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "hookd"
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}

// recordTimeout bounds the recording of one attempt's result, which runs
// even while the Runner stops.
const recordTimeout = 10 * time.Second

// maxErrorLen bounds the error text recorded for a failed attempt.
const maxErrorLen = 4 << 10

// errStopping is the cause of a job's ctx cancelled because Run's ctx ended
// and the grace period passed.
var errStopping = errors.New("hookd is stopping")

// errClaimLost is the cause of a batch's job ctx ended because a renewal
// found that the runner no longer holds the batch's jobs: another runner
// claimed them after their lease lapsed.
var errClaimLost = errors.New("the claim on the job was lost to another runner")

// renewRetry bounds how long a renewal that failed (the queue did not
// answer) waits before it is tried again, sooner than the usual third of
// the lease, so that a short outage does not cost the claim.
const renewRetry = time.Second

// recordRetry is how long a batch waits before it tries again to record
// outcomes the queue did not take (it did not answer), at first; the wait
// doubles up to recordRetryMax.
const (
	recordRetry    = 100 * time.Millisecond
	recordRetryMax = 5 * time.Second
)

// Runner runs the jobs of a Queue: it claims due jobs, runs each through its
// kind's Action, and records the outcome. A job that succeeds is Done. A job
// that fails is retried by its policy (Job.Retry, see ParsePolicy;
// DefaultRetry when empty or unreadable): the failures counted are
// Job.Attempts, every attempt so far including the one that just failed,
// less Job.RetriedAfter, those made before the job was last retried from the
// dead letters; so a policy that retries N times runs a job at most N+1
// times ("10x30s,10x30m": 21), and N+1 more each time the dead letter is
// retried. A failure wrapped with RetryAfter (an answer's Retry-After) waits
// for as long as its target asked, up to MaxRetryAfter, when that is longer
// than the policy's interval, and so do the target's other jobs due sooner
// (Outcome.Hold). When the policy allows no further attempt, when the error
// is Permanent, when the job's parameters do not decode or when no package
// registered its action, the job is Dead, a dead letter, and the queue
// suspends its target.
//
// An attempt whose action panics fails like any other (and is retried);
// the panic is logged with its stack.
type Runner struct {
	q      Queue
	cfg    RunnerConfig
	logger *slog.Logger
	m      *runnerMetrics
	// claimOut, renewOut and recordOut log the polls for due jobs, the
	// renewals and the recordings of outcomes that fail while the queue is
	// down, for all batches together; their metrics count what they count.
	claimOut, renewOut, recordOut *outage.Log
}

// NewRunner returns a Runner over q. logger nil discards; reg nil registers
// the metrics nowhere.
func NewRunner(q Queue, cfg RunnerConfig, logger *slog.Logger, reg prometheus.Registerer) (*Runner, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{q: q, cfg: cfg, logger: logger,
		// A store that is down fails every poll: log the first failure, a
		// summary a minute, and the end.
		claimOut:  outage.New(logger, "claim action jobs", "claim action jobs succeeded again", 0),
		renewOut:  outage.New(logger, "renew action job claims", "renew action job claims succeeded again", 0),
		recordOut: outage.New(logger, "record action job outcomes (tried again; the jobs stay claimed meanwhile)", "record action job outcomes succeeded again", 0),
	}
	if r.m, err = newRunnerMetrics(reg, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Owner returns the name the runner claims jobs under.
func (r *Runner) Owner() string { return r.cfg.Owner }

// Run runs jobs until ctx ends, then stops and returns nil.
//
// Whenever Queue.Wake signals, a worker finishes, a retry it scheduled
// falls due, or Poll passed, it claims the due jobs of as many targets as it
// has free workers (and one for the spare worker, see Workers), up to
// Batch jobs of each, and gives each target's jobs
// to one worker, which runs them one after the other and records their
// outcomes together, renewing the claim on the jobs not yet recorded every
// third of the Lease. A worker stops at the first job that fails, leaving
// the rest of its batch unrun (and due, as before). A failing Claim is
// logged and tried again after Poll. Jobs taken over from a runner whose
// claim lapsed are logged, one line for each such runner.
//
// When ctx ends it claims nothing more, and workers start no further job.
// Running jobs get Grace to finish; then their ctx is cancelled with cause
// "hookd is stopping". An attempt interrupted so is recorded as a failure
// due at once, whatever the policy (it never dead-letters the job; it does
// count in Attempts), so that the job runs again as soon as a runner is
// up, without waiting for its lease. Renewals stop then. An action that
// ignores the cancellation is abandoned after Grace more: Run returns, and
// the job's lease lapses in the queue.
//
// Results are recorded with a ctx of their own, so an attempt that ends
// while Run stops is still recorded. Run may be called again after it
// returned.
func (r *Runner) Run(ctx context.Context) error {
	jobCtx, stopJobs := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopJobs(nil)
	workers := r.cfg.Workers
	finished := make(chan finish, workers+1)
	running := 0
	// busy counts the running batches of each action, so that the spare
	// worker (see Workers) goes to another action than the one holding
	// the most workers.
	busy := map[string]int{}
	// soon lists, in order, the retries this runner scheduled before its
	// next poll, to claim them when due rather than at the poll.
	var soon []time.Time
	var pollAt, holdUntil time.Time
	wake := r.q.Wake()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

run:
	for ctx.Err() == nil {
		now := time.Now()
		if running <= workers && !now.Before(holdUntil) {
			// Claim for the free workers, then for the spare one, until
			// both are busy or fewer targets are due than a round asked
			// for.
			for running <= workers {
				targets, except := claimable(busy, workers, running)
				jobs, err := r.q.Claim(ctx, r.cfg.Owner, now, targets, r.cfg.Batch, r.cfg.Lease, except)
				if err != nil {
					if ctx.Err() != nil {
						break run
					}
					r.claimOut.Fail(err, "retry_in", r.cfg.Poll)
					holdUntil = now.Add(r.cfg.Poll)
					break
				}
				r.claimOut.OK()
				r.logLapsed(jobs)
				claimed := 0
				for len(jobs) > 0 {
					n := 1
					for n < len(jobs) && jobs[n].Target == jobs[0].Target {
						n++
					}
					batch := jobs[:n:n]
					jobs = jobs[n:]
					running++
					claimed++
					busy[batch[0].Action]++
					go func() { finished <- finish{batch[0].Action, r.runBatch(ctx, jobCtx, now, batch)} }()
				}
				if claimed < targets {
					break
				}
			}
			i := 0
			for i < len(soon) && !soon[i].After(now) {
				i++
			}
			soon = slices.Delete(soon, 0, i)
			pollAt = now.Add(r.cfg.Poll)
		}

		// Full: only a worker finishing (or ctx) can make room. With
		// only the spare worker free, the next poll claims for it, not
		// every wake: a claim costs the queue a transaction, and all
		// workers busy is when jobs are queued the fastest.
		var wakeC <-chan struct{}
		var tick <-chan time.Time
		if running <= workers {
			at := pollAt
			if len(soon) > 0 && soon[0].Before(at) {
				at = soon[0]
			}
			if at.Before(holdUntil) {
				at = holdUntil
			}
			timer.Reset(time.Until(at))
			tick = timer.C
			if running < workers {
				wakeC = wake
			}
		}
		select {
		case <-ctx.Done():
		case <-wakeC:
		case <-tick:
		case f := <-finished:
			running--
			if busy[f.action]--; busy[f.action] == 0 {
				delete(busy, f.action)
			}
			if next := f.next; !next.IsZero() && next.Before(pollAt) {
				i, _ := slices.BinarySearchFunc(soon, next, time.Time.Compare)
				soon = slices.Insert(soon, i, next)
			}
		}
	}

	if running == 0 {
		return nil
	}
	r.logger.Info("action runner stopping: waiting for running jobs", "running", running, "grace", r.cfg.Grace)
	waitFor := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		for running > 0 {
			select {
			case <-finished:
				running--
			case <-t.C:
				return false
			}
		}
		return true
	}
	if !waitFor(r.cfg.Grace) {
		stopJobs(errStopping)
		if !waitFor(r.cfg.Grace) {
			r.logger.Error("action runner stopped with jobs whose action ignored cancellation; they run again when their lease expires",
				"running", running, "lease", r.cfg.Lease)
		}
	}
	return nil
}

// claimable returns how many targets' jobs to claim with running batches
// running, busy counting those of each action, and the action whose
// targets to leave out ("" none): those of the free workers, whatever
// their action; once all workers are busy, one for the spare worker, of
// another action than the one that holds the most of them.
func claimable(busy map[string]int, workers, running int) (int, string) {
	if running < workers {
		return workers - running, ""
	}
	most, except := 0, ""
	for action, n := range busy {
		if n > most || (n == most && action < except) {
			most, except = n, action
		}
	}
	return 1, except
}

// finish is what a batch tells Run when it ended: its jobs' action, and
// when a job it failed is due again (zero: none is).
type finish struct {
	action string
	next   time.Time
}

// recordEvery bounds how long the outcomes of a batch's finished jobs wait
// to be recorded together: a crash (SIGKILL, a power cut) runs again the
// jobs finished within it before the crash, besides the one running. One
// write a batch is what lets the queue keep up with a fast target; a slow
// target's jobs are recorded one by one.
const recordEvery = 20 * time.Millisecond

// logLapsed logs, for each runner whose claims on some of jobs (just
// claimed) lapsed, that they run again here.
func (r *Runner) logLapsed(jobs []Job) {
	var owners []string
	n := map[string]int{}
	targets := map[string][]string{}
	for _, j := range jobs {
		o := j.LapsedOwner
		if o == "" {
			continue
		}
		if n[o] == 0 {
			owners = append(owners, o)
		}
		n[o]++
		if ts := targets[o]; len(ts) == 0 || ts[len(ts)-1] != j.Target {
			targets[o] = append(ts, j.Target)
		}
	}
	for _, o := range owners {
		r.logger.Warn("claims of another runner lapsed (it died, hung or lost the queue for a whole lease); their jobs run again here",
			"runner", o, "jobs", n[o], "targets", targets[o])
	}
}

// claim is a batch's hold on its jobs: the outcomes of jobs[:recorded] are
// recorded, the others are held, and renewed is when their claim was made
// or last renewed. mu serializes the renewals and the recording of
// outcomes, so that a renewal never names a job just recorded.
type claim struct {
	mu       sync.Mutex
	jobs     []Job
	recorded int
	renewed  time.Time
}

// held returns the ids of the jobs held.
func (c *claim) held() []int64 {
	ids := make([]int64, 0, len(c.jobs)-c.recorded)
	for _, j := range c.jobs[c.recorded:] {
		ids = append(ids, j.ID)
	}
	return ids
}

// renewedAt returns when the claim was made or last renewed.
func (c *claim) renewedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.renewed
}

// renew renews c at once, then every third of the lease, until done is
// closed or ctx ends. When the queue says the runner no longer holds the
// jobs, it logs that and ends the batch's jobs with lose(errClaimLost). A
// renewal that fails otherwise is logged (as an outage) and tried again
// sooner.
func (r *Runner) renew(ctx context.Context, c *claim, done <-chan struct{}, lose context.CancelCauseFunc) {
	every := r.cfg.Lease / 3
	var t *time.Timer
	for {
		next, ok := r.renewOnce(ctx, c, every)
		if !ok {
			lose(errClaimLost)
			return
		}
		if t == nil {
			t = time.NewTimer(next)
			defer t.Stop()
		} else {
			t.Reset(next)
		}
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// renewOnce renews c once and returns when to renew it next, or false
// when the claim is lost.
func (r *Runner) renewOnce(ctx context.Context, c *claim, every time.Duration) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := c.held()
	if len(ids) == 0 {
		return every, true
	}
	now := time.Now()
	rctx, cancel := context.WithTimeout(ctx, every)
	defer cancel()
	err := r.q.Renew(rctx, r.cfg.Owner, ids, now, r.cfg.Lease)
	target := c.jobs[0].Target
	switch {
	case err == nil:
		c.renewed = now
		r.renewOut.OK()
		return every, true
	case errors.Is(err, ErrNotHeld):
		r.renewOut.OK()
		r.logger.Error("claim on action jobs lost: another runner took them over after their lease lapsed; this runner stops them",
			"target", target, "jobs", len(ids), "renewed", c.renewed, "lease", r.cfg.Lease, "error", err)
		return 0, false
	case ctx.Err() != nil:
		return every, true
	default:
		r.renewOut.Fail(err, "target", target, "jobs", len(ids), "lapses_in", c.renewed.Add(r.cfg.Lease).Sub(now).Round(time.Millisecond))
		return min(every, renewRetry), true
	}
}

// runBatch runs jobs, the batch of one target claimed at claimed, one after
// the other, and records their outcomes, those of the jobs finished within
// recordEvery together; meanwhile it renews the claim on the jobs not yet
// recorded. It starts no further job once one failed, once runCtx ended,
// once outcomes could not be recorded, once the claim was lost or when it
// could not be renewed for half the lease; those stay due, unrun. A claim
// found lost also cancels the job running. Outcomes the queue does not
// take (it does not answer) are tried again, the claim renewed meanwhile,
// until it takes them, the claim is lost or the Runner gives up its jobs
// (jobCtx): a job whose effect took place must not run again because its
// outcome met a database that was away for a moment. It returns when a
// job it failed is due again, or the zero time when none is or the
// outcomes could not be recorded.
func (r *Runner) runBatch(runCtx, jobCtx context.Context, claimed time.Time, jobs []Job) time.Time {
	ctx, lose := context.WithCancelCause(jobCtx)
	defer lose(nil)
	c := &claim{jobs: jobs, renewed: claimed}
	// Most batches end before their first renewal, which therefore starts
	// on a timer rather than in a goroutine of every batch.
	done := make(chan struct{})
	renewing := time.AfterFunc(r.cfg.Lease/3, func() { r.renew(jobCtx, c, done, lose) })
	defer func() {
		renewing.Stop()
		close(done)
	}()

	outcomes := make([]Outcome, 0, len(jobs))
	// record records the outcomes not yet recorded. Those of jobs no
	// longer held are dropped, as their new holder records its own, and
	// the error then wraps ErrNotHeld.
	record := func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(jobCtx), recordTimeout)
		defer cancel()
		err := r.q.Finish(rctx, r.cfg.Owner, outcomes[c.recorded:])
		if err == nil || errors.Is(err, ErrNotHeld) {
			r.recordOut.OK()
			c.recorded = len(outcomes)
			return err
		}
		r.recordOut.Fail(err, "target", jobs[0].Target, "jobs", len(outcomes)-c.recorded)
		return err
	}
	stopped := false
	since := time.Now() // when outcomes not yet recorded began to wait
	for i, job := range jobs {
		if stopped || (i > 0 && (runCtx.Err() != nil || ctx.Err() != nil ||
			time.Since(c.renewedAt()) >= r.cfg.Lease/2)) {
			outcomes = append(outcomes, Outcome{ID: job.ID, Unrun: true})
			continue
		}
		o := r.work(ctx, job)
		outcomes = append(outcomes, o)
		stopped = o.Status != Done
		if !stopped && i < len(jobs)-1 && time.Since(since) >= recordEvery {
			// Jobs no longer held are another runner's to run.
			stopped = record() != nil
			since = time.Now()
		}
	}
	for wait := recordRetry; ; wait = min(2*wait, recordRetryMax) {
		err := record()
		if err == nil || errors.Is(err, ErrNotHeld) {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			continue
		case <-jobCtx.Done():
			t.Stop()
		}
		r.logger.Error("action job outcomes not recorded before the runner stopped: those jobs run again when their lease lapses",
			"target", jobs[0].Target, "jobs", len(outcomes)-c.recorded, "error", err)
		return time.Time{}
	}
	var next time.Time
	for i, o := range outcomes {
		if o.Unrun {
			continue
		}
		job := jobs[i]
		logger := r.logger.With("job", job.ID, "key", job.Key, "action", job.Action, "target", job.Target, "attempt", job.Attempts)
		switch {
		case o.Status == Done:
			logger.Debug("action job done", "took", o.Took, "note", o.Note)
		case o.Status == Dead && o.Refused:
			logger.Error("action job dead-lettered; its target refused it and runs its other jobs on", "error", o.Error)
		case o.Status == Dead:
			logger.Error("action job dead-lettered; its target is suspended until resumed", "error", o.Error)
		case context.Cause(ctx) == errClaimLost:
			logger.Info("action job interrupted; the runner that took it over runs it", "error", o.Error)
		case context.Cause(ctx) == errStopping:
			logger.Info("action job interrupted; it runs again at the next start", "error", o.Error)
		default:
			logger.Warn("action job failed; it will be retried", "error", o.Error, "next", o.Next)
			next = o.Next
		}
	}
	return next
}

// work runs one attempt at job and returns its outcome.
func (r *Runner) work(ctx context.Context, job Job) Outcome {
	logger := r.logger.With("job", job.ID, "key", job.Key, "action", job.Action, "target", job.Target, "attempt", job.Attempts)
	start := time.Now()
	err := r.attempt(ctx, job, logger)
	took := time.Since(start)
	r.m.seconds.WithLabelValues(job.Action).Observe(took.Seconds())
	o := Outcome{ID: job.ID, Attempt: job.Attempts, Took: took, Status: Done}
	if note, skip := SkipNote(err); err == nil || skip {
		r.m.jobs.WithLabelValues(job.Action, "done").Inc()
		o.Note = note
		return o
	}

	switch cause := context.Cause(ctx); {
	case cause == errStopping || cause == errClaimLost:
		err = fmt.Errorf("interrupted (%w): %w", cause, err)
		o.Status, o.Next = Pending, time.Now()
	case IsRefused(err):
		// Said in the error, which the dead letter keeps, since its
		// target, unlike others', is not suspended.
		o.Status, o.Refused = Dead, true
		err = fmt.Errorf("refused (target not suspended): %w", err)
	case IsPermanent(err):
		o.Status = Dead
	default:
		p := r.policy(job, logger)
		failures := job.Attempts - job.RetriedAfter
		if failures < 1 {
			// Retried by an older hookd, which numbered its attempts
			// from 1 again and left RetriedAfter as it was.
			failures = job.Attempts
		}
		if d, ok := p.Delay(failures); ok {
			// The target's Retry-After, when it asks for longer, holds
			// this job and the target's others.
			now := time.Now()
			o.Status, o.Next = Pending, now.Add(d)
			if ra := retryAfterOf(err); ra > 0 {
				o.Next, o.Hold = now.Add(max(d, ra)), now.Add(ra)
			}
			break
		}
		o.Status = Dead
		switch {
		case len(p) == 0:
			err = fmt.Errorf("not retried (retry: none): %w", err)
		case job.RetriedAfter > 0:
			err = fmt.Errorf("retries spent after %d attempts since the dead letter was retried (%d in all): %w",
				failures, job.Attempts, err)
		default:
			err = fmt.Errorf("retries spent after %d attempts: %w", job.Attempts, err)
		}
	}
	o.Error = clip(err.Error())
	if o.Status == Dead {
		r.m.jobs.WithLabelValues(job.Action, "dead").Inc()
		r.m.dead.WithLabelValues(job.Action, strconv.FormatBool(o.Refused)).Inc()
	} else {
		r.m.jobs.WithLabelValues(job.Action, "retry").Inc()
	}
	return o
}

// attempt runs job once through its kind's Action.
func (r *Runner) attempt(ctx context.Context, job Job, logger *slog.Logger) (err error) {
	kind, err := Lookup(job.Action)
	if err != nil {
		return Permanent(err)
	}
	params, err := decodeParams(job.Params)
	if err != nil {
		return Refused(fmt.Errorf("decode job parameters: %w", err))
	}
	defer func() {
		if p := recover(); p != nil {
			logger.Error("action panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("action %s panicked: %v", job.Action, p)
		}
	}()
	err = kind.Action().Do(ctx, Call{
		Key:      job.Key,
		Attempt:  job.Attempts,
		Rule:     job.Rule,
		EventID:  job.EventID,
		Params:   params,
		Event:    job.Event,
		Logger:   r.logger,
		Settings: r.cfg.Settings,
	})
	return err
}

// policy returns job's retry policy: DefaultRetry when it has none or one
// that does not parse (rules checked it at load, so that is a job from
// elsewhere), which is logged.
func (r *Runner) policy(job Job, logger *slog.Logger) Policy {
	if job.Retry == "" {
		return defaultPolicy
	}
	p, err := ParsePolicy(job.Retry)
	if err != nil {
		logger.Warn("action job has an invalid retry policy; using the default", "retry", job.Retry, "error", err, "default", DefaultRetry)
		return defaultPolicy
	}
	return p
}

// clip bounds an error's text to maxErrorLen bytes of valid UTF-8.
func clip(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	s = s[:maxErrorLen]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// runnerMetrics are the Runner's Prometheus collectors that it updates;
// its failure counters read its outage logs.
type runnerMetrics struct {
	jobs    *prometheus.CounterVec
	seconds *prometheus.HistogramVec
	dead    *prometheus.CounterVec
}

// newRunnerMetrics returns r's collectors, registered with reg, with the
// counters of r's outage logs, unless reg is nil.
func newRunnerMetrics(reg prometheus.Registerer, r *Runner) (*runnerMetrics, error) {
	m := &runnerMetrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_action_jobs_total",
			Help: "Attempts at action jobs, by action and outcome: done, retry (failed, to be tried again) or dead (dead-lettered).",
		}, []string{"action", "status"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookd_action_seconds",
			Help:    "Time one attempt at an action job took.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"action"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_action_dead_letters_total",
			Help: "Action jobs dead-lettered, by action and refused: \"false\" for retries spent or a permanent error that says the target is wrong, each of which suspends its target; \"true\" for a job whose content its target refused, which leaves the target running.",
		}, []string{"action", "refused"}),
	}
	if reg == nil {
		return m, nil
	}
	failures := func(name, help string, o *outage.Log) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(o.Failures()) })
	}
	for _, c := range []prometheus.Collector{m.jobs, m.seconds, m.dead,
		failures("hookd_action_claim_renewal_failures_total",
			"Renewals of claims on running action jobs that failed (the queue did not answer); a claim not renewed within its lease lets another replica run its jobs too.",
			r.renewOut),
		failures("hookd_action_claim_failures_total",
			"Polls for due action jobs that failed (the queue did not answer; logged as an outage); while they fail, no action runs.",
			r.claimOut),
		failures("hookd_action_record_failures_total",
			"Attempts to record the outcomes of action jobs that failed (the queue did not answer; logged as an outage); they are tried again while the jobs stay claimed.",
			r.recordOut),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register action runner metrics: %w", err)
		}
	}
	return m, nil
}
