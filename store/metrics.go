package store

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scrapeTimeout bounds the queries of one scrape.
const scrapeTimeout = 5 * time.Second

var (
	descJobs = prometheus.NewDesc("hookd_jobs",
		"Action jobs in the queue now, by status: pending, running or dead (dead letters waiting for a retry).",
		[]string{"status"}, nil)
	descSuspended = prometheus.NewDesc("hookd_targets_suspended",
		"Action targets suspended now, after a dead letter, until resumed.", nil, nil)
	descProjected = prometheus.NewDesc("hookd_store_projected_total",
		"Messages the store's projector acked since start, by kind: event and quarantined (stored, each event or body once however often its message was delivered), duplicate (held by the store already: delivered again after its transaction committed, or replayed), undecodable (dropped).",
		[]string{"kind"}, nil)
	descProjectFailed = prometheus.NewDesc("hookd_store_projection_failures_total",
		"Messages the projector nacked after a database error, to be delivered again.", nil, nil)
	descProjectBatches = prometheus.NewDesc("hookd_store_batches_total",
		"Transactions the projector committed; hookd_store_projected_total of kinds event, quarantined and duplicate over it is the mean batch.", nil, nil)
	descGaveWay = prometheus.NewDesc("hookd_store_gave_way_seconds_total",
		"Time the projector waited for a burst of hook requests to pass before storing what the log had; the store lags meanwhile.", nil, nil)
	descCheckpointFailed = prometheus.NewDesc("hookd_store_checkpoint_failures_total",
		"Checkpoints of the SQLite store's WAL that failed (logged as an outage); while they fail the WAL grows. Not exported for a PostgreSQL store.", nil, nil)
	descScrapeError = prometheus.NewDesc("hookd_store_scrape_error",
		"1 when the last scrape could not read the store's gauges.", nil, nil)
)

// Collector returns a Prometheus collector of the store's gauges, read at
// each scrape: jobs by status (done excluded: it only grows), suspended
// targets, the projector's counters, and the failed checkpoints of an
// SQLite store. Each scrape runs two queries on
// indexes (jobs_status, and the small targets table).
func (s *Store) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Store }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descJobs, descSuspended, descProjected, descProjectFailed, descProjectBatches, descGaveWay, descCheckpointFailed, descScrapeError} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	failed := 0.0
	for _, status := range []string{"pending", "running", "dead"} {
		var n int64
		if err := c.s.db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE status = ?`, status).Scan(&n); err != nil {
			failed = 1
			break
		}
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(n), status)
	}
	var suspended int64
	if err := c.s.db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM targets WHERE suspended = 1`).Scan(&suspended); err != nil {
		failed = 1
	} else {
		ch <- prometheus.MustNewConstMetric(descSuspended, prometheus.GaugeValue, float64(suspended))
	}
	ch <- prometheus.MustNewConstMetric(descScrapeError, prometheus.GaugeValue, failed)
	p := c.s.ProjectorStats()
	ch <- prometheus.MustNewConstMetric(descProjected, prometheus.CounterValue, float64(p.Events), "event")
	ch <- prometheus.MustNewConstMetric(descProjected, prometheus.CounterValue, float64(p.Quarantined), "quarantined")
	ch <- prometheus.MustNewConstMetric(descProjected, prometheus.CounterValue, float64(p.Duplicates), "duplicate")
	ch <- prometheus.MustNewConstMetric(descProjected, prometheus.CounterValue, float64(p.Undecodable), "undecodable")
	ch <- prometheus.MustNewConstMetric(descProjectFailed, prometheus.CounterValue, float64(p.Failed))
	ch <- prometheus.MustNewConstMetric(descProjectBatches, prometheus.CounterValue, float64(p.Batches))
	ch <- prometheus.MustNewConstMetric(descGaveWay, prometheus.CounterValue, p.GaveWay.Seconds())
	if c.s.db.ckpt != nil {
		ch <- prometheus.MustNewConstMetric(descCheckpointFailed, prometheus.CounterValue, float64(c.s.db.ckpt.Failures()))
	}
}
