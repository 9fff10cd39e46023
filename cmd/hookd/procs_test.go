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
	if base < runtime.NumCPU() || cpuQuota(cgroupRoot, procCgroup) {
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
	self := filepath.Join(root, "self")
	writeFiles(t, root, map[string]string{"self": "0::/\n", "cpu.max": "200000 100000\n"})
	oldRoot, oldSelf := cgroupRoot, procCgroup
	cgroupRoot, procCgroup = root, self
	t.Cleanup(func() { cgroupRoot, procCgroup = oldRoot, oldSelf })
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
		files map[string]string // relative to the cgroup root; "self" is /proc/self/cgroup
		want  bool
	}{
		{"v2, no limit", map[string]string{"self": "0::/\n", "cpu.max": "max 100000\n"}, false},
		{"v2, a limit of 1.5 CPUs", map[string]string{"self": "0::/\n", "cpu.max": "150000 100000\n"}, true},
		{"v2, a limit on the parent of the process's cgroup", map[string]string{
			"self":                         "0::/system.slice/hookd.service\n",
			"system.slice/cpu.max":         "100000 100000\n",
			"system.slice/hookd.service/x": "",
		}, true},
		{"v2, no limit up the tree", map[string]string{
			"self":                               "0::/system.slice/hookd.service\n",
			"system.slice/cpu.max":               "max 100000\n",
			"system.slice/hookd.service/cpu.max": "max 100000\n",
		}, false},
		{"v2, the process's path not mounted (a container)", map[string]string{"self": "0::/docker/abc\n", "cpu.max": "50000 100000\n"}, true},
		{"v1, no limit", map[string]string{"self": "4:memory:/\n2:cpu,cpuacct:/\n", "cpu,cpuacct/cpu.cfs_quota_us": "-1\n"}, false},
		{"v1, a limit", map[string]string{"self": "4:memory:/\n2:cpu,cpuacct:/\n", "cpu,cpuacct/cpu.cfs_quota_us": "50000\n"}, true},
		{"v1, only another controller limited", map[string]string{"self": "4:memory:/\n", "memory/cpu.cfs_quota_us": "50000\n"}, false},
		{"no cgroup files", map[string]string{"self": "0::/\n"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tc.files)
			if got := cpuQuota(root, filepath.Join(root, "self")); got != tc.want {
				t.Errorf("cpuQuota = %v, want %v", got, tc.want)
			}
		})
	}
	if cpuQuota(t.TempDir(), "/nonexistent/cgroup") {
		t.Error("cpuQuota without /proc/self/cgroup = true, want false")
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
