package mjapi_test

import (
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/mjapi"
)

func TestRedact(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"password", "https://hookd:s3cret-pass@h.example.com/hooks/mailjet", "https://hookd:xxxxx@h.example.com/hooks/mailjet"},
		{"query token", "https://h.example.com/hooks/mailjet?token=abcdefghijklmnop", "https://h.example.com/hooks/mailjet?token=xxxxx"},
		{"nothing secret", "https://h.example.com/hooks/mailjet", "https://h.example.com/hooks/mailjet"},
		{"not a URL", "http://[::1", "(not a URL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mjapi.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseEvents(t *testing.T) {
	tests := []struct{ name, in, want, wantErr string }{
		{"all", "all", "sent,open,click,bounce,spam,blocked,unsub", ""},
		{"some, repeated", "open, click,open", "open,click", ""},
		{"unknown", "open,opened", "", `unknown event type "opened"`},
		{"empty item", "open,", "", `unknown event type ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mjapi.ParseEvents(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != tt.want {
				t.Errorf("ParseEvents(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}
