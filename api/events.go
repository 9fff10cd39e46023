package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

// events serves GET /events: one page of events, newest first by event time.
//
// Parameters, all optional: type, source, campaign (exact); email, domain (any case);
// since (at or after) and until (before), RFC 3339 times with or without
// fractional seconds, compared with the event's time; limit, the page size,
// 100 by default and at most 1000; cursor, the next of the previous page.
//
// The body is {"events": [...], "next": "CURSOR"}: each event in the JSON
// form of event.Event (times in RFC 3339 UTC, data the provider's object),
// and next empty on the last page. A page also ends before the event whose
// data would take the page's total past store.PageBytes (4 MiB), though it
// always holds one event, so that the memory a page takes is bounded
// whatever limit asks and however large events are: a page may hold fewer
// than limit events while more follow, and a client reads every event by
// following next until it is empty, not by counting.
//
// format=ndjson or format=csv streams every selected event instead, newest
// first, one per line (see exportEvents); there limit caps the total and
// has no maximum.
func (h *handler) events(c echo.Context) error {
	p, err := params(c, "type", "email", "domain", "source", "campaign", "category", "bounce_class", "since", "until", "limit", "cursor", "format")
	if err != nil {
		return err
	}
	q := store.EventQuery{Type: p["type"], Email: p["email"], Domain: p["domain"], Source: p["source"],
		Campaign: p["campaign"], Category: p["category"], BounceClass: p["bounce_class"], Cursor: p["cursor"]}
	if q.Since, err = parseTime("since", p["since"]); err != nil {
		return err
	}
	if q.Until, err = parseTime("until", p["until"]); err != nil {
		return err
	}
	switch format := p["format"]; format {
	case "", "json":
	case "ndjson", "csv":
		if v := p["limit"]; v != "" {
			if q.Limit, err = strconv.Atoi(v); err != nil || q.Limit < 1 {
				return badRequest("limit: %q is not a positive integer", v)
			}
		}
		return h.exportEvents(c, q, format)
	default:
		return badRequest("format: %q is not one of json, ndjson, csv", format)
	}
	if q.Limit, err = parseLimit(p["limit"]); err != nil {
		return err
	}
	page, err := h.st.Events(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return writeList(c, h.logger, "events", len(page.Events), func(i int) any { return page.Events[i] }, page.Next)
}

// event serves GET /events/:id: the one event with that id, in the same JSON
// form as in the listing with its explanation added (store.Explanation:
// each rule's result, and for those that did not match the first false
// condition and the values it saw), or 404. An id holding a slash is given escaped
// (%2F).
func (h *handler) event(c echo.Context) error {
	if _, err := params(c); err != nil {
		return err
	}
	id, err := url.PathUnescape(c.Param("id"))
	if err != nil {
		return badRequest("id: %v", err)
	}
	e, err := h.st.Event(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("event %q not found", id))
	}
	if err != nil {
		return err
	}
	x, err := h.st.Explanation(c.Request().Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) { // deleted in between: no explanation
		return err
	}
	return c.JSON(http.StatusOK, eventResponse{Event: e, Explanation: x})
}

// eventResponse is the body of GET /events/:id: the event's fields, and
// what the rules did with it: null when the rules did not evaluate it when
// it arrived (or at the last rebuild), such as when none were running; a
// replay leaves explanations as they are, so an event replayed since may
// have jobs and no explanation.
type eventResponse struct {
	event.Event
	Explanation *store.Explanation `json:"explanation"`
}
