//go:build unix

package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeReadonlyDataDir stops hookd, makes its data directory 0500 with
// every file in it still writable, and starts it again: serve refuses to
// start, naming the directory, rather than failing to open the log with
// SQLite's "attempt to write a readonly database". Root writes into any
// directory, so as root the second start runs as nobody, who then owns the
// data directory and its files.
func TestServeReadonlyDataDir(t *testing.T) {
	root := os.Geteuid() == 0
	base := t.TempDir()
	data := filepath.Join(base, "data")
	p := startHookd(t, data)
	postHook(t, p.hooks, openEvent(1))
	p.stop(t)

	// A copy of the binary that nobody may run, in directories nobody may
	// enter.
	bin := filepath.Join(base, "hookd")
	src, err := os.Open(hookdBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if root {
			if err := os.Chown(filepath.Join(data, e.Name()), 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
	}
	if root {
		if err := os.Chown(data, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(data, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(data, 0o700) })

	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data", data)
	if root {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("hookd serve started on a data directory it cannot write\n%s", stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("hookd serve: %v, want exit code 1\n%s", err, stderr.String())
	}
	want := "data directory " + data + " is not writable"
	if out := stderr.String(); !strings.Contains(out, want) || strings.Contains(out, "readonly database") {
		t.Errorf("stderr does not say %q (or blames a database):\n%s", want, out)
	}
}
