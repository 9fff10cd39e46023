//go:build unix

package datalock_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hookd/hookd/internal/datalock"
)

// TestCheckWritable: a database file of the data directory that the
// process may not write is named in the error, and so is the directory
// when no file can be created in it; the others pass. As root, who may
// write any file, the check runs in a child process as nobody, who owns
// the directory.
func TestCheckWritable(t *testing.T) {
	if dir := os.Getenv("DATALOCK_WRITABLE"); dir != "" {
		if err := datalock.CheckWritable(dir); err != nil {
			fmt.Print(err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	dir, bin := t.TempDir(), filepath.Join(t.TempDir(), "datalock.test")
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(dir), dir, filepath.Dir(bin)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	check := func() (string, bool) {
		t.Helper()
		if os.Geteuid() != 0 {
			err := datalock.CheckWritable(dir)
			if err != nil {
				return err.Error(), false
			}
			return "", true
		}
		cmd := exec.Command(bin, "-test.run=^TestCheckWritable$")
		cmd.Env = append(os.Environ(), "DATALOCK_WRITABLE="+dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			return string(out), false
		}
		if err != nil {
			t.Fatalf("child: %v %s", err, out)
		}
		return "", true
	}
	for _, name := range []string{"hookd.db", "store.db", "store.db-wal", "hookd.lock", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	if msg, ok := check(); !ok {
		t.Fatalf("writable files: %s", msg)
	}
	for _, name := range []string{"hookd.lock", "notes.txt"} {
		if err := os.Chmod(filepath.Join(dir, name), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if msg, ok := check(); !ok {
		t.Fatalf("files that are not databases were checked: %s", msg)
	}
	wal := filepath.Join(dir, "store.db-wal")
	if err := os.Chmod(wal, 0o444); err != nil {
		t.Fatal(err)
	}
	if msg, ok := check(); ok || !strings.Contains(msg, wal) || !strings.Contains(msg, "permission denied") {
		t.Errorf("a read-only %s: ok %v, error %q, want it named with permission denied", wal, ok, msg)
	}

	if err := os.Chmod(wal, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	if msg, ok := check(); ok || !strings.Contains(msg, "data directory "+dir+" is not writable") || !strings.Contains(msg, "permission denied") {
		t.Errorf("a data directory of mode 0500 with writable files: ok %v, error %q, want the directory named with permission denied", ok, msg)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 5 {
		t.Errorf("the check left files behind: %v", entries)
	}
}
