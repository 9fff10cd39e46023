package backtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/rules"
)

// series is what last and count need of the events of one type with one
// value of one field that came before the event evaluated: their times in
// order, and the latest few events themselves.
type series struct {
	// times are sorted, events of equal time in log order; seqs are their
	// seqs, for the series that last asks about only.
	times []int64
	seqs  []int64
	// evs are where the events of the last len(evs) entries of times are
	// in the state's arena, at most tail: last returns one of them unless
	// the event evaluated is much older than the latest, and then reads
	// the event from the store.
	evs []ref
}

// tail is how many of a series' latest events the state keeps whole.
const tail = 16

// upper returns the index of the first time after t. It searches back
// from the end, doubling its steps: count and last ask about times near
// the latest, in series that may hold a million.
func (s *series) upper(t int64) int {
	n := len(s.times)
	if n == 0 || s.times[n-1] <= t {
		return n // the common case: events mostly come in time order
	}
	// The answer is in (lo, hi]: times[hi] > t, and lo < 0 or
	// times[lo] <= t.
	hi, step := n-1, 1
	lo := hi - step
	for lo >= 0 && s.times[lo] > t {
		hi, step = lo, step*2
		lo = hi - step
	}
	lo = max(lo, -1) + 1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.times[m] <= t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// add adds the entry of an event stored at seq with time t, and where
// the event is kept when keep is set (the series that count only asks
// about need the times only).
func (s *series) add(t, seq int64, e ref, keep bool) {
	i := s.upper(t)
	first := len(s.times) - len(s.evs) // the entry of evs[0]
	s.times = slices.Insert(s.times, i, t)
	if !keep {
		return
	}
	s.seqs = slices.Insert(s.seqs, i, seq)
	if i < first {
		return // older than the events kept, which stay the latest
	}
	s.evs = slices.Insert(s.evs, i-first, e)
	if len(s.evs) > tail {
		copy(s.evs, s.evs[1:])
		s.evs = s.evs[:tail]
	}
}

// at returns where the event of entry i is kept, false when it is not.
func (s *series) at(i int) (ref, bool) {
	if first := len(s.times) - len(s.evs); i >= first {
		return s.evs[i-first], true
	}
	return ref{}, false
}

// fields are the fields last and count accept, as the store compares
// them (email and domain lowercase).
var fields = [...]struct {
	name  string
	value func(*event.Event) string
}{
	{"email", func(e *event.Event) string { return strings.ToLower(e.Email) }},
	{"domain", func(e *event.Event) string { return strings.ToLower(e.Domain) }},
	{"message_id", func(e *event.Event) string { return e.MessageID }},
	{"campaign", func(e *event.Event) string { return e.Campaign }},
	{"source", func(e *event.Event) string { return e.Source }},
}

func fieldIndex(name string) (int, bool) {
	switch name {
	case "email":
		return 0, true
	case "domain":
		return 1, true
	case "message_id":
		return 2, true
	case "campaign":
		return 3, true
	case "source":
		return 4, true
	}
	return 0, false
}

// byValue holds the series of one event type, per field (nil for a field
// that is not tracked) and value, and whether last asks about the field.
type byValue struct {
	series [len(fields)]map[string]*series
	last   [len(fields)]bool
}

// state is the event log as of the event being evaluated, in memory: it
// implements rules.State with the same answers as store.Tx, for the events
// added so far, all earlier in the log than the one evaluated.
type state struct {
	// types has the series of the (type, field) pairs the rules ask about.
	types map[string]*byValue
	// all tells to track every pair, types growing with the types seen.
	all bool
	// fetch reads an event that is not among the latest of its series,
	// which an event older than those may ask for.
	fetch func(ctx context.Context, seq int64) (event.Event, error)
	// kept holds the events of the series' evs.
	kept arena

	// cur is the event being evaluated and its time as stored.
	cur     *event.Event
	curTime int64
}

func newState(set *rules.Set, fetch func(context.Context, int64) (event.Event, error)) *state {
	keys, all := set.StateKeys()
	st := &state{types: map[string]*byValue{}, all: all, fetch: fetch}
	for _, k := range keys {
		f, ok := fieldIndex(k.Field)
		if !ok {
			continue // a rule that names it fails on every event
		}
		bv := st.track(k.Type)
		bv.series[f] = map[string]*series{}
		bv.last[f] = bv.last[f] || k.Last
	}
	return st
}

// track returns the series of type typ, making them.
func (st *state) track(typ string) *byValue {
	bv := st.types[typ]
	if bv == nil {
		bv = &byValue{}
		if st.all {
			for f := range bv.series {
				bv.series[f] = map[string]*series{}
				bv.last[f] = true
			}
		}
		st.types[typ] = bv
	}
	return bv
}

// add makes e, stored at seq with time t, part of the state of the
// events after it. It keeps a copy of e, if any, so that the batch e is in
// can go.
func (st *state) add(e *event.Event, seq, t int64) {
	bv := st.types[e.Type]
	if bv == nil {
		if !st.all {
			return
		}
		bv = st.track(e.Type)
	}
	var (
		kept ref
		put  bool
	)
	for f, m := range bv.series {
		if m == nil {
			continue
		}
		v := fields[f].value(e)
		if v == "" {
			continue
		}
		s := m[v]
		if s == nil {
			s = &series{}
			m[v] = s
		}
		if bv.last[f] && !put {
			kept, put = st.kept.put(e), true
		}
		s.add(t, seq, kept, bv.last[f])
	}
}

func (st *state) lookup(e *event.Event, typ, field string) (*series, error) {
	f, ok := fieldIndex(field)
	if !ok {
		return nil, fmt.Errorf("unknown field %q: want email, domain, message_id, campaign or source", field)
	}
	v := fields[f].value(e)
	if v == "" {
		return nil, nil
	}
	if e.ID != st.cur.ID {
		return nil, fmt.Errorf("state asked about event %s while evaluating %s", e.ID, st.cur.ID)
	}
	bv := st.types[typ]
	if bv == nil || bv.series[f] == nil {
		return nil, nil
	}
	return bv.series[f][v], nil
}

// Last implements rules.State.
func (st *state) Last(ctx context.Context, e event.Event, typ, field string) (*event.Event, error) {
	s, err := st.lookup(&e, typ, field)
	if err != nil || s == nil {
		if err != nil {
			err = fmt.Errorf("last %s by %s: %w", typ, field, err)
		}
		return nil, err
	}
	if len(s.seqs) != len(s.times) {
		return nil, fmt.Errorf("last %s by %s: the backtest kept the times of those events only", typ, field)
	}
	i := s.upper(st.curTime) - 1
	if i < 0 {
		return nil, nil
	}
	if r, ok := s.at(i); ok {
		return st.kept.get(r), nil
	}
	found, err := st.fetch(ctx, s.seqs[i])
	if err != nil {
		return nil, fmt.Errorf("last %s by %s: %w", typ, field, err)
	}
	return &found, nil
}

// Count implements rules.State.
func (st *state) Count(_ context.Context, e event.Event, typ, field string, window time.Duration) (int, error) {
	if window <= 0 {
		return 0, fmt.Errorf("count %s by %s: window %s is not positive", typ, field, window)
	}
	s, err := st.lookup(&e, typ, field)
	if err != nil || s == nil {
		if err != nil {
			err = fmt.Errorf("count %s by %s: %w", typ, field, err)
		}
		return 0, err
	}
	from := encodeTime(e.Time.Add(-window))
	return s.upper(st.curTime) - s.upper(from), nil
}

// Ledger is once and cooldown in memory, as store.Tx records them: it
// implements rules.Ledger for a backtest, and for hookd test, which must
// decide as serve does. It expects every event to be evaluated once, and
// is not safe for concurrent use.
type Ledger struct {
	once    map[[2]string]string
	firings map[[2]string][]int64
}

var _ rules.Ledger = (*Ledger)(nil)

// NewLedger returns a Ledger in which no rule has fired.
func NewLedger() *Ledger {
	return &Ledger{once: map[[2]string]string{}, firings: map[[2]string][]int64{}}
}

// Once implements rules.Ledger.
func (l *Ledger) Once(_ context.Context, rule, key, eventID string) (bool, error) {
	k := [2]string{rule, key}
	by, ok := l.once[k]
	if !ok {
		l.once[k] = eventID
		return true, nil
	}
	return by == eventID, nil
}

// Cooldown implements rules.Ledger. Every event is evaluated once, so no
// firing is by the event asking.
func (l *Ledger) Cooldown(_ context.Context, rule, key string, at time.Time, window time.Duration, _ string) (bool, error) {
	k := [2]string{rule, key}
	s := &series{times: l.firings[k]}
	t := encodeTime(at)
	lo, hi := encodeTime(at.Add(-window)), encodeTime(at.Add(window))
	if i := s.upper(lo); i < len(s.times) && s.times[i] < hi {
		return false, nil
	}
	i := s.upper(t)
	s.times = append(s.times, 0)
	copy(s.times[i+1:], s.times[i:])
	s.times[i] = t
	l.firings[k] = s.times
	return true, nil
}

// encodeTime is the store's: Unix nanoseconds, the zero time smallest,
// others clamped to what int64 holds.
func encodeTime(t time.Time) int64 {
	switch {
	case t.IsZero():
		return minInt64
	case t.Before(minTime):
		return minInt64 + 1
	case t.After(maxTime):
		return maxInt64
	}
	return t.UnixNano()
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)

var (
	minTime = time.Unix(0, minInt64+1)
	maxTime = time.Unix(0, maxInt64)
)
