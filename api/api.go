// Package api is the admin HTTP API over the store and the rules: events,
// counts over time, quarantined bodies, the running rules and the action
// jobs, as JSON. It is a top-level package, not part of listener or store,
// because the dashboard and the CLI share it.
//
// Handlers answer client mistakes with an *echo.HTTPError (400 naming the
// parameter, 404) and return other errors wrapped, leaving it to the echo
// instance's error handler to write {"error": "..."}. Every route answers
// 503 when the store's database cannot be reached (store.Unavailable), and
// 504 when its store queries take longer than Deps.QueryTimeout, which
// the database then cancels.
//
// Every endpoint refuses query parameters it does not know and parameters
// given twice, so that a typo such as ?emial= is an error rather than a
// silently unfiltered listing, and a request body, so that parameters sent
// in one are not ignored.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/rules"
	"github.com/hookd/hookd/store"
)

// Register adds the API's routes to g, which the caller mounts (at /api) and
// guards:
//
//	GET  /events                    events, newest first
//	GET  /events/:id                one event
//	GET  /stats                     event counts per time bucket
//	GET  /quarantine                quarantined bodies, newest first
//	GET  /rules                     the running rules and load errors
//	GET  /jobs                      action jobs, newest first
//	GET  /jobs/:id                  one job with its attempts
//	GET  /deadletters               dead jobs, most recently dead first
//	POST /deadletters/:id/retry     run a dead job again, resuming its target
//	POST /deadletters/retry         run again every dead job selected
//	GET  /targets                   targets and their suspension, by name
//	POST /targets/:id/resume        lift a target's suspension
//	POST /targets/resume            lift the suspension of every target selected
//	GET  /suppressions              the suppression list
//	DELETE /suppressions/:email     take an address off it
//	GET  /deliverability            bounce, block and complaint rates per domain
//	GET  /rules/activity            matches and job outcomes per rule over time
//	GET  /live                      new events as server-sent events
//
// The doc comment of each route's handler in this package states its
// parameters and its JSON.
func Register(g *echo.Group, d Deps) {
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := d.QueryTimeout
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	streamWriteTimeout := d.StreamWriteTimeout
	if streamWriteTimeout <= 0 {
		streamWriteTimeout = DefaultStreamWriteTimeout
	}
	h := &handler{st: d.Store, rulesStatus: d.Rules, logger: logger, shutdown: d.Shutdown, timeout: timeout, streamWriteTimeout: streamWriteTimeout}
	// A GET route answers HEAD too, as net/http's file server and most
	// APIs do (its body is not sent); /live does not, being a stream.
	get := func(path string, fn echo.HandlerFunc) {
		g.Match([]string{http.MethodGet, http.MethodHead}, path, h.bound(fn))
	}
	get("/events", h.events)
	get("/events/:id", h.event)
	get("/stats", h.stats)
	get("/quarantine", h.quarantine)
	get("/rules", h.rules)
	get("/jobs", h.jobs)
	get("/jobs/:id", h.job)
	get("/deadletters", h.deadLetters)
	g.POST("/deadletters/:id/retry", h.bound(h.retryDeadLetter))
	g.POST("/deadletters/retry", h.bound(h.retryDeadLetters))
	get("/targets", h.targets)
	g.POST("/targets/:id/resume", h.bound(h.resumeTarget))
	g.POST("/targets/resume", h.bound(h.resumeTargets))
	get("/suppressions", h.suppressions)
	g.DELETE("/suppressions/:email", h.bound(h.unsuppress))
	get("/deliverability", h.deliverability)
	get("/rules/activity", h.ruleActivity)
	g.GET("/live", h.bound(h.live))
}

// Deps is what the API serves from.
type Deps struct {
	// Store is the store the API reads and, for retries and resumes,
	// writes. Required.
	Store *store.Store
	// Rules returns the rule watcher's status, as rules.Watcher.Status
	// does; nil means no rules are configured.
	Rules func() rules.Status
	// Logger records failures after a response has started (a cut-short
	// export); nil discards.
	Logger *slog.Logger
	// Shutdown, when closed, ends the responses that would otherwise last
	// as long as their client (GET /live), so that a graceful shutdown does
	// not wait for them. Nil never closes.
	Shutdown <-chan struct{}
	// QueryTimeout bounds how long the store queries of one request may
	// take, DefaultQueryTimeout when zero. A request that runs out of it
	// ends with 504 and a JSON error, and its query is cancelled in the
	// database (the context reaches the driver: SQLite interrupts the
	// statement, PostgreSQL cancels it). A stream (GET /live, an export of
	// /events) is not bounded as a whole: each query it runs is.
	QueryTimeout time.Duration
	// StreamWriteTimeout bounds how long each write of a stream (a message
	// or heartbeat of GET /live, a flush of an export of /events) may wait
	// for its client, DefaultStreamWriteTimeout when zero. A stream is not
	// bounded as a whole, as the server's write timeout bounds ordinary
	// answers: a client that stops reading is dropped once a write has
	// waited this long, and one that reads stays as long as it likes.
	StreamWriteTimeout time.Duration
}

// DefaultQueryTimeout is Deps.QueryTimeout when zero.
const DefaultQueryTimeout = 30 * time.Second

// DefaultStreamWriteTimeout is Deps.StreamWriteTimeout when zero.
const DefaultStreamWriteTimeout = 30 * time.Second

type handler struct {
	st          *store.Store
	rulesStatus func() rules.Status
	logger      *slog.Logger
	shutdown    <-chan struct{}
	timeout     time.Duration
	// streamWriteTimeout is Deps.StreamWriteTimeout, defaulted.
	streamWriteTimeout time.Duration
}

// errQueryTimeout is the cause of the context of a request whose store
// queries took longer than the handler's timeout.
var errQueryTimeout = errors.New("store query timeout")

// unboundedKey holds, in the echo.Context, the request's context without
// the query timeout (see bound).
const unboundedKey = "api.unbounded"

// bound runs fn with the request's context ending, with cause
// errQueryTimeout, once the query timeout passed, so that the database
// cancels a query that takes longer; then it answers the errors fn
// returns with storeErrors. The request's own context stays in c for the
// streams, which bound each query instead (see unbounded).
func (h *handler) bound(fn echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx, cancel := context.WithTimeoutCause(req.Context(), h.timeout, errQueryTimeout)
		defer cancel()
		c.Set(unboundedKey, req.Context())
		c.SetRequest(req.WithContext(ctx))
		return h.storeErrors(c, fn(c))
	}
}

// unbounded returns the context of c's request without the query timeout
// that bound put on it: it ends when the client goes away.
func unbounded(c echo.Context) context.Context {
	if ctx, ok := c.Get(unboundedKey).(context.Context); ok {
		return ctx
	}
	return c.Request().Context()
}

// params returns the request's query parameters, refusing a malformed query
// string, parameters not in known and parameters given more than once. It
// refuses a request with a body too: no route reads one, and parameters
// sent as a form (curl -d all=true) or as JSON would otherwise be ignored,
// leaving an answer about their absence.
func params(c echo.Context, known ...string) (map[string]string, error) {
	if r := c.Request(); hasBody(r) {
		return nil, badRequest("request body: %s %s takes no body; give its parameters in the query string (%s?name=value)",
			r.Method, r.URL.Path, r.URL.Path)
	}
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return nil, badRequest("malformed query string: %v", err)
	}
	p := make(map[string]string, len(q))
	for k, v := range q {
		if !slices.Contains(known, k) {
			if len(known) == 0 {
				return nil, badRequest("unknown parameter %q: this endpoint takes none", k)
			}
			return nil, badRequest("unknown parameter %q (known: %s)", k, strings.Join(known, ", "))
		}
		if len(v) > 1 {
			return nil, badRequest("%s: given %d times, at most once allowed", k, len(v))
		}
		p[k] = v[0]
	}
	return p, nil
}

// hasBody tells whether r has a body of at least one byte. A body of
// unknown length (chunked) is read for its first byte: some clients send
// an empty one so with a POST.
func hasBody(r *http.Request) bool {
	switch {
	case r.ContentLength > 0:
		return true
	case r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody:
		return false
	}
	n, _ := r.Body.Read(make([]byte, 1))
	return n > 0
}

// ParseTime reads a time as the API's since and until and the CLI's
// --since and --until take it: an RFC 3339 time, with or without fractional
// seconds; a date such as 2025-03-01, meaning its midnight UTC; or a
// duration such as 24h, or days such as 7d, meaning that long before now
// (at most config.MaxPeriod, whose error says so).
// The result is in UTC; an empty value is the zero time. A duration of
// zero is refused: it would mean now, where a caller who writes since=0
// means the beginning, which is no bound at all.
func ParseTime(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if p, err := config.ParsePeriod(v); err == nil {
		if p.Duration() == 0 {
			return time.Time{}, fmt.Errorf("%q is a duration of zero, which would mean now; leave the parameter out for no bound", v)
		}
		// A duration or days ago, as retention takes them.
		return now.Add(-p.Duration()).UTC(), nil
	} else if errors.Is(err, config.ErrPeriodTooLong) {
		return time.Time{}, err
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		// RFC 3339 allows "t" and "z" in lower case; Go's layout does not.
		if t, err := time.Parse(layout, strings.ToUpper(v)); err == nil {
			// The zero time, year 1, would read as no bound at all.
			if y := t.UTC().Year(); y < event.MinYear || y > event.MaxYear {
				return time.Time{}, fmt.Errorf("%q is outside the years %d to %d, the times hookd stores", v, event.MinYear, event.MaxYear)
			}
			return t.UTC(), nil
		}
	}
	msg := fmt.Sprintf("%q is not an RFC 3339 time such as 2025-03-01T12:00:00Z, a date such as 2025-03-01 (its midnight UTC) or a duration ago such as 24h or 7d", v)
	if strings.Contains(v, " ") {
		// A "+" left unencoded in a query string arrives as a space.
		msg += `; in a URL, write the "+" of an offset as %2B`
	}
	return time.Time{}, errors.New(msg)
}

// parseTime reads the time parameter name with ParseTime.
func parseTime(name, v string) (time.Time, error) {
	t, err := ParseTime(v, time.Now())
	if err != nil {
		return time.Time{}, badRequest("%s: %v", name, err)
	}
	return t, nil
}

// parseLimit reads a page size; empty means the store's default.
func parseLimit(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > store.MaxLimit {
		return 0, badRequest("limit: %q is not an integer from 1 to %d", v, store.MaxLimit)
	}
	return n, nil
}

// storeErrors answers the store's errors that a handler returned: its
// verdict on a query parameter is a 400 that says it; a request whose
// queries ran out of the query timeout is a 504 that says so, as a gateway
// answers for a server that did not answer in time: the database is up,
// and the same query may take as long again, so it names no Retry-After; a
// database that cannot be reached is a 503 that says to retry later
// (Retry-After: 5), as a hook is answered when the event log is down.
// Other errors are returned as they are.
func (h *handler) storeErrors(c echo.Context, err error) error {
	if err == nil {
		return nil
	}
	if he, ok := errors.AsType[*echo.HTTPError](err); ok {
		return he
	}
	if qe, ok := errors.AsType[*store.QueryError](err); ok {
		return badRequest("%s", qe.Error())
	}
	// Before Unavailable, which takes a deadline for an outage.
	if context.Cause(c.Request().Context()) == errQueryTimeout {
		return echo.NewHTTPError(http.StatusGatewayTimeout, fmt.Sprintf(
			"store query took longer than %s (admin.query_timeout): narrow it (a shorter range, a filter) or retry later", h.timeout)).SetInternal(err)
	}
	if store.Unavailable(err) {
		c.Response().Header().Set("Retry-After", "5")
		return echo.NewHTTPError(http.StatusServiceUnavailable, "store unavailable, retry later").SetInternal(err)
	}
	return err
}

func badRequest(format string, args ...any) *echo.HTTPError {
	return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// writeList answers 200 with {"<key>":[item(0), ..., item(n-1)],"next":next},
// the body c.JSON would write, but encodes one item at a time straight to
// the response: a page of large events is then held once, as the store
// returned it, and not a second time as the JSON of the whole page. An
// item that fails to encode before anything is sent is returned as an
// error; after, it can only cut the body short, and is logged.
func writeList(c echo.Context, logger *slog.Logger, key string, n int, item func(i int) any, next string) error {
	w := c.Response()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as listener.NewEcho's serializer
	send := func() error {
		if !w.Committed {
			w.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			w.WriteHeader(http.StatusOK)
		}
		_, err := w.Write(buf.Bytes())
		buf.Reset()
		return err
	}
	fmt.Fprintf(&buf, `{%q:[`, key)
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(item(i)); err != nil {
			if !w.Committed {
				return fmt.Errorf("encode %s: %w", key, err)
			}
			logger.Error("list cut short", "route", c.Path(), "items", i, "err", err)
			return nil
		}
		buf.Truncate(buf.Len() - 1) // the encoder's newline
		if send() != nil {
			return nil // the client is gone
		}
	}
	buf.WriteString(`],"next":`)
	_ = enc.Encode(next) // a string always encodes
	buf.Truncate(buf.Len() - 1)
	buf.WriteString("}\n")
	_ = send()
	return nil
}
