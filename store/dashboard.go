package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/hookd/hookd/event"
)

// The queries of this file serve the dashboard. Long windows read the
// count tables of counts.go for their whole hours and days and the events
// only for the partial ones at their ends; the listings use the indexes the
// API and the rule state already have.

// DomainRates are one recipient domain's deliverability counts in a window,
// by category (see event.Category), whichever provider reported them. The
// JSON names are those of Mailjet's types, which these counts were
// before they counted every provider: sent for delivered, spam for
// complaint.
type DomainRates struct {
	Domain string `json:"domain"`
	// Delivered counts the delivered events: Mailjet's sent, Postmark's
	// Delivery, Mailgun's delivered, ...
	Delivered int64 `json:"sent"`
	Bounce    int64 `json:"bounce"`
	Blocked   int64 `json:"blocked"`
	// Complaint counts the spam complaints.
	Complaint int64 `json:"spam"`
	// Rate is the share of the domain's mail that went wrong:
	// (Bounce+Blocked+Complaint)/(Delivered+Bounce+Blocked), at most 1.
	// A bounced or blocked message is reported instead of a delivered
	// one, and a complaint after one, so the divisor counts each message
	// once. A complaint about a message delivered before the window can
	// make the quotient larger than 1, hence the cap; a window with
	// nothing but complaints for the domain is 1.
	Rate float64 `json:"rate"`
}

// ErrorCount is how often one error text was reported.
type ErrorCount struct {
	// Category is bounce or blocked.
	Category string `json:"type"`
	// Error is the provider's error text, its first 120 characters (see
	// errorOf); never empty.
	Error string `json:"error"`
	Count int64  `json:"count"`
}

// Deliverability is the deliverability of a window.
type Deliverability struct {
	// Domains are the domains with a bounce, block or complaint in the
	// window, worst Rate first, then by name.
	Domains []DomainRates `json:"domains"`
	// HardBounces and SoftBounces split the window's bounces by their
	// bounce class; a bounce whose provider did not tell its class is in
	// neither.
	HardBounces int64 `json:"hard_bounces"`
	SoftBounces int64 `json:"soft_bounces"`
	// Errors are the most frequent error texts of bounces and blocks,
	// most frequent first. Bounces and blocks without one are left out.
	Errors []ErrorCount `json:"errors"`
}

// Deliverability counts delivered, bounce, blocked and complaint events
// per recipient domain among the events of [since, until), and the most
// frequent limit error texts (DefaultLimit when 0, at most MaxLimit); only
// the limit worst domains are returned. Events are counted by category.
// Invalid parameters give an error wrapping a *QueryError.
//
// Whole UTC days of the window are read from counts_domain_day, whole
// hours from counts_domain_hour and counts_error_hour, and only the
// partial hours at its ends from the events, through events_time.
func (s *Store) Deliverability(ctx context.Context, since, until time.Time, limit int) (Deliverability, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return Deliverability{}, fmt.Errorf("deliverability: %w", err)
	}
	if err := checkRange(since, until); err != nil {
		return Deliverability{}, fmt.Errorf("deliverability: %w", err)
	}
	domains := map[string]*DomainRates{}
	add := func(domain string, c domainCounts) {
		d := domains[domain]
		if d == nil {
			d = &DomainRates{Domain: domain}
			domains[domain] = d
		}
		d.Delivered += c[0]
		d.Bounce += c[1]
		d.Blocked += c[2]
		d.Complaint += c[3]
	}
	type errKey struct{ cat, text string }
	errs := map[errKey]int64{}
	var out Deliverability
	addError := func(cat, text, class string, n int64) {
		if cat == string(event.Bounce) {
			switch event.BounceClass(class) {
			case event.Hard:
				out.HardBounces += n
			case event.Soft:
				out.SoftBounces += n
			}
		}
		if text != "" {
			errs[errKey{cat, text}] += n
		}
	}
	from, to := since.UnixNano(), until.UnixNano()
	scanDomains := func(r *sql.Rows) error {
		var (
			domain string
			c      domainCounts
		)
		if err := r.Scan(&domain, &c[0], &c[1], &c[2], &c[3]); err != nil {
			return err
		}
		add(domain, c)
		return nil
	}
	scanError := func(r *sql.Rows) error {
		var (
			cat, text, class string
			n                int64
		)
		if err := r.Scan(&cat, &text, &class, &n); err != nil {
			return err
		}
		addError(cat, text, class, n)
		return nil
	}
	// Domains: whole days, then whole hours, then the rest from the events.
	days, dayEdges := split(from, to, dayNs)
	var hours, raw []span
	for _, e := range dayEdges {
		h, r := split(e.from, e.to, hourNs)
		if h.to > h.from {
			hours = append(hours, h)
		}
		raw = append(raw, r...)
	}
	type query struct {
		sql  string
		args []any
		scan func(*sql.Rows) error
	}
	var queries []query
	if days.to > days.from {
		queries = append(queries, query{`SELECT domain, SUM(delivered), SUM(bounce), SUM(blocked), SUM(complaint)
			FROM counts_domain_day WHERE day_ns >= ? AND day_ns < ? GROUP BY domain`, []any{days.from, days.to}, scanDomains})
	}
	for _, h := range hours {
		queries = append(queries, query{`SELECT domain, SUM(delivered), SUM(bounce), SUM(blocked), SUM(complaint)
			FROM counts_domain_hour WHERE hour_ns >= ? AND hour_ns < ? GROUP BY domain`, []any{h.from, h.to}, scanDomains})
	}
	for _, r := range raw {
		queries = append(queries, query{`SELECT domain,
				SUM(CASE WHEN category = 'delivered' THEN 1 ELSE 0 END), SUM(CASE WHEN category = 'bounce' THEN 1 ELSE 0 END),
				SUM(CASE WHEN category = 'blocked' THEN 1 ELSE 0 END), SUM(CASE WHEN category = 'complaint' THEN 1 ELSE 0 END)
			FROM events WHERE time_ns >= ? AND time_ns < ? AND category IN ('delivered', 'bounce', 'blocked', 'complaint')
			GROUP BY domain`, []any{r.from, r.to}, scanDomains})
	}
	// Errors: whole hours, then the rest from the events, whose error
	// texts errorOf reads as the projector did.
	errHours, errRaw := split(from, to, hourNs)
	if errHours.to > errHours.from {
		queries = append(queries, query{`SELECT category, error, class, SUM(n) FROM counts_error_hour
			WHERE hour_ns >= ? AND hour_ns < ? GROUP BY category, error, class`, []any{errHours.from, errHours.to}, scanError})
	}
	for _, q := range queries {
		if err := s.eachRow(ctx, q.sql, q.args, q.scan); err != nil {
			return Deliverability{}, fmt.Errorf("deliverability: %w", err)
		}
	}
	for _, r := range errRaw {
		c := newTally()
		err := s.eachRow(ctx, `SELECT `+countedColumns+` FROM events
			WHERE time_ns >= ? AND time_ns < ? AND category IN ('bounce', 'blocked')`, []any{r.from, r.to},
			func(rows *sql.Rows) error {
				e, err := scanCounted(rows)
				if err == nil {
					c.add(&e)
				}
				return err
			})
		if err != nil {
			return Deliverability{}, fmt.Errorf("deliverability: %w", err)
		}
		for k, n := range c.errs {
			addError(string(k.cat), k.text, string(k.class), n)
		}
	}

	for _, d := range domains {
		bad := d.Bounce + d.Blocked + d.Complaint
		if bad == 0 {
			continue
		}
		d.Rate = 1
		if n := d.Delivered + d.Bounce + d.Blocked; n > 0 {
			d.Rate = min(1, float64(bad)/float64(n))
		}
		out.Domains = append(out.Domains, *d)
	}
	sort.Slice(out.Domains, func(i, j int) bool {
		a, b := out.Domains[i], out.Domains[j]
		if a.Rate != b.Rate {
			return a.Rate > b.Rate
		}
		return a.Domain < b.Domain
	})
	if len(out.Domains) > limit {
		out.Domains = out.Domains[:limit]
	}
	if out.Domains == nil {
		out.Domains = []DomainRates{}
	}
	out.Errors = make([]ErrorCount, 0, len(errs))
	for k, n := range errs {
		out.Errors = append(out.Errors, ErrorCount{Category: k.cat, Error: k.text, Count: n})
	}
	sort.Slice(out.Errors, func(i, j int) bool {
		a, b := out.Errors[i], out.Errors[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Category != b.Category {
			return a.Category < b.Category
		}
		return a.Error < b.Error
	})
	if len(out.Errors) > limit {
		out.Errors = out.Errors[:limit]
	}
	return out, nil
}

// eachRow runs query with args on the readers and calls fn for each row.
func (s *Store) eachRow(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// RuleBucket holds one rule's activity in one time bucket.
type RuleBucket struct {
	// Time is the start of the bucket, as in Bucket.
	Time time.Time `json:"time"`
	// Matches is the number of events on which the rule made jobs (its
	// first action's jobs); matches held back by once or cooldown make
	// none and are counted only in the metrics.
	Matches int64 `json:"matches"`
	// Jobs counts the jobs made in the bucket by their status now:
	// pending, running, done or dead.
	Jobs map[string]int64 `json:"jobs"`
}

// RuleActivity is one rule's activity over a window.
type RuleActivity struct {
	Rule    string       `json:"rule"`
	Buckets []RuleBucket `json:"buckets"`
}

// RuleActivity returns, for every rule that made jobs in [since, until),
// its matches and its jobs' outcomes per bucket of interval (time.Minute,
// time.Hour or 24*time.Hour), by job creation time, every bucket present,
// rules by name. Invalid parameters give an error wrapping a *QueryError.
//
// The jobs of the window are found through jobs_created, an index written
// once per job; their status is read from the rows.
func (s *Store) RuleActivity(ctx context.Context, since, until time.Time, interval time.Duration) ([]RuleActivity, error) {
	ivName, ok := intervalNames[interval]
	if !ok {
		return nil, fmt.Errorf("rule activity: %w", invalid("interval", "%s is not one of 1m, 1h, 1d", interval))
	}
	if err := checkRange(since, until); err != nil {
		return nil, fmt.Errorf("rule activity: %w", err)
	}
	iv := int64(interval)
	from, to := since.UnixNano(), until.UnixNano()
	first, last := floorDiv(from, iv), floorDiv(to-1, iv)
	n := (last-first)/iv + 1
	if n > MaxBuckets {
		return nil, fmt.Errorf("rule activity: %w", invalid("since", "%d buckets of %s up to until, more than %d allowed",
			n, ivName, MaxBuckets))
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT rule, created_ns - ((created_ns % ?) + ?) % ? AS bucket, status,
			COUNT(*), SUM(CASE WHEN idx = 0 THEN 1 ELSE 0 END)
		FROM jobs WHERE created_ns >= ? AND created_ns < ?
		GROUP BY rule, bucket, status`, iv, iv, iv, from, to)
	if err != nil {
		return nil, fmt.Errorf("rule activity: %w", err)
	}
	defer rows.Close()
	byRule := map[string][]RuleBucket{}
	for rows.Next() {
		var (
			rule, status    string
			b, jobs, firsts int64
		)
		if err := rows.Scan(&rule, &b, &status, &jobs, &firsts); err != nil {
			return nil, fmt.Errorf("rule activity: %w", err)
		}
		buckets := byRule[rule]
		if buckets == nil {
			buckets = make([]RuleBucket, n)
			for i := range buckets {
				buckets[i] = RuleBucket{Time: decodeTime(first + int64(i)*iv), Jobs: map[string]int64{}}
			}
			byRule[rule] = buckets
		}
		bk := &buckets[(b-first)/iv]
		bk.Jobs[status] += jobs
		bk.Matches += firsts
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rule activity: %w", err)
	}
	out := make([]RuleActivity, 0, len(byRule))
	for rule, buckets := range byRule {
		out = append(out, RuleActivity{Rule: rule, Buckets: buckets})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rule < out[j].Rule })
	return out, nil
}

// StoredEvent is an event with its position in the store, for following
// the store as it grows.
type StoredEvent struct {
	// Seq increases with every event stored.
	Seq int64 `json:"seq"`
	event.Event
}

// LastSeq returns the Seq of the newest event stored, 0 when there is none.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := s.db.read.QueryRowContext(ctx, `SELECT MAX(seq) FROM events`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("last seq: %w", err)
	}
	return seq.Int64, nil
}

// EventsAfter returns up to limit events (DefaultLimit when 0, at most
// MaxLimit) stored after the one with Seq after, in the order they were
// stored, those of source and typ only when not empty, and whether more
// follow. Like a page of Events, it ends before the event whose data would
// take it past PageBytes, though it always holds one. Following it with
// the Seq of the last event returned sees every event stored once.
func (s *Store) EventsAfter(ctx context.Context, after int64, source, typ string, limit int) (events []StoredEvent, more bool, err error) {
	limit, err = pageLimit(limit)
	if err != nil {
		return nil, false, fmt.Errorf("events after: %w", err)
	}
	var w where
	w.add("seq > ?", after)
	if source != "" {
		w.add("source = ?", source)
	}
	if typ != "" {
		w.add("type = ?", typ)
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events`+w.sql()+
		` ORDER BY seq LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("events after: %w", err)
	}
	defer rows.Close()
	size := 0
	for rows.Next() {
		if len(events) == limit {
			more = true
			break
		}
		e, pos, err := scanEvent(rows)
		if err != nil {
			return nil, false, fmt.Errorf("events after: %w", err)
		}
		if !fits(&size, len(e.Data), len(events)) {
			more = true
			break
		}
		events = append(events, StoredEvent{Seq: pos.seq, Event: e})
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("events after: %w", err)
	}
	return events, more, nil
}

// EachEvent calls fn with every event q selects, newest first as Events
// lists them, starting after q.Cursor, until fn returns an error, which
// EachEvent returns. q.Limit caps how many events fn sees (no cap when 0).
// It reads one page per query (MaxLimit events, fewer of large ones: see
// PageBytes), so no read transaction stays open while fn writes them to a
// slow client, and a large selection is never held whole. Each page's
// query is cancelled once pageTimeout passed (no bound when 0), which ends
// EachEvent with its error: a long export is bounded by page, not whole.
func (s *Store) EachEvent(ctx context.Context, q EventQuery, pageTimeout time.Duration, fn func(event.Event) error) error {
	left := q.Limit
	for {
		q.Limit = MaxLimit
		if left > 0 && left < MaxLimit {
			q.Limit = left
		}
		page, err := s.eventPage(ctx, q, pageTimeout)
		if err != nil {
			return err
		}
		for _, e := range page.Events {
			if err := fn(e); err != nil {
				return err
			}
		}
		if left > 0 {
			if left -= len(page.Events); left <= 0 {
				return nil
			}
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
	}
}

// eventPage is Events with ctx bounded by timeout when it is positive.
func (s *Store) eventPage(ctx context.Context, q EventQuery, timeout time.Duration) (EventPage, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return s.Events(ctx, q)
}
