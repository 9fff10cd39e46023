package backtest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/rules"
)

// seriesKey names the events of one type with one value of one field.
type seriesKey struct{ typ, field, value string }

// series is what last and count need of the events of one seriesKey that
// came before the event evaluated: their times in order, and the latest
// event itself.
type series struct {
	// times are sorted; events of equal time are in log order, as seqs.
	times []int64
	seqs  []int64
	// evs are the events of the last tail entries, nil before: last
	// returns one of them unless the event evaluated is much older than
	// the latest, and then reads the event from the store.
	evs []*event.Event
}

// tail is how many of a series' latest events the state keeps whole.
const tail = 16

// upper returns the index of the first time after t.
func (s *series) upper(t int64) int {
	n := len(s.times)
	if n == 0 || s.times[n-1] <= t {
		return n // the common case: events mostly come in time order
	}
	lo, hi := 0, n
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

func (s *series) add(t, seq int64, e *event.Event) {
	i := s.upper(t)
	s.times = append(s.times, t)
	s.seqs = append(s.seqs, seq)
	s.evs = append(s.evs, e)
	if i < len(s.times)-1 {
		copy(s.times[i+1:], s.times[i:])
		copy(s.seqs[i+1:], s.seqs[i:])
		copy(s.evs[i+1:], s.evs[i:])
		s.times[i], s.seqs[i], s.evs[i] = t, seq, e
	}
	if n := len(s.evs); n > tail {
		s.evs[n-tail-1] = nil // let it go
	}
}

// state is the event log as of the event being evaluated, in memory: it
// implements rules.State with the same answers as store.Tx, for the events
// added so far, all earlier in the log than the one evaluated.
type state struct {
	series map[seriesKey]*series
	// tracked are the (type, field) pairs the rules ask about; nil to
	// track every pair.
	tracked map[rules.StateKey]bool
	// fetch reads an event that is not the latest of its series, which
	// an event older than that latest one may ask for.
	fetch func(ctx context.Context, seq int64) (event.Event, error)

	// cur is the event being evaluated and its time as stored.
	cur     *event.Event
	curTime int64
}

var stateFields = []string{"email", "domain", "message_id", "campaign", "source"}

func newState(set *rules.Set, fetch func(context.Context, int64) (event.Event, error)) *state {
	st := &state{series: map[seriesKey]*series{}, fetch: fetch}
	keys, all := set.StateKeys()
	if !all {
		st.tracked = map[rules.StateKey]bool{}
		for _, k := range keys {
			st.tracked[k] = true
		}
	}
	return st
}

// value is e's value of field, as the store compares it.
func value(e *event.Event, field string) (string, bool) {
	switch field {
	case "email":
		return strings.ToLower(e.Email), true
	case "domain":
		return strings.ToLower(e.Domain), true
	case "message_id":
		return e.MessageID, true
	case "campaign":
		return e.Campaign, true
	case "source":
		return e.Source, true
	}
	return "", false
}

// add makes e, stored at seq with time t, part of the state of the
// events after it.
func (st *state) add(e *event.Event, seq, t int64) {
	for _, f := range stateFields {
		if st.tracked != nil && !st.tracked[rules.StateKey{Type: e.Type, Field: f}] {
			continue
		}
		v, _ := value(e, f)
		if v == "" {
			continue
		}
		k := seriesKey{e.Type, f, v}
		s := st.series[k]
		if s == nil {
			s = &series{}
			st.series[k] = s
		}
		s.add(t, seq, e)
	}
}

func (st *state) lookup(e event.Event, typ, field string) (*series, error) {
	v, ok := value(&e, field)
	if !ok {
		return nil, fmt.Errorf("unknown field %q: want email, domain, message_id, campaign or source", field)
	}
	if v == "" {
		return nil, nil
	}
	if e.ID != st.cur.ID {
		return nil, fmt.Errorf("state asked about event %s while evaluating %s", e.ID, st.cur.ID)
	}
	return st.series[seriesKey{typ, field, v}], nil
}

// Last implements rules.State.
func (st *state) Last(ctx context.Context, e event.Event, typ, field string) (*event.Event, error) {
	s, err := st.lookup(e, typ, field)
	if err != nil || s == nil {
		if err != nil {
			err = fmt.Errorf("last %s by %s: %w", typ, field, err)
		}
		return nil, err
	}
	i := s.upper(st.curTime) - 1
	if i < 0 {
		return nil, nil
	}
	if e := s.evs[i]; e != nil {
		found := *e
		return &found, nil
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
	s, err := st.lookup(e, typ, field)
	if err != nil || s == nil {
		if err != nil {
			err = fmt.Errorf("count %s by %s: %w", typ, field, err)
		}
		return 0, err
	}
	from := encodeTime(e.Time.Add(-window))
	return s.upper(st.curTime) - s.upper(from), nil
}

// ledger is once and cooldown in memory, as store.Tx records them: it
// implements rules.Ledger.
type ledger struct {
	once    map[[2]string]string
	firings map[[2]string][]int64
}

func newLedger() *ledger {
	return &ledger{once: map[[2]string]string{}, firings: map[[2]string][]int64{}}
}

// Once implements rules.Ledger.
func (l *ledger) Once(_ context.Context, rule, key, eventID string) (bool, error) {
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
func (l *ledger) Cooldown(_ context.Context, rule, key string, at time.Time, window time.Duration, _ string) (bool, error) {
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
