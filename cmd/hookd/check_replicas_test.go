package main

import (
	"path/filepath"
	"testing"
)

// TestCheckReplicaConfigs checks the shipped replica configurations with
// their variables set.
func TestCheckReplicaConfigs(t *testing.T) {
	t.Setenv("HOOKD_POSTGRES_DSN", "postgres://hookd@db.internal:5432/hookd")
	t.Setenv("HOOKD_NATS_URL", "nats://nats.internal:4222")
	t.Setenv("MAILJET_HOOK_PASSWORD", "hook-password")
	for _, tc := range []struct{ file, want string }{
		{"hookd-postgres.yaml", "1 source: mailjet at POST /hooks/mailjet; log postgres; store postgres; 0 rules"},
		{"hookd-nats.yaml", "1 source: mailjet at POST /hooks/mailjet; log nats; store postgres; 0 rules"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("..", "..", "configs", tc.file)
			out, _, err := runHookd(t, "check", "--config", path)
			if err != nil {
				t.Fatal(err)
			}
			if want := path + ": ok (" + tc.want + ")\n"; out != want {
				t.Errorf("got %q, want %q", out, want)
			}
		})
	}
}
