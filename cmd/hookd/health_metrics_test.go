package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMetricsHealth checks the gauges and counters of what serve otherwise
// tells only in its logs: the failure counters are there at 0 from the
// start, so that an alert on their rate sees them; hookd_rules_load_errors
// follows a rule file that stops loading and loads again; hookd_ready
// turns 0 when /readyz does, in the drain after SIGTERM.
func TestMetricsHealth(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o700); err != nil {
		t.Fatal(err)
	}
	good := "rules:\n  - name: on-open\n    when: type == \"open\"\n    actions:\n      - log: {}\n"
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(rulesDir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", good)
	config := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(config, []byte("sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - rules/*.yaml\nlimits: { drain: 3s }\nretention: { events: 90d }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHookd(t, t.TempDir(), "--config", config)

	// waitFor scrapes until metric has value want.
	waitFor := func(metric string, want float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, ok := scrape(t, p.admin)[metric]
			if ok && got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s = %v (exported: %v), want %v", metric, got, ok, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	got := scrape(t, p.admin)
	for _, m := range []string{
		`hookd_ready`,
		`hookd_rules_load_errors`,
		`hookd_retention_failures_total{from="store"}`,
		`hookd_retention_failures_total{from="log"}`,
		`hookd_log_checkpoint_failures_total`,
		`hookd_log_lease_renewal_failures_total`,
		`hookd_store_checkpoint_failures_total`,
		`hookd_action_claim_renewal_failures_total`,
		`hookd_action_claim_failures_total`,
		`hookd_action_record_failures_total`,
		`hookd_log_read_failures_total`,
		`hookd_log_offset_write_failures_total`,
	} {
		want := 0.0
		if m == "hookd_ready" {
			want = 1
		}
		if v, ok := got[m]; !ok || v != want {
			t.Errorf("%s = %v (exported: %v), want %v", m, v, ok, want)
		}
	}

	write("b.yaml", "rules:\n  - name: broken\n    when: type ==\n    actions:\n      - log: {}\n")
	write("c.yaml", "rules:\n  - name: broken-too\n    when: nope(\n    actions:\n      - log: {}\n")
	waitFor("hookd_rules_load_errors", 2)
	if err := os.Remove(filepath.Join(rulesDir, "c.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor("hookd_rules_load_errors", 1)
	write("b.yaml", strings.Replace(good, "on-open", "on-open-too", 1))
	waitFor("hookd_rules_load_errors", 0)

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor("hookd_ready", 0)
}
