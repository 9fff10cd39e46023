package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookd/hookd/event"
)

// The count tables (counts_hour, counts_domain_day, counts_domain_hour,
// counts_error_hour) hold
// event counts per UTC hour or day, written in the transaction that
// inserts the events (addCounts) and in the one that deletes them
// (DeleteBefore, through subtractCounts), so they always agree with the
// events table. Queries over a long window read whole buckets from them
// and only the partial buckets at its ends from the events. Both ways
// count with the same tally, and a deletion removes the rows it leaves at
// zero, so the tables hold what they would had the deleted events never
// been stored.
//
// A batch adds one row update per distinct bucket and key among its new
// events, not one per event: a few per batch for counts_hour; for
// counts_domain_day and counts_domain_hour, one each per recipient domain
// among its sent, bounce, blocked and spam events.
//
// The tables are SQLite WITHOUT ROWID tables (see the schema); the
// upserts are plain ON CONFLICT ... DO UPDATE, as in PostgreSQL.

const (
	hourNs = int64(time.Hour)
	dayNs  = 24 * hourNs
	// countedMin and countedMax bound the event times counted: far
	// enough inside the int64 range that a day bucket cannot overflow,
	// and outside every range checkRange accepts. The schema's backfill
	// writes the same numbers.
	countedMin = minTimeNanos + 2*dayNs
	countedMax = maxTimeNanos - 2*dayNs
	// errorKeyLen is how many characters of data.error are counted.
	errorKeyLen = 120
)

// isDeliverability tells whether the domain counts count typ.
func isDeliverability(typ string) bool { return slices.Contains(deliverabilityTypes, typ) }

type (
	hourKey struct {
		hour        int64
		typ, source string
	}
	domainKey struct {
		bucket int64
		domain string
	}
	// domainCounts are sent, bounce, blocked and spam.
	domainCounts [4]int64
	errorKey     struct {
		hour      int64
		typ, text string
		hard      bool
	}
)

// bounceData is what counts_error_hour reads from a bounce or blocked
// event's provider object.
type bounceData struct {
	Error      any  `json:"error"`
	HardBounce bool `json:"hard_bounce"`
}

// errorOf returns the error key and hard flag of a bounce or blocked
// event, as the schema's backfill computes them.
func errorOf(e event.Event) (string, bool) {
	var d bounceData
	if json.Unmarshal(e.Data, &d) != nil {
		// A hard_bounce that is not a boolean: read error alone.
		var only struct {
			Error any `json:"error"`
		}
		_ = json.Unmarshal(e.Data, &only)
		d = bounceData{Error: only.Error}
	}
	text := ""
	switch v := d.Error.(type) {
	case string:
		text = v
	case nil:
	default:
		b, _ := json.Marshal(v)
		text = string(b)
	}
	if utf8.RuneCountInString(text) > errorKeyLen {
		text = string([]rune(text)[:errorKeyLen])
	}
	return text, e.Type == "bounce" && d.HardBounce
}

// tally is what a set of events adds to each count table, per key.
type tally struct {
	hours       map[hourKey]int64
	days        map[domainKey]*domainCounts
	domainHours map[domainKey]*domainCounts
	errs        map[errorKey]int64
}

func newTally() *tally {
	return &tally{
		hours:       map[hourKey]int64{},
		days:        map[domainKey]*domainCounts{},
		domainHours: map[domainKey]*domainCounts{},
		errs:        map[errorKey]int64{},
	}
}

// add counts e in c, unless its time is outside the counted range.
func (c *tally) add(e event.Event) {
	t := encodeTime(e.Time)
	if t < countedMin || t > countedMax {
		return
	}
	hour := floorDiv(t, hourNs)
	c.hours[hourKey{hour, e.Type, e.Source}]++
	if !isDeliverability(e.Type) {
		return
	}
	domain := strings.ToLower(e.Domain)
	col := slices.Index(deliverabilityTypes, e.Type)
	for _, b := range []struct {
		m map[domainKey]*domainCounts
		k domainKey
	}{{c.days, domainKey{floorDiv(t, dayNs), domain}}, {c.domainHours, domainKey{hour, domain}}} {
		dc := b.m[b.k]
		if dc == nil {
			dc = new(domainCounts)
			b.m[b.k] = dc
		}
		dc[col]++
	}
	if e.Type == "bounce" || e.Type == "blocked" {
		text, hard := errorOf(e)
		c.errs[errorKey{hour, e.Type, text, hard}]++
	}
}

// addCounts adds the events inserted in tx (those with a non-zero seq) to
// the count tables.
func (s *Store) addCounts(ctx context.Context, tx *sql.Tx, events []event.Event, seqs []int64) error {
	c := newTally()
	for i, e := range events {
		if seqs[i] != 0 {
			c.add(e)
		}
	}
	if err := s.writeCounts(ctx, tx, c, 1); err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	return nil
}

// subtractCounts takes events, which tx deletes, off the count tables, and
// deletes the rows left at zero, so that a bucket whose events are all
// gone has no row, as if it had never had any.
func (s *Store) subtractCounts(ctx context.Context, tx *sql.Tx, events []event.Event) error {
	c := newTally()
	for _, e := range events {
		c.add(e)
	}
	if err := s.writeCounts(ctx, tx, c, -1); err != nil {
		return fmt.Errorf("uncount events: %w", err)
	}
	return nil
}

// writeCounts adds sign times c to the count tables in tx. A negative sign
// also deletes the rows it leaves at zero.
func (s *Store) writeCounts(ctx context.Context, tx *sql.Tx, c *tally, sign int64) error {
	// Each statement is taken from tx once: a batch updates many rows of
	// each table.
	stmts := map[string]*sql.Stmt{}
	exec := func(query string, args ...any) error {
		st, ok := stmts[query]
		if !ok {
			var err error
			if st, err = s.stmt(ctx, tx, query); err != nil {
				return err
			}
			stmts[query] = st
		}
		_, err := st.ExecContext(ctx, args...)
		return err
	}
	// row adds sign times counts to the row of key with add and then, for
	// a subtraction, deletes that row with prune if it is left at zero.
	row := func(add, prune string, key []any, counts ...int64) error {
		args := slices.Clip(key)
		for _, n := range counts {
			args = append(args, sign*n)
		}
		if err := exec(add, args...); err != nil {
			return err
		}
		if sign > 0 {
			return nil
		}
		return exec(prune, key...)
	}
	for k, n := range c.hours {
		if err := row(addHourSQL, pruneHourSQL, []any{k.hour, k.typ, k.source}, n); err != nil {
			return err
		}
	}
	for _, t := range []struct {
		add, prune string
		counts     map[domainKey]*domainCounts
	}{{addDomainDaySQL, pruneDomainDaySQL, c.days}, {addDomainHourSQL, pruneDomainHourSQL, c.domainHours}} {
		for k, n := range t.counts {
			if err := row(t.add, t.prune, []any{k.bucket, k.domain}, n[:]...); err != nil {
				return err
			}
		}
	}
	for k, n := range c.errs {
		hard := 0
		if k.hard {
			hard = 1
		}
		if err := row(addErrorHourSQL, pruneErrorHourSQL, []any{k.hour, k.typ, k.text, hard}, n); err != nil {
			return err
		}
	}
	return nil
}

// The upserts of writeCounts, and the deletes of the rows that a
// subtraction leaves at zero.
var (
	addHourSQL = writeSQL(`INSERT INTO counts_hour (hour_ns, type, source, n) VALUES (?, ?, ?, ?)
		ON CONFLICT (hour_ns, type, source) DO UPDATE SET n = counts_hour.n + excluded.n`)
	addDomainDaySQL = writeSQL(`INSERT INTO counts_domain_day (day_ns, domain, sent, bounce, blocked, spam) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (day_ns, domain) DO UPDATE SET sent = counts_domain_day.sent + excluded.sent,
			bounce = counts_domain_day.bounce + excluded.bounce, blocked = counts_domain_day.blocked + excluded.blocked,
			spam = counts_domain_day.spam + excluded.spam`)
	addDomainHourSQL = writeSQL(`INSERT INTO counts_domain_hour (hour_ns, domain, sent, bounce, blocked, spam) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (hour_ns, domain) DO UPDATE SET sent = counts_domain_hour.sent + excluded.sent,
			bounce = counts_domain_hour.bounce + excluded.bounce, blocked = counts_domain_hour.blocked + excluded.blocked,
			spam = counts_domain_hour.spam + excluded.spam`)
	addErrorHourSQL = writeSQL(`INSERT INTO counts_error_hour (hour_ns, type, error, hard, n) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (hour_ns, type, error, hard) DO UPDATE SET n = counts_error_hour.n + excluded.n`)

	pruneHourSQL       = writeSQL(`DELETE FROM counts_hour WHERE hour_ns = ? AND type = ? AND source = ? AND n = 0`)
	pruneDomainDaySQL  = writeSQL(`DELETE FROM counts_domain_day WHERE day_ns = ? AND domain = ? AND sent = 0 AND bounce = 0 AND blocked = 0 AND spam = 0`)
	pruneDomainHourSQL = writeSQL(`DELETE FROM counts_domain_hour WHERE hour_ns = ? AND domain = ? AND sent = 0 AND bounce = 0 AND blocked = 0 AND spam = 0`)
	pruneErrorHourSQL  = writeSQL(`DELETE FROM counts_error_hour WHERE hour_ns = ? AND type = ? AND error = ? AND hard = ? AND n = 0`)
)

// span is a time range [from, to) in unix nanoseconds.
type span struct{ from, to int64 }

// split cuts [from, to) into the whole buckets of width iv it holds, mid,
// and the partial ones at its ends, edges (none, one or two spans). When
// no whole bucket fits, mid is empty and edges is the whole range.
func split(from, to, iv int64) (mid span, edges []span) {
	a := floorDiv(from+iv-1, iv)
	b := floorDiv(to, iv)
	if a >= b {
		return span{}, []span{{from, to}}
	}
	if from < a {
		edges = append(edges, span{from, a})
	}
	if b < to {
		edges = append(edges, span{b, to})
	}
	return span{a, b}, edges
}
