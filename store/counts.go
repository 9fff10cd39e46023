package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
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
// counts_hour counts by type, source and category; the others count by
// category (see countedAs), so that one domain's deliverability is the
// same whichever providers sent its mail.
//
// A batch adds one row update per distinct bucket and key among its new
// events, not one per event: a few per batch for counts_hour; for
// counts_domain_day and counts_domain_hour, one each per recipient domain
// among its delivered, bounce, blocked and complaint events.
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
	// errorKeyLen is how many characters of an error text are counted.
	errorKeyLen = 120
)

// domainCategories are the categories the domain counts count, in the
// order of their columns.
var domainCategories = []event.Category{event.Delivered, event.Bounce, event.Blocked, event.Complaint}

// legacyMailjet are the categories of Mailjet's types, as the mailjet
// adapter gives them, for the events without a category that a Mailjet
// source wrote to the log before events had one (only Mailjet's were).
// The store does not import the adapter: imports flow from the listeners
// to the store, not back.
var legacyMailjet = map[string]event.Category{
	"sent": event.Delivered, "open": event.Open, "click": event.Click, "bounce": event.Bounce,
	"blocked": event.Blocked, "spam": event.Complaint, "unsub": event.Unsubscribe,
}

// countedAs returns the category and bounce class e is stored and counted
// under: its own, except for a Mailjet event without a category, written
// to the log before events had one, which is given the category the
// mailjet adapter gives its type now (its bounce class from
// data.hard_bounce, true or false, as the adapter reads it). So a store
// rebuilt from an old log, and one migrated (see categorize), hold the
// category a new store would.
func countedAs(e *event.Event) (event.Category, event.BounceClass) {
	if e.Category != "" || e.Provider != "mailjet" {
		return e.Category, e.BounceClass
	}
	c := legacyMailjet[e.Type]
	if c != event.Bounce {
		return c, ""
	}
	var d struct {
		Hard json.RawMessage `json:"hard_bounce"`
	}
	_ = json.Unmarshal(e.Data, &d)
	switch string(d.Hard) {
	case "true":
		return c, event.Hard
	case "false":
		return c, event.Soft
	}
	return c, ""
}

// logEvent decodes the event a message of the log's events topic holds,
// with the category and bounce class it is stored under (countedAs), so
// that the rules see on it live what they see on it stored: a replay, a
// backtest and last() read the stored event, and a Mailjet event the log
// kept from before events had a category would otherwise have one for
// them only. An event without an id is an error.
func logEvent(payload []byte) (event.Event, error) {
	e, err := event.Unmarshal(payload)
	if err == nil && e.ID == "" {
		err = errors.New("event has no id")
	}
	e.Category, e.BounceClass = countedAs(&e)
	return e, err
}

// categorize is the step of the migration to schema version 13, after its
// SQL gave the other types theirs: it gives the Mailjet bounces stored
// without a category theirs and their bounce class, as countedAs does, a
// page of them at a time.
func categorize(ctx context.Context, tx *sql.Tx) error {
	const page = 1000
	update, err := tx.PrepareContext(ctx, `UPDATE events SET category = ?, bounce_class = ? WHERE seq = ?`)
	if err != nil {
		return fmt.Errorf("categorize: %w", err)
	}
	defer update.Close()
	for after := int64(0); ; {
		events, seqs, err := countedEvents(ctx, tx, `SELECT `+countedColumns+`, seq FROM events
			WHERE type = 'bounce' AND provider = 'mailjet' AND category = '' AND seq > ? ORDER BY seq LIMIT ?`, after, page)
		if err != nil {
			return fmt.Errorf("categorize: %w", err)
		}
		for i := range events {
			cat, class := countedAs(&events[i])
			if _, err := update.ExecContext(ctx, string(cat), string(class), seqs[i]); err != nil {
				return fmt.Errorf("categorize: event at seq %d: %w", seqs[i], err)
			}
		}
		if len(events) < page {
			return nil
		}
		after = seqs[len(seqs)-1]
	}
}

type (
	hourKey struct {
		hour        int64
		typ, source string
		cat         event.Category
	}
	domainKey struct {
		bucket int64
		domain string
	}
	// domainCounts are counts of domainCategories, in order.
	domainCounts [4]int64
	errorKey     struct {
		hour  int64
		cat   event.Category
		text  string
		class event.BounceClass
	}
)

// errorOf returns the error text of a bounce or blocked event: what its
// provider says went wrong, where the provider's object has it in an
// obvious place, cut to its first errorKeyLen characters; "" otherwise.
//
//   - mailjet, generic and any other provider: "error" (a value that is not
//     a string as its JSON text);
//   - postmark: "Details" (the receiving server's answer), else
//     "Description";
//   - mailgun: "delivery-status" "message", else its "description";
//   - sendgrid: "reason";
//   - ses: the "diagnosticCode" of the bounced recipient that is the
//     event's, or a rejection's "reason";
//   - standardwebhooks: Resend's "data" "bounce" "message" or "data"
//     "failed" "reason".
func errorOf(e *event.Event) string {
	var text string
	switch e.Provider {
	case "postmark":
		var d struct{ Details, Description string }
		_ = json.Unmarshal(e.Data, &d)
		text = cmp.Or(d.Details, d.Description)
	case "mailgun":
		var d struct {
			Status struct{ Message, Description string } `json:"delivery-status"`
		}
		_ = json.Unmarshal(e.Data, &d)
		text = cmp.Or(d.Status.Message, d.Status.Description)
	case "sendgrid":
		var d struct{ Reason string }
		_ = json.Unmarshal(e.Data, &d)
		text = d.Reason
	case "ses":
		var d struct {
			Bounce struct {
				Recipients []struct{ EmailAddress, DiagnosticCode string } `json:"bouncedRecipients"`
			}
			Reject struct{ Reason string }
		}
		_ = json.Unmarshal(e.Data, &d)
		text = d.Reject.Reason
		for _, r := range d.Bounce.Recipients {
			if email, _ := event.NormalizeEmail(r.EmailAddress); email == e.Email {
				text = r.DiagnosticCode
				break
			}
		}
	case "standardwebhooks":
		var d struct {
			Data struct {
				Bounce struct{ Message string }
				Failed struct{ Reason string }
			}
		}
		_ = json.Unmarshal(e.Data, &d)
		text = cmp.Or(d.Data.Bounce.Message, d.Data.Failed.Reason)
	default:
		var d struct {
			Error any `json:"error"`
		}
		_ = json.Unmarshal(e.Data, &d)
		switch v := d.Error.(type) {
		case string:
			text = v
		case nil:
		default:
			b, _ := json.Marshal(v)
			text = string(b)
		}
	}
	if utf8.RuneCountInString(text) > errorKeyLen {
		text = string([]rune(text)[:errorKeyLen])
	}
	return text
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
func (c *tally) add(e *event.Event) {
	t := encodeTime(e.Time)
	if t < countedMin || t > countedMax {
		return
	}
	hour := floorDiv(t, hourNs)
	cat, class := countedAs(e)
	c.hours[hourKey{hour, e.Type, e.Source, cat}]++
	col := slices.Index(domainCategories, cat)
	if col < 0 {
		return
	}
	domain := strings.ToLower(e.Domain)
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
	if cat == event.Bounce || cat == event.Blocked {
		if cat == event.Blocked {
			class = ""
		}
		c.errs[errorKey{hour, cat, errorOf(e), class}]++
	}
}

// addCounts adds the events inserted in tx (those with a non-zero seq) to
// the count tables.
func (s *Store) addCounts(ctx context.Context, tx *sql.Tx, events []event.Event, seqs []int64) error {
	c := newTally()
	for i := range events {
		if seqs[i] != 0 {
			c.add(&events[i])
		}
	}
	if err := c.write(ctx, tx, s.prepared(ctx, tx), 1); err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	return nil
}

// subtractCounts takes events, which tx deletes, off the count tables, and
// deletes the rows left at zero, so that a bucket whose events are all
// gone has no row, as if it had never had any.
func (s *Store) subtractCounts(ctx context.Context, tx *sql.Tx, events []event.Event) error {
	c := newTally()
	for i := range events {
		c.add(&events[i])
	}
	if err := c.write(ctx, tx, s.prepared(ctx, tx), -1); err != nil {
		return fmt.Errorf("uncount events: %w", err)
	}
	return nil
}

// prepared returns s.stmt for tx, as tally.write takes it.
func (s *Store) prepared(ctx context.Context, tx *sql.Tx) func(string) (*sql.Stmt, error) {
	return func(query string) (*sql.Stmt, error) { return s.stmt(ctx, tx, query) }
}

// write adds sign times c to the count tables in tx, through the
// statements stmt returns. A negative sign also deletes the rows it
// leaves at zero.
func (c *tally) write(ctx context.Context, tx *sql.Tx, stmt func(query string) (*sql.Stmt, error), sign int64) error {
	// Each statement is taken from tx once: a batch updates many rows of
	// each table.
	stmts := map[string]*sql.Stmt{}
	exec := func(query string, args ...any) error {
		st, ok := stmts[query]
		if !ok {
			var err error
			if st, err = stmt(query); err != nil {
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
		if err := row(addHourSQL, pruneHourSQL, []any{k.hour, k.typ, k.source, string(k.cat)}, n); err != nil {
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
		if err := row(addErrorHourSQL, pruneErrorHourSQL, []any{k.hour, string(k.cat), k.text, string(k.class)}, n); err != nil {
			return err
		}
	}
	return nil
}

// recount fills the empty count tables from the events in tx, in pages of
// events in the order they were stored, as addCounts counts them. It is
// the last step of the migration that made the tables count by category
// (see steps): written in Go, the same tally as the projector's, where
// SQL would need each provider's error field in both databases' JSON
// syntax.
func recount(ctx context.Context, tx *sql.Tx) error {
	const page = 10000
	prepare := func(query string) (*sql.Stmt, error) { return tx.PrepareContext(ctx, query) }
	for after := int64(0); ; {
		events, seqs, err := countedEvents(ctx, tx, `SELECT `+countedColumns+`, seq FROM events
			WHERE seq > ? ORDER BY seq LIMIT ?`, after, page)
		if err != nil {
			return fmt.Errorf("recount: %w", err)
		}
		c := newTally()
		for i := range events {
			c.add(&events[i])
		}
		if err := c.write(ctx, tx, prepare, 1); err != nil {
			return fmt.Errorf("recount: %w", err)
		}
		if len(events) < page {
			return nil
		}
		after = seqs[len(seqs)-1]
	}
}

// The upserts of tally.write, and the deletes of the rows that a
// subtraction leaves at zero.
var (
	addHourSQL = writeSQL(`INSERT INTO counts_hour (hour_ns, type, source, category, n) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (hour_ns, type, source, category) DO UPDATE SET n = counts_hour.n + excluded.n`)
	addDomainDaySQL = writeSQL(`INSERT INTO counts_domain_day (day_ns, domain, delivered, bounce, blocked, complaint) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (day_ns, domain) DO UPDATE SET delivered = counts_domain_day.delivered + excluded.delivered,
			bounce = counts_domain_day.bounce + excluded.bounce, blocked = counts_domain_day.blocked + excluded.blocked,
			complaint = counts_domain_day.complaint + excluded.complaint`)
	addDomainHourSQL = writeSQL(`INSERT INTO counts_domain_hour (hour_ns, domain, delivered, bounce, blocked, complaint) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (hour_ns, domain) DO UPDATE SET delivered = counts_domain_hour.delivered + excluded.delivered,
			bounce = counts_domain_hour.bounce + excluded.bounce, blocked = counts_domain_hour.blocked + excluded.blocked,
			complaint = counts_domain_hour.complaint + excluded.complaint`)
	addErrorHourSQL = writeSQL(`INSERT INTO counts_error_hour (hour_ns, category, error, class, n) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (hour_ns, category, error, class) DO UPDATE SET n = counts_error_hour.n + excluded.n`)

	pruneHourSQL       = writeSQL(`DELETE FROM counts_hour WHERE hour_ns = ? AND type = ? AND source = ? AND category = ? AND n = 0`)
	pruneDomainDaySQL  = writeSQL(`DELETE FROM counts_domain_day WHERE day_ns = ? AND domain = ? AND delivered = 0 AND bounce = 0 AND blocked = 0 AND complaint = 0`)
	pruneDomainHourSQL = writeSQL(`DELETE FROM counts_domain_hour WHERE hour_ns = ? AND domain = ? AND delivered = 0 AND bounce = 0 AND blocked = 0 AND complaint = 0`)
	pruneErrorHourSQL  = writeSQL(`DELETE FROM counts_error_hour WHERE hour_ns = ? AND category = ? AND error = ? AND class = ? AND n = 0`)
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
