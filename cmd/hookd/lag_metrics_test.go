package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/testenv"
)

// fakeLagger is an eventlog.Lagger that answers what the test sets.
type fakeLagger struct {
	mu   sync.Mutex
	lags []eventlog.Lag
	err  error
}

func (f *fakeLagger) set(lags []eventlog.Lag, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lags, f.err = lags, err
}

func (f *fakeLagger) Lag(context.Context) ([]eventlog.Lag, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lags, f.err
}

// gatherGauges returns the samples of reg's gauges as "name{label="v",...}" →
// value.
func gatherGauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := f.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestMetricsConsumerLagOutage scrapes the consumer lag of a log that
// cannot tell it, several times, then of one that can again: while it
// cannot, hookd_consumer_lag_error is 1 and the failure is logged once,
// as an outage, rather than a warning each scrape; once it can, the error
// gauge is 0, the lag is back and the outage's end is logged, once.
func TestMetricsConsumerLagOutage(t *testing.T) {
	var logs testenv.Buffer
	lagger := &fakeLagger{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newLagCollector(lagger, slog.New(slog.NewTextHandler(&logs, nil))))
	lines := func(level string) int { return strings.Count(logs.String(), "level="+level) }

	const scrapes = 5
	lagger.set(nil, errors.New("consumer lag: connection refused"))
	for i := range scrapes {
		got := gatherGauges(t, reg)
		if got["hookd_consumer_lag_error"] != 1 || len(got) != 1 {
			t.Fatalf("scrape %d with the log away: %v, want hookd_consumer_lag_error 1 alone", i, got)
		}
	}
	if n := lines("WARN") + lines("ERROR"); n != 1 || !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("%d warnings and errors logged for %d failed scrapes, want 1 with the cause:\n%s", n, scrapes, logs.String())
	}

	lagger.set([]eventlog.Lag{{Topic: "events", Group: "store", Messages: 7}}, nil)
	for i := range 2 {
		want := map[string]float64{`hookd_consumer_lag_error`: 0, `hookd_consumer_lag{group="store",topic="events"}`: 7}
		if got := gatherGauges(t, reg); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("scrape %d with the log back: %v, want %v", i, got, want)
		}
	}
	out := logs.String()
	if n := strings.Count(out, `msg="metrics: reading the consumer lag succeeded again" failures=5`); n != 1 || lines("INFO") != 1 || lines("WARN")+lines("ERROR") != 1 {
		t.Errorf("logged, once the lag is read again:\n%s\nwant the outage's start and its end, with its %d failures, once each", out, scrapes)
	}
}
