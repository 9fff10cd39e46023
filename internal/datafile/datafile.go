// Package datafile keeps the files hookd writes in its data directory
// private to their owner: the SQLite files of the event log, the store and
// the replay tokens hold every event, with recipients' addresses, and the
// parameters of action jobs. It is internal because it serves only those
// packages and hookd serve.
package datafile

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
)

// Mode is the mode of the files hookd creates in its data directory:
// read and write for their owner only, whatever the umask.
const Mode fs.FileMode = 0o600

// Create creates path, an empty file of Mode, when nothing is there, and
// leaves an existing file as it is, its mode too. Call it before SQLite
// opens path for writing: SQLite takes an empty file for a new database,
// and gives the files it makes beside it (-wal, -shm, -journal) the mode of
// the database file, so all of them stay private; left to itself, it would
// create the database 0644 less the umask, readable by everyone under the
// usual umask 022.
func Create(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, Mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return nil
}

// Exposed returns the regular files directly in dir that their group or
// others may read, write or run, in the order of their names, each as its
// name and mode
// ("store.db -rw-r--r--"): files an older hookd made, or a user opened up.
func Exposed(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		if info.Mode().Perm()&0o077 != 0 {
			out = append(out, e.Name()+" "+info.Mode().Perm().String())
		}
	}
	return out, nil
}

// DSN returns the modernc.org/sqlite data source name of the database file
// at the absolute path abs, with the given PRAGMAs run on every new
// connection. It is a file: URI, so that a '?' or '#' in the path is
// escaped, not parsed.
func DSN(abs string, pragmas ...string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + q.Encode()
}
