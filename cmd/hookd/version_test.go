package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVersionOf(t *testing.T) {
	vcs := func(rev, at, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: at}, {Key: "vcs.modified", Value: modified}}}
	}
	const rev = "3885c881447656732990cc913c07dc8568d222a0"
	tests := []struct {
		name      string
		bi        *debug.BuildInfo
		ldVersion string
		want      string
		revision  string // the metric's label
	}{
		{"nothing recorded", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "", "(devel) (go1.26.0)", ""},
		{"no build info", nil, "", "(devel) (go1.26.0)", ""},
		{"module version", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "", "v1.4.0 (go1.26.0)", ""},
		{"ldflags win over the module", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.5.0-rc1", "v1.5.0-rc1 (go1.26.0)", ""},
		{"clean checkout", vcs(rev, "2026-03-01T12:00:00Z", "false"), "", "3885c8814476 (2026-03-01T12:00:00Z, go1.26.0)", "3885c8814476"},
		{"dirty checkout", vcs(rev, "2026-03-01T12:00:00Z", "true"), "", "3885c8814476+dirty (2026-03-01T12:00:00Z, go1.26.0)", "3885c8814476+dirty"},
		{"untagged checkout", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260301120000-3885c8814476+dirty"}, Settings: vcs(rev, "2026-03-01T12:00:00Z", "true").Settings},
			"", "3885c8814476+dirty (2026-03-01T12:00:00Z, go1.26.0)", "3885c8814476+dirty"},
		{"tagged checkout", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.1-0.20260301120000-3885c8814476"}, Settings: vcs(rev, "2026-03-01T12:00:00Z", "false").Settings},
			"", "v1.4.1-0.20260301120000-3885c8814476 (3885c8814476, 2026-03-01T12:00:00Z, go1.26.0)", "3885c8814476"},
		{"ldflags and checkout", vcs(rev, "2026-03-01T12:00:00Z", "false"), "v2.0.0", "v2.0.0 (3885c8814476, 2026-03-01T12:00:00Z, go1.26.0)", "3885c8814476"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := buildOf(tt.bi, tt.ldVersion, "go1.26.0")
			if got := b.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := b.revision(); got != tt.revision {
				t.Errorf("revision() = %q, want %q", got, tt.revision)
			}
		})
	}
}

// TestVersionOfCheckoutBuild builds hookd in a git checkout of this tree,
// clean and then with a change, the way an operator builds it, and checks
// that hookd version tells the two builds apart by commit and +dirty. The
// tree is copied into a new repository because the go command does not
// record the commit in a git worktree (.git is a file there), and so that
// uncommitted changes under test are what gets built.
func TestVersionOfCheckoutBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hookd twice")
	}
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=hookd test", "-c", "user.email=test@hookd.invalid"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	repo := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(files, "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(root, f))
		if os.IsNotExist(err) { // deleted and not yet committed
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(repo, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(repo, "init", "-q")
	git(repo, "add", "-A")
	git(repo, "commit", "-q", "-m", "snapshot")
	rev := git(repo, "rev-parse", "--short=12", "HEAD")
	sec, err := strconv.ParseInt(git(repo, "show", "-s", "--format=%ct", "HEAD"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(sec, 0).UTC().Format(time.RFC3339)

	versionOf := func(name string) string {
		t.Helper()
		bin := filepath.Join(t.TempDir(), name)
		cmd := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/hookd")
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatalf("hookd version: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	clean := versionOf("clean")
	if err := os.WriteFile(filepath.Join(repo, "NOTES"), []byte("a local change\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirty := versionOf("dirty")

	for _, tt := range []struct{ name, got, want string }{
		{"clean", clean, "hookd " + rev + " (" + at + ", " + runtime.Version() + ")"},
		{"dirty", dirty, "hookd " + rev + "+dirty (" + at + ", " + runtime.Version() + ")"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s build: hookd version = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if clean == dirty || strings.Contains(clean, "(devel)") {
		t.Errorf("builds not told apart: %q and %q", clean, dirty)
	}
}
