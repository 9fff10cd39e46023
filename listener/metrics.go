package listener

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/event"
)

// metrics are the listener's Prometheus collectors.
type metrics struct {
	received *prometheus.CounterVec
	dups     *prometheus.CounterVec
	rejected *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	batch    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_events_received_total",
			Help: "Events accepted into the event log, by source and type (duplicates excluded).",
		}, []string{"source", "type"}),
		dups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_events_duplicate_total",
			Help: "Events answered 200 but not appended because the log already held them (provider retries).",
		}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_requests_rejected_total",
			Help: "Hook requests not answered 200, by source and reason (auth, too_large, malformed, unavailable).",
		}, []string{"source", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookd_ingest_seconds",
			Help:    "Time from a hook request's arrival to its durable commit.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}, []string{"source"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookd_commit_batch_events",
			Help:    "Events per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.received, m.dups, m.rejected, m.latency, m.batch} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register listener metrics: %w", err)
			}
		}
	}
	return m, nil
}

// observe records one accepted request whose events[i] was a duplicate when
// dup[i], and returns the number of duplicates.
func (m *metrics) observe(source string, events []event.Event, dup []bool, took time.Duration) (dups int) {
	for i, e := range events {
		if dup[i] {
			dups++
			continue
		}
		m.received.WithLabelValues(source, e.Type).Inc()
	}
	if dups > 0 {
		m.dups.WithLabelValues(source).Add(float64(dups))
	}
	m.latency.WithLabelValues(source).Observe(took.Seconds())
	return dups
}
