package redact_test

import (
	"testing"

	"github.com/hookd/hookd/internal/redact"
)

func TestPath(t *testing.T) {
	tokens := []string{"correcthorsebatterystaple"}
	tests := []struct{ name, in, want string }{
		{"route words", "/hooks/mailjet-transactional", "/hooks/mailjet-transactional"},
		{"configured token without digits", "/hooks/mailjet/correcthorsebatterystaple", "/hooks/mailjet/xxxxx"},
		{"rotated token, letters and digits", "/hooks/mailjet/hook-token-0123456789", "/hooks/mailjet/xxxxx"},
		{"rotated token, base64url", "/in/tok/Zm9vYmFyQmF6UXV4LWFiYw", "/in/tok/xxxxx"},
		{"hex", "/hooks/mailjet/9f86d081884c7d659a2feaa0c55ad015", "/hooks/mailjet/xxxxx"},
		{"percent-encoded", "/hooks/mailjet/tok%2Ben%2F0123456789abcdef", "/hooks/mailjet/xxxxx"},
		{"short with digits", "/v1/hooks2025/mailjet", "/v1/hooks2025/mailjet"},
		{"long word, one case", "/hooks/mailjetmailjetmailjet", "/hooks/mailjetmailjetmailjet"},
		{"root", "/", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact.Path(tt.in, tokens); got != tt.want {
				t.Errorf("Path(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
