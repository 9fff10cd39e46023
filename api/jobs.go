package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/store"
)

// targetsResponse is the body of GET /targets.
type targetsResponse struct {
	Targets []store.Target `json:"targets"`
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

// retryResponse is the body of POST /deadletters/:id/retry.
type retryResponse struct {
	store.JobRecord
	// TargetSuspended says that the job waits for its target to be
	// resumed (POST /targets/:id/resume) before it runs.
	TargetSuspended bool `json:"target_suspended"`
}

// retryDeadLetter serves POST /deadletters/:id/retry: the dead job id is
// pending again, due now, with its whole retry policy again and its
// attempts numbered on from the last (store.RetryDeadLetter). The body is
// the job as it now is, with whether its target is suspended, or 404 when
// there is no dead job id. A job of a suspended target waits until the
// target is resumed.
func (h *handler) retryDeadLetter(c echo.Context) error {
	if _, err := params(c); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := h.st.RetryDeadLetter(ctx, id); errors.Is(err, store.ErrNotFound) {
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
	h.logger.Info("dead letter retried", "job", id, "target", t.Name, "target_suspended", t.Suspended, "remote", c.Request().RemoteAddr)
	return c.JSON(http.StatusOK, retryResponse{JobRecord: redacted(j), TargetSuspended: t.Suspended})
}

// targets serves GET /targets: every target jobs were enqueued for, by
// name. It takes no parameters. The body is {"targets": [...]}, each in the
// JSON form of store.Target: whether it is suspended, since when and why,
// and how many of its jobs are pending, running and dead.
func (h *handler) targets(c echo.Context) error {
	if _, err := params(c); err != nil {
		return err
	}
	ts, err := h.st.Targets(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, targetsResponse{Targets: ts})
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
	ts, err := h.st.Targets(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.ID == id {
			h.logger.Info("target resumed", "target", t.Name, "pending", t.Pending, "remote", c.Request().RemoteAddr)
			return c.JSON(http.StatusOK, t)
		}
	}
	return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no target %d", id))
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
