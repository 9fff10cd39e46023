package main

import (
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestMetricsBuildInfo checks that a running hookd tells which build it is,
// on /metrics and in its start line, as hookd version does.
func TestMetricsBuildInfo(t *testing.T) {
	bi, err := buildinfo.ReadFile(hookdBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	want := buildOf(bi, "", bi.GoVersion)
	p := startHookd(t, t.TempDir())
	v := want.Version
	if v == "" {
		v = "(devel)"
	}
	key := fmt.Sprintf("hookd_build_info{goversion=%q,revision=%q,version=%q}", want.Go, want.revision(), v)
	got := scrape(t, p.admin)
	if got[key] != 1 {
		var series []string
		for k := range got {
			if strings.HasPrefix(k, "hookd_build_info") {
				series = append(series, k)
			}
		}
		t.Errorf("/metrics has %v, want %s 1", series, key)
	}
	var start struct{ Version string }
	for line := range strings.Lines(p.output()) {
		if strings.Contains(line, `"msg":"hookd starting`) {
			if err := json.Unmarshal([]byte(line), &start); err != nil {
				t.Fatal(err)
			}
		}
	}
	if start.Version != want.String() {
		t.Errorf("start line's version = %q, want %q", start.Version, want.String())
	}
}
