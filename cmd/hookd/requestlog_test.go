package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestServeRequestLogFailures: with request_log: failures, serve logs the
// line of a refused hook request and none for an accepted one.
func TestServeRequestLogFailures(t *testing.T) {
	p := startWithConfig(t, "request_log: failures\nsources:\n  - { name: mailjet, provider: mailjet }\n")
	postHook(t, p.hooks, openEvent(1))
	resp, err := http.Post(p.hooks+"/hooks/mailjet", "application/json", strings.NewReader(`{"event":`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed body: %d, want 400", resp.StatusCode)
	}
	p.stop(t)
	var statuses []int
	for line := range strings.Lines(p.output()) {
		var rec struct {
			Msg    string
			Status int
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "hook request" {
			statuses = append(statuses, rec.Status)
		}
	}
	if len(statuses) != 1 || statuses[0] != http.StatusBadRequest {
		t.Errorf("hook request lines with statuses %v, want one, 400:\n%s", statuses, p.output())
	}
}
