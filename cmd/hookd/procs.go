package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// procs counts the serve calls running with syncProc's extra P, and keeps
// the GOMAXPROCS from before the first.
var procs struct {
	sync.Mutex
	n, prev int
}

// cgroupRoot is where the cgroup file systems are mounted, and
// procCgroup the file that names the process's cgroups.
var (
	cgroupRoot = "/sys/fs/cgroup"
	procCgroup = "/proc/self/cgroup"
)

// syncProc gives the Go scheduler one P more than the CPUs while hookd
// serves with the embedded SQLite log, and returns the function that puts
// the figure from before back. It does nothing when the GOMAXPROCS environment
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
		if n < runtime.NumCPU() || cpuQuota(cgroupRoot, procCgroup) {
			return func() {}
		}
		procs.prev = runtime.GOMAXPROCS(n + 1)
		logger.Info("one P more than the CPUs, for the threads that wait for fsync (set GOMAXPROCS to choose)", "gomaxprocs", n+1)
	}
	procs.n++
	return func() {
		procs.Lock()
		defer procs.Unlock()
		if procs.n--; procs.n == 0 {
			runtime.GOMAXPROCS(procs.prev)
		}
	}
}

// cpuQuota reports whether a CPU bandwidth limit applies to the process:
// cpu.max (cgroup v2) or cpu.cfs_quota_us (v1) of its cgroup or of one
// above it, with the cgroups named in the file self (/proc/self/cgroup)
// and mounted under root. A container that sees its own cgroup as the root
// finds its limit at the root.
func cpuQuota(root, self string) bool {
	b, err := os.ReadFile(self)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		// hierarchy-id:controllers:path; v2 is "0::path".
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		mount, file, unlimited := "", "cpu.max", "max"
		if parts[0] != "0" || parts[1] != "" {
			if !slices.Contains(strings.Split(parts[1], ","), "cpu") {
				continue
			}
			mount, file, unlimited = parts[1], "cpu.cfs_quota_us", "-1"
		}
		base := filepath.Join(root, mount)
		for dir := filepath.Join(base, parts[2]); strings.HasPrefix(dir, base); dir = filepath.Dir(dir) {
			if v, err := os.ReadFile(filepath.Join(dir, file)); err == nil {
				if f := strings.Fields(string(v)); len(f) > 0 && f[0] != unlimited {
					return true
				}
			}
			if dir == base {
				break
			}
		}
	}
	return false
}
