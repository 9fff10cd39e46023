// Package datalock marks a data directory as used by a running hookd serve,
// with advisory locks on the directory itself and on a file in it, which
// the operating system releases when the process ends, however it ends.
// The directory's lock holds when the file is deleted; the file's is what
// earlier versions of hookd take. Commands that must not run beside
// a server (hookd rebuild) take the same lock and fail when it is held.
// CheckWritable tells, before anything opens them, that the directory's
// database files can be written.
package datalock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the lock file in the data directory.
const FileName = "hookd.lock"

// ErrHeld is returned, wrapped, when another process holds the lock.
var ErrHeld = errors.New("data directory is in use by another hookd process")

// Lock is a held lock; Release lets it go.
type Lock struct{ files []*os.File }

// Acquire takes the lock of the data directory dir without waiting, or
// fails with an error wrapping ErrHeld when another process holds it.
func Acquire(dir string) (*Lock, error) {
	l := &Lock{}
	for _, path := range []string{dir, filepath.Join(dir, FileName)} {
		var (
			f   *os.File
			err error
		)
		if path == dir {
			f, err = os.Open(dir)
		} else {
			f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		}
		if err == nil {
			if err = lock(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			l.Release()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		l.files = append(l.files, f)
	}
	return l, nil
}

// Release lets the lock go.
func (l *Lock) Release() error {
	var errs []error
	for _, f := range l.files {
		errs = append(errs, f.Close()) // closing a file releases its lock
	}
	l.files = nil
	return errors.Join(errs...)
}

// CheckWritable returns an error naming the data directory dir when no
// file can be created in it, or else the first of its SQLite files (*.db
// and their -wal and -shm files) that exists but cannot be opened for
// writing, such as one a copy or a chown left read-only. SQLite would open
// such a file read-only without a word, and every write would fail later:
// each hook request would be answered 503. And SQLite creates a database's
// -wal and -shm files beside it when it opens the database, so writable
// files in a directory that is not fail at the first write too, with an
// error that names neither ("attempt to write a readonly database").
//
// The directory is tried by creating a file in it and removing it, so that
// whatever stops SQLite stops the check: modes, ACLs, a read-only mount.
func CheckWritable(dir string) error {
	probe, err := os.CreateTemp(dir, ".hookd-writable-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: hookd creates files in it (the SQLite databases' -wal and -shm files): %w", dir, err)
	}
	probe.Close()
	if err := os.Remove(probe.Name()); err != nil {
		return fmt.Errorf("data directory %s: remove %s: %w", dir, probe.Name(), err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.db*"))
	if err != nil {
		return err
	}
	for _, path := range files {
		if !strings.HasSuffix(path, ".db") && !strings.HasSuffix(path, ".db-wal") && !strings.HasSuffix(path, ".db-shm") {
			continue
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		f.Close()
	}
	return nil
}
