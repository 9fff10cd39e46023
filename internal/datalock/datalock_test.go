package datalock_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/internal/datalock"
)

// TestAcquire takes the lock, fails to take it again from another
// process, also once its file is deleted, and takes it once released.
func TestAcquire(t *testing.T) {
	if os.Getenv("DATALOCK_CHILD") != "" {
		_, err := datalock.Acquire(os.Getenv("DATALOCK_CHILD"))
		if errors.Is(err, datalock.ErrHeld) {
			os.Exit(3)
		}
		if err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	child := func() int {
		cmd := exec.Command(os.Args[0], "-test.run=TestAcquire")
		cmd.Env = append(os.Environ(), "DATALOCK_CHILD="+dir)
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	l, err := datalock.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if code := child(); code != 3 {
		t.Errorf("another process taking a held lock exited %d, want 3 (ErrHeld)", code)
	}
	// A clean-up that deletes the lock file does not let a second one in.
	if err := os.Remove(filepath.Join(dir, datalock.FileName)); err != nil {
		t.Fatal(err)
	}
	if code := child(); code != 3 {
		t.Errorf("another process taking a held lock whose file was deleted exited %d, want 3 (ErrHeld)", code)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if code := child(); code != 0 {
		t.Errorf("another process taking a released lock exited %d, want 0", code)
	}
}
