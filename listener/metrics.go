package listener

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the listener's Prometheus collectors.
type metrics struct {
	received *prometheus.CounterVec
	dups     *prometheus.CounterVec
	rejected *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	batch    prometheus.Histogram
	inflight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_events_received_total",
			Help: "Events accepted into the event log, by source and type, counted when their request is answered 200 (duplicates excluded; a source's types beyond its first 64 count as other). An event the log stored for a request answered 503 is not counted: its retry counts it as a duplicate.",
		}, []string{"source", "type"}),
		dups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_events_duplicate_total",
			Help: "Events answered 200 but not appended because the log already held them (provider retries).",
		}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_requests_rejected_total",
			Help: "Hook requests not answered 200, by source and reason (auth, rate, busy, inflight, too_large, too_many_events, timeout, read, malformed, unavailable; method for a method other than POST; not_found, with no source, for a path no source serves).",
		}, []string{"source", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookd_ingest_seconds",
			Help: "Time from a hook request's arrival to its durable commit.",
			// 0.2 ms to 26 s: a body that takes long to arrive counts too,
			// up to the default read timeout of 30 s.
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 18),
		}, []string{"source"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookd_commit_batch_events",
			Help:    "Events per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookd_requests_inflight_bytes",
			Help: "Bytes of hook request bodies that requests in progress are charged against limits.max_inflight, from before a body is read until its request is answered.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.received, m.dups, m.rejected, m.latency, m.batch, m.inflight} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register listener metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Bounds of the type label of hookd_events_received_total, per source: the
// type comes from the request body, and a label value a sender makes up is
// a series kept in memory for as long as hookd runs.
const (
	maxTypeLabels   = 64 // distinct types a source gets a series of its own for
	maxTypeLabelLen = 64 // bytes of the longest type that gets one
	otherType       = "other"
)

// sourceMetrics are the collectors of one source's accepted requests.
type sourceMetrics struct {
	dups    prometheus.Counter
	latency prometheus.Observer

	vec    *prometheus.CounterVec // hookd_events_received_total
	source string
	mu     sync.Mutex
	types  map[string]prometheus.Counter // at most maxTypeLabels
	other  prometheus.Counter            // nil until a type is counted as other
}

func (m *metrics) source(name string) *sourceMetrics {
	return &sourceMetrics{
		dups:    m.dups.WithLabelValues(name),
		latency: m.latency.WithLabelValues(name),
		vec:     m.received,
		source:  name,
		types:   map[string]prometheus.Counter{},
	}
}

// received returns the counter of events of type typ: its own for the
// first maxTypeLabels types no longer than maxTypeLabelLen and without
// control characters (which scrapers and dashboards show badly, if at
// all), the one labelled "other" for the rest.
func (s *sourceMetrics) received(typ string) prometheus.Counter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.types[typ]; ok {
		return c
	}
	if len(typ) > maxTypeLabelLen || len(s.types) >= maxTypeLabels || strings.ContainsFunc(typ, unicode.IsControl) {
		if s.other == nil {
			s.other = s.vec.WithLabelValues(s.source, otherType)
		}
		return s.other
	}
	c := s.vec.WithLabelValues(s.source, typ)
	s.types[typ] = c
	return c
}

// observe records one accepted request whose recs[i] was a duplicate when
// dup[i], and returns the number of duplicates.
func (s *sourceMetrics) observe(recs []record, dup []bool, took time.Duration) (dups int) {
	for i := range recs {
		if dup[i] {
			dups++
			continue
		}
		s.received(recs[i].typ).Inc()
	}
	if dups > 0 {
		s.dups.Add(float64(dups))
	}
	s.latency.Observe(took.Seconds())
	return dups
}
