package listener_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/listener"
	_ "github.com/hookd/hookd/listener/generic"
)

// TestPreview tests that Preview decodes a body as a verified request to
// the source is decoded: with its provider's decoder and map, the headers
// given, a byte order mark trimmed and the checks of every adapter's
// events, without verifying the source's signature.
func TestPreview(t *testing.T) {
	signed := config.Source{Name: "app", Provider: "standardwebhooks", Verify: config.Verify{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	mapped := config.Source{Name: "esp", Provider: "generic", Map: config.Map{Type: "event", ID: `headers["X-Id"]`, Time: "ts"}}
	tests := []struct {
		name    string
		src     config.Source
		headers http.Header
		body    string
		wantID  string
		wantErr string
	}{
		{"unsigned delivery to a signing source", signed, http.Header{"Webhook-Id": {"msg_1"}},
			`{"type":"email.opened","timestamp":"2025-03-01T12:00:00Z","data":{"to":["a@x.com"]}}`,
			"standardwebhooks:app:msg_1", ""},
		{"a header the map reads", mapped, http.Header{"X-Id": {"e-1"}}, `{"event":"open","ts":1740830400}`, "generic:esp:e-1", ""},
		{"byte order mark", mapped, http.Header{"X-Id": {"e-2"}}, "\ufeff" + `{"event":"open","ts":1740830400}`, "generic:esp:e-2", ""},
		{"no webhook-id", signed, nil, `{"type":"email.opened","timestamp":"2025-03-01T12:00:00Z"}`, "", "missing webhook-id"},
		{"a header the map reads missing", mapped, nil, `{"event":"open","ts":1740830400}`, "", "map.id"},
		{"time out of range", mapped, http.Header{"X-Id": {"e-3"}}, `{"event":"open","ts":"9999-01-01T00:00:00Z"}`, "", "outside the years"},
		{"compressed", mapped, http.Header{"X-Id": {"e-4"}, "Content-Encoding": {"gzip"}}, `{"event":"open"}`, "", `Content-Encoding "gzip"`},
		{"unknown provider", config.Source{Name: "x", Provider: "nope"}, nil, `{}`, "", "unknown provider"},
		{"settings New refuses", config.Source{Name: "app", Provider: "standardwebhooks"}, nil, `{}`, "", "source app: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := listener.Preview(tt.src, tt.headers, []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].ID != tt.wantID || events[0].Source != tt.src.Name {
				t.Fatalf("events = %+v, want one with id %s of source %s", events, tt.wantID, tt.src.Name)
			}
		})
	}
}
