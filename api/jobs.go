package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/store"
)

// targetsResponse is the body of GET /targets.
type targetsResponse struct {
	Targets []store.Target `json:"targets"`
	Next    string         `json:"next"`
}

// deadLetters serves GET /deadletters: one page of the dead jobs, the most
// recently dead first.
//
// Parameters, both optional: limit, the page size, 100 by default and at
// most 1000; cursor, the next of the previous page.
//
// The body is {"jobs": [...], "next": "CURSOR"}: each job in the JSON form
// of store.JobRecord (its last_error, its attempts in history, and the
// event that fired its rule, data included) with the secrets of its params
// redacted, and next empty on the last page. As with events, a page also
// ends before the job whose event and params would take the page past
// store.PageBytes (4 MiB), though it always holds one: a page may hold
// fewer than limit jobs while more follow, and a client follows next until
// it is empty.
func (h *handler) deadLetters(c echo.Context) error {
	p, err := params(c, "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := parseLimit(p["limit"])
	if err != nil {
		return err
	}
	page, err := h.st.DeadLetters(c.Request().Context(), limit, p["cursor"])
	if err != nil {
		return err
	}
	return writeJobs(c, h.logger, page)
}

// RetriedJob is the body of POST /deadletters/:id/retry, and what hookd
// deadletters retry JOB_ID --json prints: the job as it now is, its
// parameters redacted, and what became of its target.
type RetriedJob struct {
	store.JobRecord
	// TargetResumed says that the retry lifted the suspension of the
	// job's target.
	TargetResumed bool `json:"target_resumed"`
	// TargetSuspended says that the job's target is suspended all the
	// same (a job of it died again meanwhile): the job waits for it to be
	// resumed.
	TargetSuspended bool `json:"target_suspended"`
}

// retryDeadLetter serves POST /deadletters/:id/retry: the dead job id is
// pending again, due now, with its whole retry policy again and its
// attempts numbered on from the last, and its target resumed if it was
// suspended, so that the job runs (store.RetryDeadLetter). The body is
// the job as it now is, with whether the retry resumed its target and
// whether the target is suspended, or 404 when there is no dead job id.
func (h *handler) retryDeadLetter(c echo.Context) error {
	if _, err := params(c); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := h.st.RetryDeadLetter(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no dead job %d", id))
	} else if err != nil {
		return err
	}
	j, err := h.st.Job(ctx, id)
	if err != nil {
		return err
	}
	t, err := h.st.Target(ctx, j.Target)
	if err != nil {
		return err
	}
	h.logger.Info("dead letter retried", "job", id, "target", t.Name, "target_resumed", r.Targets > 0, "remote", c.Request().RemoteAddr)
	return c.JSON(http.StatusOK, RetriedJob{JobRecord: redacted(j), TargetResumed: r.Targets > 0, TargetSuspended: t.Suspended})
}

// retryDeadLetters serves POST /deadletters/retry: every dead job the
// parameters select is retried as by POST /deadletters/:id/retry, and the
// suspended targets among theirs resumed, all in one transaction
// (store.RetryDeadLetters); repeating it retries only what died since.
//
// Parameters: all=true, to retry every dead job, or one or more of rule,
// the name of the jobs' rule; action, their action kind (email, http,
// ...; another word is refused); since, the earliest time they died, as
// /events takes it (an RFC 3339 time, a date, or a duration ago such as
// 2h). One of them is required, so that a bare POST retries nothing by
// mistake, and all cannot be given with a filter. Every dead job means those that died of
// another cause too, which die again at once if their cause is permanent:
// the filters narrow a retry to one outage.
//
// The body is {"retried": N, "targets_resumed": M}.
func (h *handler) retryDeadLetters(c echo.Context) error {
	p, err := params(c, "all", "rule", "action", "since")
	if err != nil {
		return err
	}
	if err := bulk(p, "dead job", "rule", "action", "since"); err != nil {
		return err
	}
	f := store.DeadFilter{Rule: p["rule"], Action: p["action"]}
	if f.Since, err = parseTime("since", p["since"]); err != nil {
		return err
	}
	r, err := h.st.RetryDeadLetters(c.Request().Context(), f)
	if err != nil {
		return err
	}
	h.logger.Info("dead letters retried", "all", p["all"] != "", "rule", f.Rule, "action", f.Action, "since", f.Since,
		"jobs", r.Jobs, "targets_resumed", r.Targets, "remote", c.Request().RemoteAddr)
	return c.JSON(http.StatusOK, r)
}

// bulk checks the selection of a bulk operation over p: all=true alone, or
// one or more of filters. what names the things selected.
func bulk(p map[string]string, what string, filters ...string) error {
	var given []string
	for _, f := range filters {
		if _, ok := p[f]; ok {
			if p[f] == "" {
				return badRequest("%s: empty; leave it out not to filter", f)
			}
			given = append(given, f)
		}
	}
	all, ok := p["all"]
	switch {
	case ok && all != "true":
		return badRequest("all: %q; want true, or leave it out and give %s", all, strings.Join(filters, ", "))
	case ok && len(given) > 0:
		return badRequest("all=true selects every %s: give it without %s", what, strings.Join(given, ", "))
	case !ok && len(given) == 0:
		return badRequest("give all=true to select every %s, or one or more of %s", what, strings.Join(filters, ", "))
	}
	if a, ok := p["action"]; ok && !slices.Contains(actions.Kinds(), a) {
		// A mistyped kind selects nothing, which would read as "nothing
		// is dead", as hookd deadletters --action refuses it.
		return badRequest("action: %q is not an action kind (want one of: %s)", a, strings.Join(actions.Kinds(), ", "))
	}
	return nil
}

// targets serves GET /targets: one page of the targets jobs were
// enqueued for, by name.
//
// Parameters, all optional: suspended, true for the suspended targets
// only, false for the others; target, the exact name of the one target
// wanted (a job's target); limit, the page size, 100 by default and at
// most 1000; cursor, the next of the previous page.
//
// The body is {"targets": [...], "next": "CURSOR"}, next empty on the last
// page, each target in the JSON form of store.Target: whether it is
// suspended, since when and why, and how many of its jobs are pending,
// running and dead.
func (h *handler) targets(c echo.Context) error {
	p, err := params(c, "suspended", "target", "limit", "cursor")
	if err != nil {
		return err
	}
	q := store.TargetQuery{Name: p["target"], Cursor: p["cursor"]}
	if v, ok := p["target"]; ok && v == "" {
		return badRequest("target: empty; leave it out not to filter")
	}
	if v, ok := p["suspended"]; ok {
		if v != "true" && v != "false" {
			return badRequest("suspended: %q; want true or false", v)
		}
		suspended := v == "true"
		q.Suspended = &suspended
	}
	if q.Limit, err = parseLimit(p["limit"]); err != nil {
		return err
	}
	page, err := h.st.ListTargets(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, targetsResponse{Targets: page.Targets, Next: page.Next})
}

// resumeTarget serves POST /targets/:id/resume: the target's suspension is
// lifted, so that its waiting jobs run; its dead jobs stay dead. The body
// is the target as it now is, or 404 when there is no target id.
func (h *handler) resumeTarget(c echo.Context) error {
	if _, err := params(c); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := h.st.ResumeTarget(ctx, id); errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no target %d", id))
	} else if err != nil {
		return err
	}
	page, err := h.st.ListTargets(ctx, store.TargetQuery{ID: id, Limit: 1})
	if err != nil {
		return err
	}
	if len(page.Targets) == 0 {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no target %d", id))
	}
	t := page.Targets[0]
	h.logger.Info("target resumed", "target", t.Name, "pending", t.Pending, "remote", c.Request().RemoteAddr)
	return c.JSON(http.StatusOK, t)
}

// resumeTargets serves POST /targets/resume: the suspension of every
// suspended target the parameters select is lifted, in one transaction
// (store.ResumeTargets). Their dead jobs stay dead: POST
// /deadletters/retry retries those and resumes their targets.
//
// Parameters: all=true, to resume every suspended target, or one or both
// of action, an action kind whose jobs were enqueued for the target (as
// on /deadletters/retry, another word is refused);
// since, the earliest time the target was suspended (by its latest dead
// job), as /events takes it. One of them is required; all cannot be given
// with a filter.
//
// The body is {"resumed": N}.
func (h *handler) resumeTargets(c echo.Context) error {
	p, err := params(c, "all", "action", "since")
	if err != nil {
		return err
	}
	if err := bulk(p, "suspended target", "action", "since"); err != nil {
		return err
	}
	f := store.TargetFilter{Action: p["action"]}
	if f.Since, err = parseTime("since", p["since"]); err != nil {
		return err
	}
	n, err := h.st.ResumeTargets(c.Request().Context(), f)
	if err != nil {
		return err
	}
	h.logger.Info("targets resumed", "all", p["all"] != "", "action", f.Action, "since", f.Since, "targets", n, "remote", c.Request().RemoteAddr)
	return c.JSON(http.StatusOK, resumedResponse{Resumed: n})
}

// resumedResponse is the body of POST /targets/resume.
type resumedResponse struct {
	// Resumed counts the targets whose suspension was lifted.
	Resumed int `json:"resumed"`
}

// jobs serves GET /jobs: one page of action jobs, newest first.
//
// Parameters, all optional: event_id, the event that fired the rule; rule,
// the rule's name; status, one of pending, running, done and dead; limit,
// the page size, 100 by default and at most 1000; cursor, the next of the
// previous page.
//
// The body is {"jobs": [...], "next": "CURSOR"}, as for /deadletters, and
// bounded in bytes the same way.
func (h *handler) jobs(c echo.Context) error {
	p, err := params(c, "event_id", "rule", "status", "limit", "cursor")
	if err != nil {
		return err
	}
	q := store.JobQuery{EventID: p["event_id"], Rule: p["rule"], Status: p["status"], Cursor: p["cursor"]}
	if q.Limit, err = parseLimit(p["limit"]); err != nil {
		return err
	}
	page, err := h.st.Jobs(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return writeJobs(c, h.logger, page)
}

// writeJobs answers with page as the body of GET /jobs and GET
// /deadletters, {"jobs": [...], "next": "CURSOR"}, writing one job at a
// time so that a page of jobs with large events is not held twice.
func writeJobs(c echo.Context, logger *slog.Logger, page store.JobPage) error {
	return writeList(c, logger, "jobs", len(page.Jobs), func(i int) any { return redacted(page.Jobs[i]) }, page.Next)
}

// redacted returns j as every answer shows a job: with the secrets of its
// parameters (a password in an http action's url, its header values)
// replaced by "[redacted]". Whoever may read jobs may not thereby read the
// credentials the rules were given; the stored job keeps them for its
// action.
func redacted(j store.JobRecord) store.JobRecord {
	j.Params = actions.Redact(j.Action, j.Params)
	return j
}

// job serves GET /jobs/:id: the one job with that id and its attempts, in
// the same JSON form as in the listing, or 404.
func (h *handler) job(c echo.Context) error {
	if _, err := params(c); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	j, err := h.st.Job(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("job %d not found", id))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, redacted(j))
}

// pathID reads the :id of a job or target route, a positive integer.
func pathID(c echo.Context) (int64, error) {
	v := c.Param("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, badRequest("id: %q is not a positive integer", v)
	}
	return id, nil
}
