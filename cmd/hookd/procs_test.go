package main

import (
	"log/slog"
	"runtime"
	"testing"
)

func TestSyncProc(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(base) })
	// Go's default below the CPU count means a CPU quota: no extra P.
	extra := 1
	if base < runtime.NumCPU() {
		extra = 0
	}
	for _, tc := range []struct {
		name    string
		backend string
		env     string
		want    int
	}{
		{"sqlite", "sqlite", "", base + extra},
		{"postgres: no fsync in the process", "postgres", "", base},
		{"nats", "nats", "", base},
		{"GOMAXPROCS set by the operator", "sqlite", "3", base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", tc.env)
			restore := syncProc(tc.backend, slog.New(slog.DiscardHandler))
			if got := runtime.GOMAXPROCS(0); got != tc.want {
				t.Errorf("GOMAXPROCS while serving = %d, want %d", got, tc.want)
			}
			// A second serve in the same process adds nothing more, and
			// the default comes back only when the last one returns.
			inner := syncProc(tc.backend, slog.New(slog.DiscardHandler))
			if got := runtime.GOMAXPROCS(0); got != tc.want {
				t.Errorf("GOMAXPROCS with two serving = %d, want %d", got, tc.want)
			}
			inner()
			if got := runtime.GOMAXPROCS(0); got != tc.want {
				t.Errorf("GOMAXPROCS after the inner one returned = %d, want %d", got, tc.want)
			}
			restore()
			if got := runtime.GOMAXPROCS(0); got != base {
				t.Errorf("GOMAXPROCS after serving = %d, want %d", got, base)
			}
		})
	}
}
