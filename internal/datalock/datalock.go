// Package datalock marks a data directory as used by a running hookd serve,
// with an advisory lock on a file in it that the operating system releases
// when the process ends, however it ends. Commands that must not run beside
// a server (hookd rebuild) take the same lock and fail when it is held.
package datalock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// FileName is the lock file in the data directory.
const FileName = "hookd.lock"

// ErrHeld is returned, wrapped, when another process holds the lock.
var ErrHeld = errors.New("data directory is in use by another hookd process")

// Lock is a held lock; Release lets it go.
type Lock struct{ f *os.File }

// Acquire takes the lock of the data directory dir without waiting, or
// fails with an error wrapping ErrHeld when another process holds it.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := lock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release lets the lock go.
func (l *Lock) Release() error {
	return l.f.Close() // closing the file releases its lock
}
