package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics and returns each sample as "name{label="v",...}"
// (labels sorted) → value; histograms give their _count and _sum.
func scrape(t *testing.T, admin string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[strings.Replace(key, name, name+"_count", 1)] = float64(m.GetHistogram().GetSampleCount())
				out[strings.Replace(key, name, name+"_sum", 1)] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// TestMetricsFollowEvents posts events to a real hookd and checks that the
// counters and gauges on /metrics move by exactly what was sent, and that
// each hook request is logged once with its source, status, events and
// latency.
func TestMetricsFollowEvents(t *testing.T) {
	target := newHookReceiver(t, 1000) // every action fails: one dead letter
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	rule := "rules:\n  - name: on-bounce\n    when: type == \"bounce\"\n    actions:\n      - http: { url: \"" + target.URL + "/x\" }\n        retry: 1x10ms\n"
	if err := os.WriteFile(rulesFile, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(config, []byte("sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - rules.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHookd(t, t.TempDir(), "--config", config)
	before := scrape(t, p.admin)

	at := time.Now().Add(-time.Minute)
	opens := []string{mailjetEvent("open", 1, "a@x.test", at, ""), mailjetEvent("open", 2, "b@x.test", at, ""), mailjetEvent("open", 3, "c@x.test", at, "")}
	bounce := mailjetEvent("bounce", 4, "d@x.test", at, `"hard_bounce":true,"error":"user unknown"`)
	postHook(t, p.hooks, "["+strings.Join(opens, ",")+"]")
	postHook(t, p.hooks, bounce)
	if a := postHook(t, p.hooks, opens[0]); a.Duplicates != 1 {
		t.Fatalf("redelivery: %+v, want a duplicate", a)
	}
	resp, err := http.Post(p.hooks+"/hooks/mailjet", "application/json", strings.NewReader(`{"event":`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed body: %d", resp.StatusCode)
	}

	// The store catches up, the bounce's job dies and suspends its target.
	var after map[string]float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		after = scrape(t, p.admin)
		if after[`hookd_jobs{status="dead"}`] == 1 && after[`hookd_consumer_lag{group="store",topic="events"}`] == 0 &&
			after[`hookd_store_projected_total{kind="event"}`]-before[`hookd_store_projected_total{kind="event"}`] == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics did not settle: %v\n%s", after, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for key, want := range map[string]float64{
		`hookd_events_received_total{source="mailjet",type="open"}`:          3,
		`hookd_events_received_total{source="mailjet",type="bounce"}`:        1,
		`hookd_events_duplicate_total{source="mailjet"}`:                     1,
		`hookd_requests_rejected_total{reason="malformed",source="mailjet"}`: 1,
		`hookd_ingest_seconds_count{source="mailjet"}`:                       3,
		`hookd_rule_matches_total{rule="on-bounce"}`:                         1,
		`hookd_action_jobs_total{action="http",status="retry"}`:              1,
		`hookd_action_jobs_total{action="http",status="dead"}`:               1,
		`hookd_action_seconds_count{action="http"}`:                          2,
		`hookd_action_dead_letters_total{action="http",refused="false"}`:     1,
		`hookd_jobs{status="dead"}`:                                          1,
		`hookd_targets_suspended`:                                            1,
		`hookd_store_projected_total{kind="event"}`:                          4,
	} {
		if got := after[key] - before[key]; got != want {
			t.Errorf("%s moved by %v, want %v", key, got, want)
		}
	}
	if after[`hookd_commit_batch_events_count`]-before[`hookd_commit_batch_events_count`] < 1 {
		t.Error("hookd_commit_batch_events recorded no group commit")
	}
	if _, ok := after[`hookd_consumer_lag{group="store",topic="events"}`]; !ok {
		t.Error("no hookd_consumer_lag for the store's consumer group")
	}

	// One log line per hook request, JSON (--log-format json).
	var lines []string
	for _, line := range strings.Split(p.output(), "\n") {
		var rec struct {
			Msg, Source, Route string
			Status, Events     int
			Duplicates         int
			LatencyMs          *float64 `json:"latency_ms"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "hook request" {
			continue
		}
		if rec.LatencyMs == nil || *rec.LatencyMs < 0 {
			t.Errorf("request log line without latency_ms: %s", line)
		}
		lines = append(lines, fmt.Sprintf("%s %s %d %d/%d", rec.Source, rec.Route, rec.Status, rec.Events, rec.Duplicates))
	}
	want := []string{"mailjet /hooks/mailjet 200 3/0", "mailjet /hooks/mailjet 200 1/0", "mailjet /hooks/mailjet 200 1/1", "mailjet /hooks/mailjet 400 0/0"}
	if strings.Join(lines, "; ") != strings.Join(want, "; ") {
		t.Errorf("request log lines %q, want %q", lines, want)
	}
	p.stop(t)
}
