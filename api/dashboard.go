package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

// livePoll is how often GET /live looks for new events, and liveHeartbeat
// how often it writes a comment so that proxies keep an idle stream open.
const (
	livePoll      = 250 * time.Millisecond
	liveHeartbeat = 15 * time.Second
)

// window reads since and until, defaulting until to now and since to span
// before until.
func window(p map[string]string, span time.Duration) (since, until time.Time, err error) {
	if since, err = parseTime("since", p["since"]); err != nil {
		return
	}
	if until, err = parseTime("until", p["until"]); err != nil {
		return
	}
	if until.IsZero() {
		until = time.Now().UTC()
	}
	if since.IsZero() {
		since = until.Add(-span)
	}
	return since, until, nil
}

// deliverabilityResponse is the body of GET /deliverability.
type deliverabilityResponse struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	store.Deliverability
}

// deliverability serves GET /deliverability: delivered, bounce, blocked
// and complaint counts and rates per recipient domain in a window, worst
// first, the hard and soft bounces, and the most frequent error texts
// (see store.Deliverability). Events are counted by category, whichever
// provider sent them; the JSON keeps the names of Mailjet's types, sent
// for delivered and spam for complaint, and an error's type is its
// category, bounce or blocked.
//
// Parameters, all optional: since and until (RFC 3339; default the 24
// hours up to now); limit, how many domains and error values, 100 by
// default and at most 1000.
//
//	{"since": "...", "until": "...",
//	 "domains": [{"domain": "example.com", "sent": 10, "bounce": 2, "blocked": 1, "spam": 0, "rate": 0.3}],
//	 "hard_bounces": 1, "soft_bounces": 1,
//	 "errors": [{"type": "bounce", "error": "user unknown", "count": 1}]}
func (h *handler) deliverability(c echo.Context) error {
	p, err := params(c, "since", "until", "limit")
	if err != nil {
		return err
	}
	since, until, err := window(p, defaultSpan)
	if err != nil {
		return err
	}
	limit, err := parseLimit(p["limit"])
	if err != nil {
		return err
	}
	d, err := h.st.Deliverability(c.Request().Context(), since, until, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, deliverabilityResponse{Since: since, Until: until, Deliverability: d})
}

// ruleActivityResponse is the body of GET /rules/activity.
type ruleActivityResponse struct {
	Interval string               `json:"interval"`
	Since    time.Time            `json:"since"`
	Until    time.Time            `json:"until"`
	Rules    []store.RuleActivity `json:"rules"`
}

// ruleActivity serves GET /rules/activity: per rule and time bucket, the
// events it made jobs for (matches) and those jobs by status.
//
// Parameters, all optional: interval, 1m, 1h (default) or 1d; since and
// until as for GET /stats (default the 24 hours up to the end of the
// current bucket). Times are the jobs' creation times.
//
//	{"interval": "1h", "since": "...", "until": "...",
//	 "rules": [{"rule": "welcome", "buckets": [{"time": "...", "matches": 2, "jobs": {"done": 2}}]}]}
func (h *handler) ruleActivity(c echo.Context) error {
	p, err := params(c, "interval", "since", "until")
	if err != nil {
		return err
	}
	resp := ruleActivityResponse{Interval: p["interval"]}
	if resp.Interval == "" {
		resp.Interval = "1h"
	}
	iv, ok := intervals[resp.Interval]
	if !ok {
		return badRequest("interval: %q is not one of 1m, 1h, 1d", resp.Interval)
	}
	if p["until"] == "" {
		p["until"] = time.Now().UTC().Truncate(iv).Add(iv).Format(time.RFC3339)
	}
	if resp.Since, resp.Until, err = window(p, defaultSpan); err != nil {
		return err
	}
	resp.Rules, err = h.st.RuleActivity(c.Request().Context(), resp.Since, resp.Until, iv)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

// liveSeq reads a store sequence given as name (the parameter after, or
// the header Last-Event-ID): ok is false when v is empty.
func liveSeq(name, v string) (seq int64, ok bool, err error) {
	if v == "" {
		return 0, false, nil
	}
	if seq, err = strconv.ParseInt(v, 10, 64); err != nil || seq < 0 {
		return 0, false, badRequest("%s: %q is not a non-negative integer", name, v)
	}
	return seq, true, nil
}

// live serves GET /live: a server-sent event stream of the events as the
// store takes them, each as an "event" message whose id is its store
// sequence and whose data is the event's JSON (as in GET /events, plus
// "seq").
//
// Parameters, all optional: source and type filter; after, a sequence to
// start after (default: the newest event, so only new ones are sent). A
// reconnecting EventSource's Last-Event-ID header takes precedence over
// after, so nothing is missed or repeated across reconnections. The stream
// ends when the client goes or Deps.Shutdown closes.
func (h *handler) live(c echo.Context) error {
	p, err := params(c, "source", "type", "after")
	if err != nil {
		return err
	}
	// The request's context ends at the query timeout: the stream lasts
	// as long as its client, and bounds each query.
	ctx := unbounded(c)
	// Both are checked, and an error names the one at fault: a script
	// that sends a malformed after learns it even when a header it did
	// not mean to send would have overridden it.
	seq, hasSeq, err := liveSeq("after", p["after"])
	if err != nil {
		return err
	}
	if s, ok, err := liveSeq("Last-Event-ID", c.Request().Header.Get("Last-Event-ID")); err != nil {
		return err
	} else if ok {
		seq, hasSeq = s, true
	}
	if !hasSeq {
		if seq, err = h.st.LastSeq(c.Request().Context()); err != nil {
			return err
		}
	}
	c.Response().Header().Set(echo.HeaderContentType, "text/event-stream")
	c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
	c.Response().Header().Set("X-Accel-Buffering", "no")
	w := h.stream(c)
	if _, err := fmt.Fprint(w, "retry: 1000\n: hookd live\n\n"); err != nil || w.Flush() != nil {
		return nil
	}
	poll := time.NewTicker(livePoll)
	defer poll.Stop()
	lastWrite := time.Now()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for {
		qctx, cancel := context.WithTimeout(ctx, h.timeout)
		events, more, err := h.st.EventsAfter(qctx, seq, p["source"], p["type"], store.MaxLimit)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The status is sent: say why in the stream, and end it.
			if _, werr := fmt.Fprintf(w, "event: error\ndata: %q\n\n", "reading events failed"); werr == nil {
				_ = w.Flush()
			}
			return fmt.Errorf("live events: %w", err)
		}
		for _, e := range events {
			buf.Reset()
			if err := enc.Encode(e); err != nil {
				return fmt.Errorf("live events: %w", err)
			}
			// buf ends with the encoder's newline: with the one after
			// it, the blank line that ends the event.
			if _, err := fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n", e.Seq, buf.Bytes()); err != nil {
				return nil
			}
			seq = e.Seq
		}
		if len(events) > 0 {
			if w.Flush() != nil {
				return nil
			}
			lastWrite = time.Now()
		} else if time.Since(lastWrite) > liveHeartbeat {
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || w.Flush() != nil {
				return nil
			}
			lastWrite = time.Now()
		}
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-h.shutdown:
			return nil
		case <-poll.C:
		}
	}
}

// csvHeader is the first line of GET /events?format=csv.
var csvHeader = []string{"id", "source", "provider", "type", "time", "received", "email", "domain", "message_id", "campaign", "category", "bounce_class", "data"}

// exportEvents streams every event q selects, newest first, as NDJSON (one
// event's JSON per line) or CSV (csvHeader, then one row per event, data as
// its JSON text, each cell through csvCell). Once the first byte is sent a
// failure can only cut the stream short, which the client sees as a missing
// final newline.
func (h *handler) exportEvents(c echo.Context, q store.EventQuery, format string) error {
	// The request's context ends at the query timeout: an export takes as
	// long as it takes, and bounds each page's query.
	ctx := unbounded(c)
	// Bad parameters, and a query that runs out of time, are reported
	// before anything is sent: the first page is read before the status
	// is written.
	check := q
	check.Limit = 1
	if _, err := h.st.Events(c.Request().Context(), check); err != nil {
		return err
	}
	if format == "csv" {
		c.Response().Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="events.csv"`)
	} else {
		c.Response().Header().Set(echo.HeaderContentType, "application/x-ndjson")
	}
	w := h.stream(c)
	var (
		write func(event.Event) error
		flush = w.Flush
		n     int
	)
	if format == "csv" {
		cw := csv.NewWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return nil
		}
		write = func(e event.Event) error {
			row := []string{e.ID, e.Source, e.Provider, e.Type, formatTime(e.Time), formatTime(e.Received),
				e.Email, e.Domain, e.MessageID, e.Campaign, string(e.Category), string(e.BounceClass), string(e.Data)}
			for i, v := range row {
				row[i] = csvCell(v)
			}
			return cw.Write(row)
		}
		flush = func() error {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			return w.Flush()
		}
	} else {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		write = func(e event.Event) error { return enc.Encode(e) }
	}
	err := h.st.EachEvent(ctx, q, h.timeout, func(e event.Event) error {
		if err := write(e); err != nil {
			return err
		}
		if n++; n%exportFlush == 0 {
			return flush()
		}
		return nil
	})
	// What was written goes out, even before a failed query's cut; after
	// a failed write, the flush fails at once.
	if ferr := flush(); err == nil {
		err = ferr
	}
	if err != nil && ctx.Err() == nil {
		h.logger.Error("export events cut short", "format", format, "events", n, "err", err)
	}
	return nil
}

// streamWriter writes the body of a stream (GET /live, an export of
// /events), which lasts as long as its client reads it, however longer
// than the admin server's write timeout that bounds ordinary answers.
// Instead, each write and each flush must be taken by the client within
// the handler's stream write timeout: a client that stays connected but
// stops reading is then dropped once the connection's buffers are full,
// rather than holding the handler and its connection for good, while an
// idle client that reads stays connected.
type streamWriter struct {
	w       *echo.Response
	rc      *http.ResponseController
	timeout time.Duration
}

// stream sends c's status, 200 with the headers set so far, and returns
// the writer of its body.
func (h *handler) stream(c echo.Context) *streamWriter {
	w := c.Response()
	w.WriteHeader(http.StatusOK)
	return &streamWriter{w: w, rc: http.NewResponseController(w.Writer), timeout: h.streamWriteTimeout}
}

// deadline gives the next write to the connection until timeout from now.
// A response writer without deadlines (a test's recorder) writes without.
func (s *streamWriter) deadline() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// Write writes p, which reaches the connection when the response's buffer
// fills or at the next Flush, within the timeout.
func (s *streamWriter) Write(p []byte) (int, error) {
	if err := s.deadline(); err != nil {
		return 0, err
	}
	return s.w.Write(p)
}

// Flush sends what was written to the client within the timeout, and
// returns the error of a client that did not take it.
func (s *streamWriter) Flush() error {
	if err := s.deadline(); err != nil {
		return err
	}
	return s.rc.Flush()
}

// csvCell returns v as a CSV cell that a spreadsheet shows as text: a value
// that starts like a formula (=, +, -, @, a tab or a carriage return) gets a
// leading apostrophe. The values come from whoever posted the event, and a
// sender who chose an address such as "=HYPERLINK(...)@x.com" would
// otherwise run it in the spreadsheet of whoever opens the export.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// exportFlush is how many exported events are written between flushes.
const exportFlush = 1000

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
