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
// inserts the events, so they always agree with the events table. Queries
// over a long window read whole buckets from them and only the partial
// buckets at its ends from the events.
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

// addCounts adds the events inserted in tx (those with a non-zero seq) to
// the count tables.
func (s *Store) addCounts(ctx context.Context, tx *sql.Tx, events []event.Event, seqs []int64) error {
	hours := map[hourKey]int64{}
	days := map[domainKey]*domainCounts{}
	domainHours := map[domainKey]*domainCounts{}
	errs := map[errorKey]int64{}
	for i, e := range events {
		if seqs[i] == 0 {
			continue
		}
		t := encodeTime(e.Time)
		if t < countedMin || t > countedMax {
			continue
		}
		hour := floorDiv(t, hourNs)
		hours[hourKey{hour, e.Type, e.Source}]++
		if !isDeliverability(e.Type) {
			continue
		}
		domain := strings.ToLower(e.Domain)
		col := slices.Index(deliverabilityTypes, e.Type)
		for _, c := range []struct {
			m map[domainKey]*domainCounts
			k domainKey
		}{{days, domainKey{floorDiv(t, dayNs), domain}}, {domainHours, domainKey{hour, domain}}} {
			dc := c.m[c.k]
			if dc == nil {
				dc = new(domainCounts)
				c.m[c.k] = dc
			}
			dc[col]++
		}
		if e.Type == "bounce" || e.Type == "blocked" {
			text, hard := errorOf(e)
			errs[errorKey{hour, e.Type, text, hard}]++
		}
	}
	st, err := s.stmt(ctx, tx, addHourSQL)
	if err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	for k, n := range hours {
		if _, err := st.ExecContext(ctx, k.hour, k.typ, k.source, n); err != nil {
			return fmt.Errorf("count events: %w", err)
		}
	}
	for _, c := range []struct {
		query  string
		counts map[domainKey]*domainCounts
	}{{addDomainDaySQL, days}, {addDomainHourSQL, domainHours}} {
		if st, err = s.stmt(ctx, tx, c.query); err != nil {
			return fmt.Errorf("count events: %w", err)
		}
		for k, n := range c.counts {
			if _, err := st.ExecContext(ctx, k.bucket, k.domain, n[0], n[1], n[2], n[3]); err != nil {
				return fmt.Errorf("count events: %w", err)
			}
		}
	}
	if st, err = s.stmt(ctx, tx, addErrorHourSQL); err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	for k, n := range errs {
		hard := 0
		if k.hard {
			hard = 1
		}
		if _, err := st.ExecContext(ctx, k.hour, k.typ, k.text, hard, n); err != nil {
			return fmt.Errorf("count events: %w", err)
		}
	}
	return nil
}

// The upserts of addCounts.
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
