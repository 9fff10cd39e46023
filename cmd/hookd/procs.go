package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// procs counts the serve calls running with syncProc's extra P.
var procs struct {
	sync.Mutex
	n int
}

// cgroupRoot is where the cgroup file system is mounted, as a container
// sees its own cgroup.
var cgroupRoot = "/sys/fs/cgroup"

// syncProc gives the Go scheduler one P more than the CPUs while hookd
// serves with the embedded SQLite log, and returns the function that puts
// Go's default back. It does nothing when the GOMAXPROCS environment
// variable is set (the operator's figure), or under a CPU quota (a
// container's CPU limit), where a P beyond the quota would have hookd
// throttled.
//
// SQLite's fsync of each group commit, and of each checkpoint, blocks its
// thread for 0.2 to several milliseconds, and that thread holds a P. Go
// gives such a P to another thread only when its monitor notices, which
// under ingest load it mostly does not: in a runtime trace of one second of
// BenchmarkIngest, 736 of the 793 system calls longer than 50 µs kept their
// P. With as many Ps as CPUs, a CPU then idles through every fsync while
// requests queue; with one more, the other CPUs go on serving them.
func syncProc(backend string, logger *slog.Logger) (restore func()) {
	if backend != "sqlite" || os.Getenv("GOMAXPROCS") != "" {
		return func() {}
	}
	procs.Lock()
	defer procs.Unlock()
	if procs.n == 0 {
		n := runtime.GOMAXPROCS(0)
		if n < runtime.NumCPU() || cpuQuota(cgroupRoot) {
			return func() {}
		}
		runtime.GOMAXPROCS(n + 1)
		logger.Info("one P more than the CPUs, for the threads that wait for fsync (set GOMAXPROCS to choose)", "gomaxprocs", n+1)
	}
	procs.n++
	return func() {
		procs.Lock()
		defer procs.Unlock()
		if procs.n--; procs.n == 0 {
			runtime.SetDefaultGOMAXPROCS()
		}
	}
}

// cpuQuota reports whether the cgroup file system mounted at root sets a
// CPU bandwidth limit: cpu.max in cgroup v2, cpu.cfs_quota_us in v1.
func cpuQuota(root string) bool {
	if b, err := os.ReadFile(filepath.Join(root, "cpu.max")); err == nil {
		return !strings.HasPrefix(string(b), "max ")
	}
	for _, dir := range []string{"cpu", "cpu,cpuacct"} {
		if b, err := os.ReadFile(filepath.Join(root, dir, "cpu.cfs_quota_us")); err == nil {
			return strings.TrimSpace(string(b)) != "-1"
		}
	}
	return false
}
