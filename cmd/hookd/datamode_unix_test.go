//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// exposedMsg begins the warning hookd serve logs about data files open to
// other users.
const exposedMsg = "data files are open to other users"

// TestDataFileModes runs hookd serve under the usual umask 022, ingests
// events, and stats every file of the data directory while it runs and
// after it stopped: the files hookd creates are 0600 (the SQLite files,
// their -wal and -shm, the lock, the runner id) in a 0750 directory. Files
// that exist with another mode (an older hookd's 0644) keep it, and the
// start warns of them once.
func TestDataFileModes(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	// Each is there while hookd serve runs on a SQLite log and store.
	running := []string{"hookd.db", "hookd.db-shm", "hookd.db-wal", "hookd.lock", "nonces.db", "nonces.db-shm",
		"nonces.db-wal", "runner-id", "store.db", "store.db-shm", "store.db-wal"}
	tests := []struct {
		name string
		// before, when not 0, is the mode every file of a first run of
		// hookd is given before the run checked.
		before   os.FileMode
		wantMode os.FileMode
		wantWarn bool
	}{
		{name: "new data directory", wantMode: 0o600},
		{name: "files of an older hookd", before: 0o644, wantMode: 0o644, wantWarn: true},
		{name: "files opened to a group", before: 0o640, wantMode: 0o640, wantWarn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			n := 0
			ingest := func(p *proc) {
				t.Helper()
				want := map[string]bool{}
				var events []string
				for range 20 {
					n++
					events = append(events, openEvent(n))
				}
				ids, err := idsOf("[" + strings.Join(events, ",") + "]")
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range ids {
					want[id] = true
				}
				if a := postHook(t, p.hooks, "["+strings.Join(events, ",")+"]"); a.Accepted != len(events) {
					t.Fatalf("%d of %d events accepted", a.Accepted, len(events))
				}
				if missing := waitStored(t, p.admin, want); len(missing) > 0 {
					t.Fatalf("events not stored: %v", missing)
				}
			}
			if tt.before != 0 {
				p := startHookd(t, data)
				ingest(p)
				p.stop(t)
				entries, err := os.ReadDir(data)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					if err := os.Chmod(filepath.Join(data, e.Name()), tt.before); err != nil {
						t.Fatal(err)
					}
				}
			}

			p := startHookd(t, data)
			ingest(p)
			got := modes(t, data)
			var names []string
			for name, mode := range got {
				names = append(names, name)
				if mode != tt.wantMode {
					t.Errorf("while serving, %s is %v, want %v", name, mode, tt.wantMode)
				}
			}
			slices.Sort(names)
			for _, name := range running {
				if _, ok := got[name]; !ok {
					t.Errorf("while serving, the data directory holds %v, without %s", names, name)
				}
			}
			warned := exposedWarning(t, p.output())
			p.stop(t)
			for name, mode := range modes(t, data) {
				if mode != tt.wantMode {
					t.Errorf("after a stop, %s is %v, want %v", name, mode, tt.wantMode)
				}
			}
			if info, err := os.Stat(data); err != nil || info.Mode().Perm() != 0o750 {
				t.Errorf("data directory: %v, %v; want mode 0750", info.Mode(), err)
			}

			if !tt.wantWarn {
				if warned != nil {
					t.Errorf("hookd warned of files %v, want no warning", warned)
				}
				return
			}
			// Those that were there when it started: the -wal and -shm
			// files are made while it opens the databases, after them.
			var want []string
			for _, name := range running {
				if !strings.HasSuffix(name, "-wal") && !strings.HasSuffix(name, "-shm") {
					want = append(want, fmt.Sprintf("%s %v", name, tt.wantMode))
				}
			}
			for _, w := range want {
				if !slices.Contains(warned, w) {
					t.Errorf("hookd warned of files %v, want %q among them", warned, w)
				}
			}
		})
	}
}

// modes returns the mode of every file in dir by name.
func modes(t *testing.T, dir string) map[string]os.FileMode {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]os.FileMode{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = info.Mode()
	}
	return out
}

// exposedWarning returns the files of hookd's warning of exposed data
// files in its JSON log, nil when it did not warn. It fails t when hookd
// warned more than once.
func exposedWarning(t *testing.T, log string) []string {
	t.Helper()
	var files []string
	warnings := 0
	for line := range strings.Lines(log) {
		var rec struct {
			Msg   string
			Files []string
		}
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, exposedMsg) {
			warnings++
			files = rec.Files
		}
	}
	if warnings > 1 {
		t.Errorf("hookd warned %d times of exposed data files, want once", warnings)
	}
	return files
}
