package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	// The sqlite driver, pure Go.
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookd/hookd/internal/datafile"
	"github.com/hookd/hookd/internal/walcheckpoint"
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

// openSQLite opens store.db in cfg.Dir in WAL mode, creating it readable by
// its owner only (see datafile.Create) unless cfg.ReadOnly: one writer connection and
// a pool of read-only connections, so queries never queue behind the
// projector and the projector never waits for a reader, and unless
// cfg.ReadOnly a checkpointer that takes writer, the lock that serializes
// the writes, when it must block them.
//
// The writer runs with synchronous=FULL, as the log does: a commit is on
// the disk before the projector acks its messages. With NORMAL, a power
// loss could roll back the store's last commits while the log, which
// fsyncs its offsets, keeps counting their messages as consumed; the events
// would be missing from the store, and the jobs their rules made, which
// the same transactions hold, would never run. The projector commits up to
// Batch messages at a time, so under load the fsync is shared by many
// events.
func openSQLite(ctx context.Context, cfg Config, writer sync.Locker, logger *slog.Logger) (*db, error) {
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
	} else if err := datafile.Create(path); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	interval, maxWAL := cfg.CheckpointInterval, cfg.MaxWAL
	if interval <= 0 {
		interval = defaultCheckpointInterval
	}
	if maxWAL <= 0 {
		maxWAL = defaultMaxWAL
	}
	uri := (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
	busy := fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis)
	mmap := fmt.Sprintf("mmap_size(%d)", mmapBytes)

	d := &db{dialect: sqliteDialect}
	if !cfg.ReadOnly {
		// _txlock=immediate takes the write lock at BEGIN, so a transaction
		// never fails half-way on upgrading a read lock.
		// wal_autocheckpoint(0): the checkpointer copies the WAL into the
		// database, off the projector's path.
		w := url.Values{"_pragma": {busy, mmap, "journal_mode(WAL)", "synchronous(FULL)",
			"wal_autocheckpoint(0)", fmt.Sprintf("journal_size_limit(%d)", maxWAL)}, "_txlock": {"immediate"}}
		d.write, err = sql.Open("sqlite", uri+"?"+w.Encode())
		if err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		d.write.SetMaxOpenConns(1)
		d.write.SetMaxIdleConns(1)
		d.write.SetConnMaxLifetime(0)
		d.write.SetConnMaxIdleTime(0)
		if err := pingBusy(ctx, d.write); err != nil {
			d.write.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		// A short busy timeout: the checkpointer holds the writer when it
		// waits at all, and tries again later.
		c := url.Values{"_pragma": {"busy_timeout(50)", "synchronous(NORMAL)"}}
		ckpt, err := sql.Open("sqlite", uri+"?"+c.Encode())
		if err == nil {
			ckpt.SetMaxOpenConns(1)
			ckpt.SetMaxIdleConns(1)
			ckpt.SetConnMaxLifetime(0)
			ckpt.SetConnMaxIdleTime(0)
			d.ckptDB = ckpt
			err = ckpt.PingContext(ctx)
		}
		if err != nil {
			d.close()
			return nil, fmt.Errorf("sqlite: open %s for checkpoints: %w", path, err)
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
	if d.ckptDB != nil {
		d.ckpt = walcheckpoint.Start(d.ckptDB, walcheckpoint.Config{Interval: interval, MaxWAL: maxWAL,
			FrameBytes: walFrameBytes, LastPassBytes: lastPassBytes, Writer: writer, Logger: logger.With("file", path)})
	}
	return d, nil
}

// missingError reports a store file that does not exist. It matches
// fs.ErrNotExist.
type missingError struct{ path string }

func (e missingError) Error() string { return e.path + " does not exist (hookd serve creates it)" }

func (e missingError) Is(target error) bool { return target == fs.ErrNotExist }

// The checkpointer's defaults; see Config.
const (
	// defaultCheckpointInterval is long enough that a page the commits of
	// the interval wrote many times (an index page) is copied once, and
	// short enough that each checkpoint has a few MB of WAL to flush: on a
	// disk shared with the event log, a bigger flush holds up the log's
	// fsyncs, and so the answers to webhooks, behind it (BenchmarkIngest's
	// p99 went from about 34 to 24 ms with 50 instead of 200 ms).
	defaultCheckpointInterval = 50 * time.Millisecond
	defaultMaxWAL             = 64 << 20
	// walFrameBytes is the size of one frame of the WAL: a page of the
	// default 4096 bytes and its header. Counting frames with it is
	// conservative for larger pages.
	walFrameBytes = 4096 + 24
	// lastPassBytes is how much of the WAL may be left for the checkpoint
	// that holds the writer lock: about what one batch writes.
	lastPassBytes = 1 << 20
)

// insertedSeq returns the seq of the row an INSERT ... ON CONFLICT DO
// NOTHING into events inserted, or 0 when it inserted none. It reads the
// result rather than RETURNING seq: SQLite writes a statement journal for
// an INSERT with RETURNING inside a transaction, which halved the
// projector's throughput.
func insertedSeq(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return 0, err
	}
	return res.LastInsertId()
}

// pingBusy opens a connection of db, trying again for up to the busy
// timeout while the file is locked: switching a new file to WAL, which a
// connection's pragmas do, takes a lock that SQLite does not wait for, so
// two processes opening one new store at once would otherwise fail.
func pingBusy(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeoutMillis * time.Millisecond)
	for {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
