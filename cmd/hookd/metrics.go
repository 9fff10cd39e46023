package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/outage"
	"github.com/hookd/hookd/rules"
)

var (
	descLag = prometheus.NewDesc("hookd_consumer_lag",
		"Messages of a topic appended after the last one a consumer group acked.",
		[]string{"topic", "group"}, nil)
	descLagError = prometheus.NewDesc("hookd_consumer_lag_error",
		"1 when the last scrape could not read the consumer lag (hookd_consumer_lag is then missing), else 0.",
		nil, nil)
)

// lagTimeout bounds the reading of the lag at one scrape.
const lagTimeout = 5 * time.Second

// lagCollector exports a log's consumer lag, read at each scrape, and
// whether it could be read, so that an alert on the lag can tell a log
// that does not answer from one that is not behind. Failed reads are
// logged as an outage: the first, a summary a minute while they go on,
// and the read that succeeds again. serve registers one only for a log
// that can tell its lag (eventlog.Lagger).
type lagCollector struct {
	l   eventlog.Lagger
	out *outage.Log
}

// newLagCollector returns the collector of l's lag, logging its failures
// to logger (nil discards).
func newLagCollector(l eventlog.Lagger, logger *slog.Logger) *lagCollector {
	return &lagCollector{l: l, out: outage.New(logger, "metrics: reading the consumer lag failed", "metrics: reading the consumer lag succeeded again", 0)}
}

// Describe implements prometheus.Collector.
func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLag
	ch <- descLagError
}

// Collect implements prometheus.Collector: hookd_consumer_lag of every
// group and hookd_consumer_lag_error 0, or only the latter, 1, when the
// lag cannot be read.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	lags, err := c.l.Lag(ctx)
	if err != nil {
		// Unwrapped: the backends' errors name the consumer lag already.
		c.out.Fail(err)
		ch <- prometheus.MustNewConstMetric(descLagError, prometheus.GaugeValue, 1)
		return
	}
	c.out.OK()
	ch <- prometheus.MustNewConstMetric(descLagError, prometheus.GaugeValue, 0)
	for _, l := range lags {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(l.Messages), l.Topic, l.Group)
	}
}

var (
	descLogCheckpointFailed = prometheus.NewDesc("hookd_log_checkpoint_failures_total",
		"Checkpoints of the SQLite event log's WAL that failed (logged as an outage); while they fail the WAL grows.", nil, nil)
	descLeaseRenewalFailed = prometheus.NewDesc("hookd_log_lease_renewal_failures_total",
		"Renewals of a consumer group's lease on the SQLite event log that failed (logged as an outage); a lease not renewed in time lets another process take the group over.", nil, nil)
	descLogReadFailed = prometheus.NewDesc("hookd_log_read_failures_total",
		"Reads of the event log by its consumers (the store, the rules) that failed (logged as an outage); while they fail, the store and the rules fall behind.", nil, nil)
	descLogOffsetsFailed = prometheus.NewDesc("hookd_log_offset_write_failures_total",
		"Writes of the consumer groups' offsets to the SQLite event log that failed (logged as an outage); acks not written are delivered again after a restart.", nil, nil)
)

// failureCollector exports the failures of a log's background work, read
// at each scrape.
type failureCollector struct{ f eventlog.FailureCounter }

func (c failureCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLogCheckpointFailed
	ch <- descLeaseRenewalFailed
	ch <- descLogReadFailed
	ch <- descLogOffsetsFailed
}

func (c failureCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.f.Failures()
	ch <- prometheus.MustNewConstMetric(descLogCheckpointFailed, prometheus.CounterValue, float64(f.Checkpoint))
	ch <- prometheus.MustNewConstMetric(descLeaseRenewalFailed, prometheus.CounterValue, float64(f.LeaseRenewal))
	ch <- prometheus.MustNewConstMetric(descLogReadFailed, prometheus.CounterValue, float64(f.Read))
	ch <- prometheus.MustNewConstMetric(descLogOffsetsFailed, prometheus.CounterValue, float64(f.Offsets))
}

// readyTimeout bounds the readiness check of one scrape; the log's ping
// in it takes at most 2 s.
const readyTimeout = 3 * time.Second

// registerHealth registers the gauges and counters of what serve would
// otherwise tell only in its logs, and returns the function that counts a
// failed retention deletion (retention.Config.Failed):
//
//   - hookd_ready: 1 when ready answers nil, as /readyz does, checked at
//     each scrape (a check, like /readyz's, that logs a change);
//   - hookd_rules_load_errors: the rule files that failed to load at the
//     last reload (0 when they load, or without rules; w may be nil);
//   - hookd_retention_failures_total{from}: failed deletions of the
//     retention job, from the store or the log;
//   - the failed checkpoints, lease renewals, reads and offset writes of a
//     log that counts them (eventlog.FailureCounter).
func registerHealth(reg prometheus.Registerer, ready func(context.Context) error, w *rules.Watcher, log eventlog.Log) (func(from string), error) {
	readyGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hookd_ready",
		Help: "1 when hookd takes hook requests, as /readyz answers; 0 when /readyz answers 503 (the event log does not answer or its last commit failed, or hookd is stopping).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		if ready(ctx) != nil {
			return 0
		}
		return 1
	})
	ruleErrors := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hookd_rules_load_errors",
		Help: "Rule files that failed to load at the last reload; the rules loaded before keep running meanwhile.",
	}, func() float64 {
		if w == nil {
			return 0
		}
		files := map[string]bool{}
		for _, e := range w.Status().Errors {
			files[e.File] = true
		}
		return float64(len(files))
	})
	retention := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookd_retention_failures_total",
		Help: "Deletions of the retention job that failed (logged; the next round tries again), by where they deleted from: store or log.",
	}, []string{"from"})
	for _, from := range []string{"store", "log"} {
		retention.WithLabelValues(from)
	}
	cs := []prometheus.Collector{readyGauge, ruleErrors, retention}
	if f, ok := log.(eventlog.FailureCounter); ok {
		cs = append(cs, failureCollector{f})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return func(from string) { retention.WithLabelValues(from).Inc() }, nil
}
