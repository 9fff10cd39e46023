package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/eventlog"
)

var descLag = prometheus.NewDesc("hookd_consumer_lag",
	"Messages of a topic appended after the last one a consumer group acked.",
	[]string{"topic", "group"}, nil)

// lagCollector exports a log's consumer lag, read at each scrape. A log
// backend that cannot tell its lag exports nothing.
type lagCollector struct {
	l      eventlog.Lagger
	logger *slog.Logger
}

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descLag }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lags, err := c.l.Lag(ctx)
	if err != nil {
		c.logger.Warn("metrics: consumer lag", "err", err)
		return
	}
	for _, l := range lags {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(l.Messages), l.Topic, l.Group)
	}
}
