package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	// The sqlite driver, pure Go.
	_ "modernc.org/sqlite"
)

// FileName is the name of the SQLite store in the data directory.
const FileName = "store.db"

// busyTimeoutMillis bounds how long a connection waits for another process
// holding the database lock (hookd events reading while hookd serve writes,
// a checkpoint) before it fails.
const busyTimeoutMillis = 5000

// mmapBytes is how much of the database file connections map into memory
// instead of reading it with a system call per page; it costs address space,
// not memory, and made queries about 25% faster on the reference machine.
const mmapBytes = 1 << 30

// openSQLite opens store.db in cfg.Dir in WAL mode: one writer connection and
// a pool of read-only connections, so queries never queue behind the
// projector and the projector never waits for a reader.
//
// The writer runs with synchronous=NORMAL, unlike the log's FULL. In WAL mode
// a commit then survives a crash of the process but not of the machine: a
// power loss can roll back the last commits, whose messages the log already
// counts as delivered. That is acceptable for a read model, and buys a commit
// without an fsync per event: the store is derived data, the projector's
// inserts are idempotent, and replaying the log (hookd replay) restores
// anything lost, harmlessly repeating what is still there.
func openSQLite(ctx context.Context, cfg Config) (*db, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("sqlite: no data directory")
	}
	path, err := filepath.Abs(filepath.Join(cfg.Dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if cfg.ReadOnly {
		// Opening would fail anyway; say which file is missing instead of
		// SQLite's "unable to open database file".
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sqlite: %w", missingError{path})
		}
	} else if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create data directory: %w", err)
	}
	uri := (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
	busy := fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis)
	mmap := fmt.Sprintf("mmap_size(%d)", mmapBytes)

	d := &db{}
	if !cfg.ReadOnly {
		// _txlock=immediate takes the write lock at BEGIN, so a transaction
		// never fails half-way on upgrading a read lock.
		w := url.Values{"_pragma": {busy, mmap, "journal_mode(WAL)", "synchronous(NORMAL)"}, "_txlock": {"immediate"}}
		d.write, err = sql.Open("sqlite", uri+"?"+w.Encode())
		if err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		d.write.SetMaxOpenConns(1)
		d.write.SetMaxIdleConns(1)
		d.write.SetConnMaxLifetime(0)
		d.write.SetConnMaxIdleTime(0)
		if err := d.write.PingContext(ctx); err != nil {
			d.write.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
	}
	// mode=ro makes SQLite itself refuse writes and never create the file.
	r := url.Values{"_pragma": {busy, mmap}, "mode": {"ro"}}
	d.read, err = sql.Open("sqlite", uri+"?"+r.Encode())
	if err == nil {
		n := max(4, runtime.GOMAXPROCS(0))
		d.read.SetMaxOpenConns(n)
		d.read.SetMaxIdleConns(n)
		err = d.read.PingContext(ctx)
	}
	if err != nil {
		d.close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	return d, nil
}

// missingError reports a store file that does not exist. It matches
// fs.ErrNotExist.
type missingError struct{ path string }

func (e missingError) Error() string { return e.path + " does not exist (hookd serve creates it)" }

func (e missingError) Is(target error) bool { return target == fs.ErrNotExist }
