//go:build unix

package datafile_test

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/hookd/hookd/internal/datafile"
)

// TestCreate checks, under the usual umask 022, that Create makes a
// missing file 0600 and empty, and leaves an existing file, its mode and
// its content as they are.
func TestCreate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	tests := []struct {
		name     string
		existing os.FileMode // 0: no file before
		content  string
		wantMode os.FileMode
	}{
		{name: "new file", wantMode: 0o600},
		{name: "existing 0644 file", existing: 0o644, content: "data", wantMode: 0o644},
		{name: "existing 0640 file", existing: 0o640, content: "data", wantMode: 0o640},
		{name: "existing 0600 file", existing: 0o600, content: "data", wantMode: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			if tt.existing != 0 {
				if err := os.WriteFile(path, []byte(tt.content), tt.existing); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			if err := datafile.Create(path); err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode() != tt.wantMode {
				t.Errorf("mode %v, want %v", info.Mode(), tt.wantMode)
			}
			if got, _ := os.ReadFile(path); string(got) != tt.content {
				t.Errorf("content %q, want %q", got, tt.content)
			}
		})
	}
	if err := datafile.Create(filepath.Join(t.TempDir(), "missing", "x.db")); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}

// TestExposed checks that Exposed names the regular files that group or
// others may use, with their modes, and nothing else.
func TestExposed(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{
		"a.db": 0o600, "b.db": 0o644, "b.db-wal": 0o640, "c": 0o604, "d": 0o700, "e": 0o400, "f": 0o710,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, nil, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := datafile.Exposed(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"b.db -rw-r--r--", "b.db-wal -rw-r-----", "c -rw----r--", "f -rwx--x---"}
	if !slices.Equal(got, want) {
		t.Errorf("Exposed = %q, want %q", got, want)
	}
	if _, err := datafile.Exposed(filepath.Join(dir, "missing")); err == nil {
		t.Error("Exposed of a missing directory succeeded")
	}
}
