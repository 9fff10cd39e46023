package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd/event"
)

// Limits of the queries.
const (
	// DefaultLimit is the page size when a query gives none.
	DefaultLimit = 100
	// MaxLimit is the largest page size a query may ask for.
	MaxLimit = 1000
	// PageBytes bounds the memory of one page of Events, Quarantine, Jobs
	// or DeadLetters, whose rows are as large as the bodies the hooks
	// listener accepts (a MiB by default): a page ends before the row
	// whose data (for Quarantine, body; for a job, its Event and Params)
	// would take the page's total past PageBytes, so it may hold fewer
	// rows than its limit while more follow, and Next continues with that
	// row. The first row of a page is always taken, however large, so that
	// following Next always progresses: a page holds at most PageBytes of
	// data, or one row's.
	PageBytes = 4 << 20
	// MaxBuckets is the most time buckets one Stats query may span: a day
	// of minutes (with room for a range not aligned to minutes), two months
	// of hours or four years of days.
	MaxBuckets = 1500
)

// EventQuery selects events. Empty fields do not filter.
type EventQuery struct {
	// Type is the exact event type, e.g. "open".
	Type string
	// Email is the recipient, compared case-insensitively.
	Email string
	// Domain is the recipient's domain, compared case-insensitively.
	Domain string
	// Source is the exact configured source name.
	Source string
	// Campaign is the exact campaign.
	Campaign string
	// Category is the shared category, e.g. "bounce" (event.Category).
	Category string
	// BounceClass is "hard" or "soft".
	BounceClass string
	// Since selects events at or after it (event time).
	Since time.Time
	// Until selects events before it (event time).
	Until time.Time
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit. A
	// page of large events holds fewer (see PageBytes).
	Limit int
	// Cursor is the Next of the previous page, or empty for the first.
	Cursor string
}

// EventPage is one page of events.
type EventPage struct {
	// Events are newest first by event time; events of the same time are
	// in reverse order of arrival in the store.
	Events []event.Event
	// Next is the cursor of the following page, empty on the last page.
	Next string
}

// eventColumns are the columns scanEvent reads, in its order.
const eventColumns = `seq, id, source, provider, type, time_ns, received_ns, email, domain, message_id, campaign, data, category, bounce_class`

// fits adds n, the bytes of a row read for a page that holds have rows
// so far, to *size, the page's total, and tells whether the row still
// belongs to the page: while the total is at most PageBytes, and always as
// the page's first row, so that paging progresses.
func fits(size *int, n, have int) bool {
	*size += n
	return *size <= PageBytes || have == 0
}

// Events returns one page of the events that q selects, newest first: at
// most q.Limit events, and fewer when their data would pass PageBytes.
// Following the cursors lists every event that was in the store at the first
// page exactly once, without gaps or repeats; an event stored meanwhile shows
// up only if it sorts after the page being read. Invalid parameters give an
// error wrapping a *QueryError.
func (s *Store) Events(ctx context.Context, q EventQuery) (EventPage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return EventPage{}, fmt.Errorf("list events: %w", err)
	}
	w, times, err := eventFilter(q)
	if err != nil {
		return EventPage{}, fmt.Errorf("list events: %w", err)
	}
	types, err := s.mergeTypes(ctx, q)
	if err != nil {
		return EventPage{}, fmt.Errorf("list events: types: %w", err)
	}
	page := EventPage{Events: make([]event.Event, 0, min(limit, 64))}
	var (
		last position
		size int
		rows int
	)
	// take adds a row to the page, or ends the page at the row past
	// limit or that does not fit, which was read only to learn that more
	// follow.
	take := func(r *sql.Rows) error {
		rows++
		if len(page.Events) == limit {
			page.Next = encodeCursor(cursorEvents, last)
			return errPageEnd
		}
		e, pos, err := scanEvent(r)
		if err != nil {
			return err
		}
		if !fits(&size, len(e.Data), len(page.Events)) {
			page.Next = encodeCursor(cursorEvents, last)
			return errPageEnd
		}
		page.Events = append(page.Events, e)
		last = pos
		return nil
	}
	// read runs the query over the times of sp, for the rows the page
	// still lacks.
	read := func(sp timeSpan) error {
		sp = timeSpan{max(sp.from, times.from), min(sp.to, times.to)}
		if sp.from > sp.to {
			return nil
		}
		query, args := eventSQL(w, sp, limit+1-rows, types)
		return s.eachRow(ctx, query, args, take)
	}
	if prunable(q) {
		err = s.eachSpan(ctx, q, times, read)
	} else {
		err = read(times)
	}
	if err != nil && !errors.Is(err, errPageEnd) {
		return EventPage{}, fmt.Errorf("list events: %w", err)
	}
	return page, nil
}

// eventFilter returns the conditions of the events q selects but their
// times, and the times, both ends included. Invalid parameters give an
// error wrapping a *QueryError.
func eventFilter(q EventQuery) (where, timeSpan, error) {
	var w where
	// An address has few events, so its index (events_email) is the one
	// to read, and the domain and campaign are compared on its rows:
	// SQLite, which keeps no statistics here, would as soon read all of a
	// domain's or a campaign's events through theirs (a third of the store
	// for gmail.com). Written col || '', they match no index, in SQLite and
	// PostgreSQL alike.
	filter := func(col string) string {
		if q.Email != "" {
			return col + " || '' = ?"
		}
		return col + " = ?"
	}
	if q.Type != "" {
		w.add("type = ?", q.Type)
	}
	if q.Email != "" {
		w.add("email = ?", strings.ToLower(strings.TrimSpace(q.Email)))
	}
	if q.Domain != "" {
		w.add(filter("domain"), strings.ToLower(strings.TrimSpace(q.Domain)))
	}
	if q.Source != "" {
		w.add("source = ?", q.Source)
	}
	if q.Campaign != "" {
		w.add(filter("campaign"), q.Campaign)
	}
	// A misspelt category or class would select nothing, silently.
	if !event.Category(q.Category).Valid() {
		return where{}, timeSpan{}, invalid("category", "%q is not one of %v", q.Category, event.Categories)
	}
	if !event.BounceClass(q.BounceClass).Valid() {
		return where{}, timeSpan{}, invalid("bounce_class", "%q is not hard or soft", q.BounceClass)
	}
	if q.Category != "" {
		w.add("category = ?", q.Category)
	}
	if q.BounceClass != "" {
		w.add("bounce_class = ?", q.BounceClass)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Since.After(q.Until) {
		return where{}, timeSpan{}, invalid("since", "%s is after until %s",
			q.Since.Format(time.RFC3339Nano), q.Until.Format(time.RFC3339Nano))
	}
	// The times read, both ends included. Each query gets at most one
	// bound of each side: SQLite seeks an index to one only and filters
	// by the others, which may be the tighter.
	times := allTimes
	if !q.Since.IsZero() {
		times.from = encodeTime(q.Since)
	}
	if !q.Until.IsZero() {
		times.to = encodeTime(q.Until) - 1
	}
	if q.Cursor != "" {
		c, err := decodeCursor(cursorEvents, q.Cursor)
		if err != nil {
			return where{}, timeSpan{}, err
		}
		w.add("(time_ns < ? OR (time_ns = ? AND seq < ?))", c.time, c.time, c.seq)
		times.to = min(times.to, c.time)
	}
	return w, times, nil
}

// eventSQL returns the query of at most limit events that w selects within
// sp, newest first, and its arguments: one query, or with types (see
// mergeTypes), one per type whose events SQLite merges.
func eventSQL(w where, sp timeSpan, limit int, types []string) (string, []any) {
	w.conds, w.args = slices.Clip(w.conds), slices.Clip(w.args)
	// An open end is left out, as SQLite would read the bound as a range
	// worth seeking and prefer events_time to the index of an equality.
	if sp.from != allTimes.from {
		w.add("time_ns >= ?", sp.from)
	}
	if sp.to != allTimes.to {
		w.add("time_ns <= ?", sp.to)
	}
	const order = ` ORDER BY time_ns DESC, seq DESC LIMIT ?`
	if len(types) == 0 {
		return `SELECT ` + eventColumns + ` FROM events` + w.sql() + order, append(w.args, limit)
	}
	arms := make([]string, len(types))
	var args []any
	for i, t := range types {
		tw := w
		tw.conds, tw.args = slices.Clip(w.conds), slices.Clip(w.args)
		tw.add("type = ?", t)
		arms[i] = `SELECT ` + eventColumns + ` FROM events` + tw.sql()
		args = append(args, tw.args...)
	}
	return strings.Join(arms, " UNION ALL ") + order, append(args, limit)
}

// maxMergeTypes is the most event types mergeTypes gives, well below
// SQLite's 500 parts of a compound query.
const maxMergeTypes = 64

// mergeTypes returns the event types in the store when q selects a
// campaign's events of every type by no other field (times and a cursor
// aside): events_campaign orders each type's events of a campaign by
// time, and SQLite, given one query per type, merges them, where a
// single query gives it every event of the campaign to sort before the
// first page (the events of a newsletter to 500,000 recipients, a second
// or more at each page). With another filter it returns nil: an address
// or a domain has an index in time order, and a filter no index holds
// (source, category, bounce class) would have SQLite read through every
// event of the types without a match before it could merge. It also
// returns nil when the store holds more than maxMergeTypes types. The
// types are found a seek each in events_type.
func (s *Store) mergeTypes(ctx context.Context, q EventQuery) ([]string, error) {
	if q.Campaign == "" || q.Type != "" || q.Email != "" || q.Domain != "" ||
		q.Source != "" || q.Category != "" || q.BounceClass != "" {
		return nil, nil
	}
	var types []string
	err := s.eachRow(ctx, `WITH RECURSIVE t(type) AS (
			SELECT MIN(type) FROM events
			UNION ALL
			SELECT (SELECT MIN(type) FROM events WHERE type > t.type) FROM t WHERE t.type IS NOT NULL
		) SELECT type FROM t WHERE type IS NOT NULL LIMIT ?`, []any{maxMergeTypes + 1}, func(rows *sql.Rows) error {
		var t string
		if err := rows.Scan(&t); err != nil {
			return err
		}
		types = append(types, t)
		return nil
	})
	if err != nil || len(types) > maxMergeTypes {
		return nil, err
	}
	return types, nil
}

// errPageEnd ends the reading of a page's rows.
var errPageEnd = errors.New("page ended")

// timeSpan is a range of event times, both ends included.
type timeSpan struct{ from, to int64 }

// prunable reports whether q filters by a field that no index of the
// events orders by time (its source or category) and not by recipient
// (whose index always finds few rows). Such a query reads the events in
// time order and skips those that do not match: all of them, a second or
// more on a million events, when none does. eachSpan leaves out the
// hours in which counts_hour counts none.
func prunable(q EventQuery) bool {
	return (q.Source != "" || q.Category != "") && q.Email == ""
}

// spanHours is how many hours of counts_hour eachSpan reads at a time.
const spanHours = 256

// allTimes is every event time.
var allTimes = timeSpan{math.MinInt64, math.MaxInt64}

// eachSpan calls fn, newest first, with the spans of event time within
// times in which the events of q's type, source and category
// can be: the runs of hours in which counts_hour counts one, and the
// times after countedMax and before countedMin, which it does not count.
// It stops at fn's first error. counts_hour agrees with the events table
// in every transaction (see counts.go), so the events outside the spans
// are none of q's. The hours are read spanHours at a time, so that a page
// whose events are in the newest hours reads few of them.
func (s *Store) eachSpan(ctx context.Context, q EventQuery, times timeSpan, fn func(timeSpan) error) error {
	if err := fn(timeSpan{countedMax + 1, math.MaxInt64}); err != nil {
		return err
	}
	for lo, hi := floorDiv(max(times.from, countedMin), hourNs), min(times.to, countedMax); lo <= hi; {
		var w where
		w.add("hour_ns >= ? AND hour_ns <= ?", lo, hi)
		if q.Type != "" {
			w.add("type = ?", q.Type)
		}
		if q.Source != "" {
			w.add("source = ?", q.Source)
		}
		if q.Category != "" {
			w.add("category = ?", q.Category)
		}
		var spans []timeSpan
		hours := 0
		err := s.eachRow(ctx, `SELECT hour_ns FROM counts_hour`+w.sql()+
			` GROUP BY hour_ns HAVING SUM(n) > 0 ORDER BY hour_ns DESC LIMIT ?`, append(w.args, spanHours),
			func(rows *sql.Rows) error {
				var h int64
				if err := rows.Scan(&h); err != nil {
					return err
				}
				hours++
				// Hours in a row make one span.
				if n := len(spans); n > 0 && spans[n-1].from == h+hourNs {
					spans[n-1].from = h
				} else {
					spans = append(spans, timeSpan{h, h + hourNs - 1})
				}
				return nil
			})
		if err != nil {
			return fmt.Errorf("hours of the events: %w", err)
		}
		for _, sp := range spans {
			if err := fn(sp); err != nil {
				return err
			}
		}
		if hours < spanHours {
			break
		}
		hi = spans[len(spans)-1].from - 1
	}
	return fn(timeSpan{math.MinInt64, countedMin - 1})
}

// Event returns the event with the given id, or an error wrapping ErrNotFound.
func (s *Store) Event(ctx context.Context, id string) (event.Event, error) {
	e, _, err := scanEvent(s.db.read.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return event.Event{}, fmt.Errorf("get event %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return event.Event{}, fmt.Errorf("get event %q: %w", id, err)
	}
	return e, nil
}

// StatsQuery asks for event counts per time bucket and key.
type StatsQuery struct {
	// By is the key counted: "type", "category", "domain" or "source".
	By string
	// Interval is the bucket width: time.Minute, time.Hour or 24*time.Hour.
	Interval time.Duration
	// Since and Until bound the event times counted: at or after Since,
	// before Until. Both are required.
	Since, Until time.Time
}

// Bucket holds the counts of one time bucket.
type Bucket struct {
	// Time is the start of the bucket, a multiple of the interval since the
	// Unix epoch, in UTC; so hours start on the hour and days at midnight
	// UTC.
	Time time.Time `json:"time"`
	// Counts maps each key to the number of events that have it; keys with
	// no events are absent, and events without a domain or a category
	// count under "".
	Counts map[string]int64 `json:"counts"`
}

// intervalNames are the bucket widths Stats accepts, named as in the API.
var intervalNames = map[time.Duration]string{time.Minute: "1m", time.Hour: "1h", 24 * time.Hour: "1d"}

// statsKey is what Stats counts by in the events table and in counts_hour
// ("" when counts_hour does not count it).
type statsKey struct{ events, counts string }

// statsKeys maps StatsQuery.By to the SQL of its key. Only these are ever
// written into the SQL text.
var statsKeys = map[string]statsKey{
	"type":     {"type", "type"},
	"category": {"category", "category"},
	"domain":   {"domain", ""},
	"source":   {"source", "source"},
}

// Stats counts the events that q selects per bucket and key. It returns
// every bucket from the one holding Since to the one holding the last
// instant before Until, oldest first, including empty ones, so a chart needs
// no gap filling. The first and last buckets count only events inside
// [Since, Until). Invalid parameters give an error wrapping a *QueryError.
//
// By type, category or source in buckets of an hour or a day, the whole hours of the
// range are read from counts_hour and only the partial ones at its ends
// from the events.
func (s *Store) Stats(ctx context.Context, q StatsQuery) ([]Bucket, error) {
	key, ok := statsKeys[q.By]
	if !ok {
		return nil, fmt.Errorf("stats: %w", invalid("by", "%q is not one of type, category, domain, source", q.By))
	}
	ivName, ok := intervalNames[q.Interval]
	if !ok {
		return nil, fmt.Errorf("stats: %w", invalid("interval", "%s is not one of 1m, 1h, 1d", q.Interval))
	}
	if err := checkRange(q.Since, q.Until); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	iv := int64(q.Interval)
	since, until := q.Since.UnixNano(), q.Until.UnixNano()
	first, last := floorDiv(since, iv), floorDiv(until-1, iv)
	n := (last-first)/iv + 1
	if n > MaxBuckets {
		return nil, fmt.Errorf("stats: %w", invalid("since", "%d buckets of %s up to until, more than %d allowed",
			n, ivName, MaxBuckets))
	}
	buckets := make([]Bucket, n)
	for i := range buckets {
		buckets[i] = Bucket{Time: decodeTime(first + int64(i)*iv), Counts: map[string]int64{}}
	}
	ranges := []span{{since, until}}
	if key.counts != "" && iv >= hourNs {
		// Whole hours from counts_hour, the partial ones at the ends
		// from the events.
		var mid span
		mid, ranges = split(since, until, hourNs)
		if mid.to > mid.from {
			if err := s.addBuckets(ctx, buckets, first, iv, `SELECT hour_ns - ((hour_ns % ?) + ?) % ? AS bucket, `+key.counts+` AS k, SUM(n)
				FROM counts_hour WHERE hour_ns >= ? AND hour_ns < ?
				GROUP BY bucket, k`, mid); err != nil {
				return nil, fmt.Errorf("stats: %w", err)
			}
		}
	}
	for _, r := range ranges {
		// The modulo is written so that it floors for times before 1970 too.
		if err := s.addBuckets(ctx, buckets, first, iv, `SELECT time_ns - ((time_ns % ?) + ?) % ? AS bucket, `+key.events+` AS k, COUNT(*)
			FROM events WHERE time_ns >= ? AND time_ns < ?
			GROUP BY bucket, k`, r); err != nil {
			return nil, fmt.Errorf("stats: %w", err)
		}
	}
	return buckets, nil
}

// addBuckets runs query, whose arguments are the interval three times and
// the range, and adds the counts of each (bucket, key) row it returns to
// buckets, which start at first.
func (s *Store) addBuckets(ctx context.Context, buckets []Bucket, first, iv int64, query string, r span) error {
	rows, err := s.db.read.QueryContext(ctx, query, iv, iv, iv, r.from, r.to)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			b   int64
			key string
			c   int64
		)
		if err := rows.Scan(&b, &key, &c); err != nil {
			return err
		}
		buckets[(b-first)/iv].Counts[key] += c
	}
	return rows.Err()
}

// checkRange validates a required time range [since, until).
func checkRange(since, until time.Time) error {
	switch {
	case since.IsZero():
		return invalid("since", "required")
	case until.IsZero():
		return invalid("until", "required")
	case !since.Before(until):
		return invalid("since", "%s is not before until %s", since.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano))
	case since.Before(minTime.Add(48*time.Hour)) || until.After(maxTime.Add(-48*time.Hour)):
		return invalid("since", "since and until must be between the years %d and %d", minTime.Year()+1, maxTime.Year()-1)
	}
	return nil
}

// floorDiv rounds t down to a multiple of iv.
func floorDiv(t, iv int64) int64 {
	r := t % iv
	if r < 0 {
		r += iv
	}
	return t - r
}

// QuarantinePage is one page of quarantined bodies.
type QuarantinePage struct {
	// Items are newest first by the time hookd received them.
	Items []event.Quarantined
	// Next is the cursor of the following page, empty on the last page.
	Next string
}

// QuarantineQuery selects quarantined bodies; zero fields do not filter.
type QuarantineQuery struct {
	// Source is the exact configured source name.
	Source string
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit. A
	// page of large bodies holds fewer (see PageBytes).
	Limit int
	// Cursor is the Next of the previous page, or empty for the first.
	Cursor string
}

// Quarantine returns one page of the quarantined bodies q selects, newest
// first: at most q.Limit bodies, and fewer when they would pass PageBytes.
// Following the cursors lists every body once. Invalid parameters give an error wrapping a *QueryError.
func (s *Store) Quarantine(ctx context.Context, q QuarantineQuery) (QuarantinePage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return QuarantinePage{}, fmt.Errorf("list quarantine: %w", err)
	}
	var w where
	if q.Source != "" {
		w.add("source = ?", q.Source)
	}
	if q.Cursor != "" {
		c, err := decodeCursor(cursorQuarantine, q.Cursor)
		if err != nil {
			return QuarantinePage{}, fmt.Errorf("list quarantine: %w", err)
		}
		w.add("(received_ns < ? OR (received_ns = ? AND seq < ?))", c.time, c.time, c.seq)
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT seq, id, source, received_ns, error, content_type, body
		FROM quarantine`+w.sql()+` ORDER BY received_ns DESC, seq DESC LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return QuarantinePage{}, fmt.Errorf("list quarantine: %w", err)
	}
	defer rows.Close()
	page := QuarantinePage{Items: make([]event.Quarantined, 0, min(limit, 64))}
	var (
		last position
		size int
	)
	for rows.Next() {
		if len(page.Items) == limit {
			page.Next = encodeCursor(cursorQuarantine, last)
			break
		}
		var (
			q   event.Quarantined
			pos position
		)
		if err := rows.Scan(&pos.seq, &q.ID, &q.Source, &pos.time, &q.Error, &q.ContentType, &q.Body); err != nil {
			return QuarantinePage{}, fmt.Errorf("list quarantine: %w", err)
		}
		if !fits(&size, len(q.Body), len(page.Items)) {
			page.Next = encodeCursor(cursorQuarantine, last)
			break
		}
		q.Received = decodeTime(pos.time)
		page.Items = append(page.Items, q)
		last = pos
	}
	if err := rows.Err(); err != nil {
		return QuarantinePage{}, fmt.Errorf("list quarantine: %w", err)
	}
	return page, nil
}

func pageLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultLimit, nil
	case limit < 0 || limit > MaxLimit:
		return 0, invalid("limit", "%d is not between 1 and %d", limit, MaxLimit)
	}
	return limit, nil
}

// where collects the conditions of a query.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanEvent(r scanner) (event.Event, position, error) {
	var (
		e         event.Event
		pos       position
		data      string
		recvNanos int64
	)
	if err := r.Scan(&pos.seq, &e.ID, &e.Source, &e.Provider, &e.Type, &pos.time, &recvNanos,
		&e.Email, &e.Domain, &e.MessageID, &e.Campaign, &data, &e.Category, &e.BounceClass); err != nil {
		return event.Event{}, position{}, err
	}
	e.Time = decodeTime(pos.time)
	e.Received = decodeTime(recvNanos)
	e.Data = json.RawMessage(data)
	return e, pos, nil
}

// position is a row's place in a newest-first listing.
type position struct {
	time, seq int64
}

// Cursor kinds, so that a cursor of one listing is refused by another.
const (
	cursorEvents     byte = 'e'
	cursorQuarantine byte = 'q'
)

// encodeCursor makes the opaque cursor that resumes a listing after pos.
func encodeCursor(kind byte, pos position) string {
	b := make([]byte, 17)
	b[0] = kind
	binary.BigEndian.PutUint64(b[1:], uint64(pos.time))
	binary.BigEndian.PutUint64(b[9:], uint64(pos.seq))
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(kind byte, s string) (position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 17 || b[0] != kind {
		return position{}, invalid("cursor", "%q is not a cursor this listing returned", s)
	}
	return position{time: int64(binary.BigEndian.Uint64(b[1:])), seq: int64(binary.BigEndian.Uint64(b[9:]))}, nil
}

// Types returns the event types the store holds events of, sorted, for a
// listing that found nothing to say which types there are. It reads one
// index entry a type (a loose scan of events_type), not every event.
func (s *Store) Types(ctx context.Context) ([]string, error) {
	types, err := s.strings(ctx, `WITH RECURSIVE t(v) AS (
		SELECT MIN(type) FROM events
		UNION ALL
		SELECT (SELECT MIN(type) FROM events WHERE type > t.v) FROM t WHERE t.v IS NOT NULL
	) SELECT v FROM t WHERE v IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", err)
	}
	return types, nil
}

// Sources returns the sources the store holds events from, sorted, read
// from the hourly counts (a row per hour, type and source), which events
// has no index to list them from.
func (s *Store) Sources(ctx context.Context) ([]string, error) {
	sources, err := s.strings(ctx, `SELECT DISTINCT source FROM counts_hour ORDER BY source`)
	if err != nil {
		return nil, fmt.Errorf("list event sources: %w", err)
	}
	return sources, nil
}

// strings returns the one text column that query selects, row by row.
func (s *Store) strings(ctx context.Context, query string) ([]string, error) {
	rows, err := s.db.read.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
