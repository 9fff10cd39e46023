// Package actions runs what rules decide: each match of a rule becomes one
// job per action, kept in a durable queue, run at least once by a Runner
// with retries and back-off, dead-lettered when its retries are spent, and
// never run again once it completed. Built-in actions live in subpackages
// (http, exec, log, email, mailjetsend, mailjetunsub, suppress) and register
// themselves; import them for their side effect. What the configuration
// gives them (the SMTP server, the Mailjet keys, the suppression list)
// reaches them as Settings in every Call.
package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd/internal/suggest"
)

// Action performs one kind of side effect (an HTTP call, a program, ...).
//
// Contract:
//   - Idempotency: the Runner may call Do more than once for the same job
//     (a crash after the side effect but before the job was marked done, a
//     timeout after the target acted). Call.Key is stable across those
//     calls; an action passes it on where the target can use it (an
//     Idempotency-Key header, an environment variable) so the effect
//     happens once.
//   - Cancellation: Do returns promptly when ctx ends, with ctx's error;
//     the job is then retried. ctx ends when hookd stops (after a grace
//     period) and when the Runner lost its claim on the job (another
//     runner took it over). It does not end at the Runner's lease, which
//     the Runner renews while Do runs: an action bounds its own attempts
//     (a timeout parameter).
//   - Concurrency: Do is called concurrently for different jobs, never
//     concurrently for two jobs of the same Target.
//   - Errors: a nil error means the effect happened. A permanent error
//     means retrying cannot help, and the job is dead-lettered at once;
//     it says either that the target itself is wrong or that the target
//     refused this one job's content. One wrapped with Permanent says the
//     target is wrong (an HTTP 401, 403, 404, 405, 407 or 410, a program
//     that is not there, no keys in the configuration): its other jobs
//     would fail too, so the target is suspended until resumed, as it is
//     when a job's retries are spent. One wrapped with Refused says the
//     target refused this job for its own sake (another HTTP 4xx but 408,
//     409 and 429, an address the remote refuses, parameters that do not
//     render or parse): the target runs its other jobs on. Anyone who can
//     send an event can make a job whose content is refused, so an action
//     wraps an error with Permanent only when the target would refuse
//     every job alike.
//     An error made by Skip means the action chose not to act (a
//     suppressed recipient): the job is done, the reason recorded.
//     Any other error is retried by the job's policy; one wrapped with
//     RetryAfter is retried no sooner than its target asked.
type Action interface {
	// Do performs call.
	Do(ctx context.Context, call Call) error
}

// Kind is a registered type of action: it checks a rule's parameters when
// the rule loads, names the target a job acts on, and makes the Action.
type Kind interface {
	// Validate checks the parameters a rule gives this action, as written
	// (templates not yet rendered, ${VAR} expanded). An error is a rule
	// load error; a *rules.ParamError locates it at one parameter.
	Validate(params map[string]any) error
	// Target names what a job with these rendered parameters acts on, e.g.
	// "http POST https://alerts.example.com/" or "exec /usr/bin/notify".
	// Jobs of one target run one at a time, and a target whose job was
	// dead-lettered (other than Refused) is suspended: its later jobs wait
	// until it is resumed.
	// The target must not contain secrets; it is shown in the API, the
	// dashboard, the CLI, errors and logs. It is stored with each job as
	// its identity: a kind that names the targets of the same parameters
	// otherwise from one version to the next has the store rename the
	// stored ones in a migration (see the store's retarget), or the jobs
	// queued before would no longer share their target's suspension.
	Target(params map[string]any) string
	// Action returns the Action that runs jobs of this kind.
	Action() Action
}

// Redacter is implemented by a Kind whose parameters can hold secrets: a
// password in a URL, an Authorization header, a token in a program's
// environment. hookd shows a job's parameters (the admin API and so the
// dashboard, hookd test, hookd deadletters) only as RedactParams or Redact
// return them, so that whoever may read jobs does not also read the
// credentials the rules were given. The job itself keeps its parameters
// as they are: its Action needs them.
type Redacter interface {
	// Redact returns a copy of params, as written or rendered, with each
	// secret replaced by Redacted and the rest as it is, so that the copy
	// still tells what the job does. It never modifies params and cannot
	// fail: a parameter that may hold a secret but cannot be read (an
	// invalid one) is replaced whole.
	Redact(params map[string]any) map[string]any
}

// Redacted stands for a secret in the parameters hookd shows.
const Redacted = "[redacted]"

// Call is one attempt at one job.
type Call struct {
	// Key is the job's idempotency key, stable across attempts.
	Key string
	// Attempt counts the attempts of this job, from 1. The count goes on
	// when a dead letter is retried (see Job.RetriedAfter): the first
	// attempt after a dead letter's 21st is its 22nd.
	Attempt int
	// Rule names the rule whose match made the job.
	Rule string
	// EventID is the id of the event that fired the rule.
	EventID string
	// Params are the rendered parameters. The Runner decodes them from the
	// job's JSON with json.Decoder.UseNumber, so their leaves are string,
	// json.Number, bool or nil, inside map[string]any and []any; an action
	// reads a number from any of json.Number, int64, uint64 or float64.
	Params map[string]any
	// Event is the JSON of the event.Event that fired the rule.
	Event json.RawMessage
	// Logger is where an action writes what it logs (the log action writes
	// its line here). The Runner passes its own logger; nil discards.
	Logger *slog.Logger
	// Settings are the Runner's RunnerConfig.Settings: connections and
	// the suppression list.
	Settings Settings
}

// permanent marks an error that retrying cannot fix; refused tells that
// it is this job's alone (Refused), not its target's (Permanent).
type permanent struct {
	err     error
	refused bool
}

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err, which says that the job's target itself is wrong,
// so the Runner dead-letters the job at once instead of retrying it, and
// suspends its target until resumed.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err: err}
}

// Refused wraps err, which says that the target refused this job's
// content and would take another job's, so the Runner dead-letters the
// job at once instead of retrying it and leaves its target running.
func Refused(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err: err, refused: true}
}

// IsPermanent reports whether err was wrapped with Permanent or Refused.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// IsRefused reports whether err was wrapped with Refused (and not, more
// outwardly, with Permanent).
func IsRefused(err error) bool {
	var p permanent
	return errors.As(err, &p) && p.refused
}

// TargetWrong reports whether an HTTP service's answer with status code
// says the target itself is wrong, whatever the request's content:
// credentials (401, 403, 407), address (404, 410) or method (405).
func TargetWrong(code int) bool {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusProxyAuthRequired, http.StatusGone:
		return true
	}
	return false
}

// PermanentStatus wraps err, the permanent answer of an HTTP service with
// status code, as the Runner should take it: with Refused for a 4xx that
// refuses this request's content (400, 413, 422, ...), and with Permanent
// for one that says the target is wrong (TargetWrong) and for any other
// code. It does not tell which codes are worth a retry: the caller does
// not call it for those (408, 429, 5xx).
func PermanentStatus(code int, err error) error {
	if code >= 400 && code <= 499 && !TargetWrong(code) {
		return Refused(err)
	}
	return Permanent(err)
}

// ErrUnknownKind is returned for an action type no package registered.
var ErrUnknownKind = errors.New("unknown action")

var (
	mu    sync.RWMutex
	kinds = map[string]Kind{}
)

// Register makes a kind of action available to rules under name. Action
// packages call it from init; it panics on a name registered twice.
func Register(name string, k Kind) {
	mu.Lock()
	defer mu.Unlock()
	if _, ok := kinds[name]; ok {
		panic("actions: registered twice: " + name)
	}
	kinds[name] = k
}

// Lookup returns the kind registered under name.
func Lookup(name string) (Kind, error) {
	mu.RLock()
	k, ok := kinds[name]
	mu.RUnlock()
	if !ok {
		known := Kinds()
		if near := suggest.Closest(name, known); near != "" {
			return nil, fmt.Errorf("action %q: %w: did you mean %s? (known: %s)", name, ErrUnknownKind, near, strings.Join(known, ", "))
		}
		return nil, fmt.Errorf("action %q: %w (known: %s)", name, ErrUnknownKind, strings.Join(known, ", "))
	}
	return k, nil
}

// Kinds lists the registered action names, sorted.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate checks one action of a rule: its type is registered and its
// parameters are valid for it. Rule loading calls it for every action.
func Validate(name string, params map[string]any) error {
	k, err := Lookup(name)
	if err != nil {
		return err
	}
	return k.Validate(params)
}

// RedactParams returns the parameters of an action of the kind named name
// as they may be shown: the kind's Redact of params when it is a
// Redacter, and params itself when it is not, since its parameters hold
// no secrets. A kind that is not registered (a job from a build of hookd
// with other actions) cannot say where its secrets are: every value is
// replaced by Redacted, and only the parameters' names are left.
func RedactParams(name string, params map[string]any) map[string]any {
	k, err := Lookup(name)
	if err != nil {
		if params == nil {
			return nil
		}
		out := make(map[string]any, len(params))
		for p := range params {
			out[p] = Redacted
		}
		return out
	}
	if r, ok := k.(Redacter); ok {
		return r.Redact(params)
	}
	return params
}

// Redact is RedactParams for a job's parameters as JSON (Job.Params): they
// come back as they are, to the byte, for a kind that is no Redacter, and
// otherwise redacted and encoded anew. Parameters that do not decode,
// which hookd never writes, come back as the JSON string Redacted rather
// than as they are: what cannot be read cannot be shown to hold no secret.
func Redact(name string, params json.RawMessage) json.RawMessage {
	if k, err := Lookup(name); err == nil {
		if _, ok := k.(Redacter); !ok {
			return params
		}
	}
	ps, err := decodeParams(params)
	if err != nil {
		return json.RawMessage(`"` + Redacted + `"`)
	}
	out, err := json.Marshal(RedactParams(name, ps))
	if err != nil {
		return json.RawMessage(`"` + Redacted + `"`)
	}
	return out
}

// decodeParams decodes a job's parameters as the Runner hands them to an
// Action (see Call.Params); nil when there are none.
func decodeParams(b json.RawMessage) (map[string]any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var params map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		return nil, err
	}
	return params, nil
}

// Job states.
const (
	Pending = "pending" // waiting for its time, or for its target to be resumed
	Running = "running" // claimed by a runner
	Done    = "done"    // the action took effect
	Dead    = "dead"    // retries spent, a permanent error or a refusal: a dead letter
)

// Job is one action to run for one rule match.
type Job struct {
	// ID is the queue's id for the job.
	ID int64 `json:"id"`
	// Key is the idempotency key: rule/action-index/event-id, or
	// rule/action-index/once-key for a rule with once. The queue holds at
	// most one job per key, ever.
	Key string `json:"key"`
	// Rule and Index name the rule and the action's position in it.
	Rule  string `json:"rule"`
	Index int    `json:"index"`
	// Action is the registered kind, e.g. "http".
	Action string `json:"action"`
	// Target is the kind's Target for Params.
	Target string `json:"target"`
	// Params are the rendered parameters, as JSON.
	Params json.RawMessage `json:"params"`
	// Retry is the policy, e.g. "10x30s,10x30m".
	Retry string `json:"retry"`
	// EventID is the id of the event that fired the rule.
	EventID string `json:"event_id"`
	// Event is the JSON of that event.
	Event json.RawMessage `json:"event,omitempty"`
	// Status is Pending, Running, Done or Dead.
	Status string `json:"status"`
	// Attempts counts the attempts made so far, including those before the
	// job was retried from the dead letters.
	Attempts int `json:"attempts"`
	// RetriedAfter is the Attempts the job had when it was last retried
	// from the dead letters, and 0 when it never was. Its attempts go on
	// being numbered from there, while its retry policy counts only the
	// failures since: a retried dead letter gets the whole policy again.
	RetriedAfter int `json:"retried_after,omitempty"`
	// NextAt is when a pending job is due.
	NextAt time.Time `json:"next_at"`
	// LastError is the error of the last failed attempt.
	LastError string `json:"last_error,omitempty"`
	// Created and Updated are when the job was made and last changed.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// LapsedOwner, in a job Queue.Claim returns, names the runner whose
	// claim on the job lapsed, which this claim takes over; it is empty
	// for a job claimed from Pending, and elsewhere.
	LapsedOwner string `json:"-"`
}
