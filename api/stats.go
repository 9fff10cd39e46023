package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/store"
)

// intervals are the bucket widths GET /stats accepts.
var intervals = map[string]time.Duration{"1m": time.Minute, "1h": time.Hour, "1d": 24 * time.Hour}

// defaultSpan is how far back GET /stats looks when since is not given.
const defaultSpan = 24 * time.Hour

// statsResponse is the body of GET /stats.
type statsResponse struct {
	By       string         `json:"by"`
	Interval string         `json:"interval"`
	Since    time.Time      `json:"since"`
	Until    time.Time      `json:"until"`
	Buckets  []store.Bucket `json:"buckets"`
}

// stats serves GET /stats: how many events there were per time bucket and
// per type, category, domain or source, for charts.
//
// Parameters, all optional: by, the key counted: type (default), category
// (event.Category, shared by every provider), domain or source; interval, the bucket width: 1m, 1h (default) or 1d; until, the end
// of the range (exclusive), by default the end of the bucket holding now;
// since, its start, by default 24 hours before until. Times are RFC 3339 and
// compared with the events' times. A range may span at most store.MaxBuckets
// buckets; more is a 400.
//
// The body echoes the resolved parameters and lists every bucket of the
// range, oldest first, empty ones included:
//
//	{"by": "type", "interval": "1h",
//	 "since": "2025-03-01T00:00:00Z", "until": "2025-03-02T00:00:00Z",
//	 "buckets": [{"time": "2025-03-01T00:00:00Z", "counts": {"open": 3, "click": 1}}, ...]}
//
// A bucket's time is its start, aligned to UTC (minutes, hours, midnights);
// its counts leave out keys without events, and events with no domain or
// no category count under "". The first and last buckets count only events inside the range.
func (h *handler) stats(c echo.Context) error {
	p, err := params(c, "by", "interval", "since", "until")
	if err != nil {
		return err
	}
	resp := statsResponse{By: p["by"], Interval: p["interval"]}
	if resp.By == "" {
		resp.By = "type"
	}
	switch resp.By {
	case "type", "category", "domain", "source":
	default:
		return badRequest("by: %q is not one of type, category, domain, source", resp.By)
	}
	if resp.Interval == "" {
		resp.Interval = "1h"
	}
	iv, ok := intervals[resp.Interval]
	if !ok {
		return badRequest("interval: %q is not one of 1m, 1h, 1d", resp.Interval)
	}
	if resp.Since, err = parseTime("since", p["since"]); err != nil {
		return err
	}
	if resp.Until, err = parseTime("until", p["until"]); err != nil {
		return err
	}
	if resp.Until.IsZero() {
		resp.Until = time.Now().UTC().Truncate(iv).Add(iv)
	}
	if resp.Since.IsZero() {
		resp.Since = resp.Until.Add(-defaultSpan)
	}
	resp.Buckets, err = h.st.Stats(c.Request().Context(), store.StatsQuery{
		By: resp.By, Interval: iv, Since: resp.Since, Until: resp.Until,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}
