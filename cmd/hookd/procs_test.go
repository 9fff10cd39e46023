package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestSyncProc(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(base) })
	// Go's default below the CPU count, or a quota, means no extra P.
	extra := 1
	if base < runtime.NumCPU() || cpuQuota(cgroupRoot) {
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
			logger := slog.New(slog.DiscardHandler)
			restore := syncProc(tc.backend, logger)
			if got := runtime.GOMAXPROCS(0); got != tc.want {
				t.Errorf("GOMAXPROCS while serving = %d, want %d", got, tc.want)
			}
			// A second serve in the same process adds nothing more, and
			// the default comes back only when the last one returns.
			inner := syncProc(tc.backend, logger)
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

func TestSyncProcQuota(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(base) })
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cpu.max"), []byte("200000 100000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := cgroupRoot
	cgroupRoot = root
	t.Cleanup(func() { cgroupRoot = old })
	t.Setenv("GOMAXPROCS", "")
	restore := syncProc("sqlite", slog.New(slog.DiscardHandler))
	defer restore()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Errorf("GOMAXPROCS under a CPU quota = %d, want %d", got, base)
	}
}

func TestCPUQuota(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string
		value string
		want  bool
	}{
		{"v2 without limit", "cpu.max", "max 100000\n", false},
		{"v2 with a limit of 1.5 CPUs", "cpu.max", "150000 100000\n", true},
		{"v1 without limit", "cpu/cpu.cfs_quota_us", "-1\n", false},
		{"v1 with a limit", "cpu/cpu.cfs_quota_us", "50000\n", true},
		{"v1 combined controllers", "cpu,cpuacct/cpu.cfs_quota_us", "200000\n", true},
		{"no cgroup files", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.file != "" {
				path := filepath.Join(root, tc.file)
				if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.value), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := cpuQuota(root); got != tc.want {
				t.Errorf("cpuQuota = %v, want %v", got, tc.want)
			}
		})
	}
}
