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
// projector and the projector never waits for a reader, and unless
// cfg.ReadOnly a checkpointer that takes writer, the lock that serializes
// the writes, when it must block them.
//
// The writer runs with synchronous=NORMAL, unlike the log's FULL. In WAL mode
// a commit then survives a crash of the process but not of the machine: a
// power loss can roll back the last commits, whose messages the log already
// counts as delivered. That is acceptable for a read model, and buys a commit
// without an fsync per event: the store is derived data, the projector's
// inserts are idempotent, and replaying the log (hookd replay) restores
// anything lost, harmlessly repeating what is still there.
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

	d := &db{}
	if !cfg.ReadOnly {
		// _txlock=immediate takes the write lock at BEGIN, so a transaction
		// never fails half-way on upgrading a read lock.
		// wal_autocheckpoint(0): the checkpointer copies the WAL into the
		// database, off the projector's path.
		w := url.Values{"_pragma": {busy, mmap, "journal_mode(WAL)", "synchronous(NORMAL)",
			"wal_autocheckpoint(0)", fmt.Sprintf("journal_size_limit(%d)", maxWAL)}, "_txlock": {"immediate"}}
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
		// A short busy timeout: the checkpointer holds the writer when it
		// waits at all, and tries again later.
		c := url.Values{"_pragma": {"busy_timeout(50)", "synchronous(NORMAL)"}}
		ckpt, err := sql.Open("sqlite", uri+"?"+c.Encode())
		if err == nil {
			ckpt.SetMaxOpenConns(1)
			ckpt.SetMaxIdleConns(1)
			ckpt.SetConnMaxLifetime(0)
			ckpt.SetConnMaxIdleTime(0)
			d.ckpt = &checkpointer{db: ckpt, interval: interval, maxWAL: maxWAL,
				wrote: make(chan struct{}, 1), stop: make(chan struct{})}
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
	if d.ckpt != nil {
		d.ckpt.start(writer, logger)
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
	// passivePasses bounds the passive checkpoints of one round: a writer
	// faster than they are would keep them going forever.
	passivePasses = 4
)

// checkpointer copies the WAL into store.db in the background, on a
// connection of its own, so that no projector commit pays for it (the
// writer runs with wal_autocheckpoint=0, where SQLite would otherwise
// checkpoint inside whichever commit took the WAL past 1000 pages).
//
// After a commit, it waits Config.CheckpointInterval, so that a page the
// commits of the interval wrote many times (an index page) is copied once,
// then runs passive checkpoints, which neither wait for nor block the
// writer or the readers, until few frames are left, and copies those
// holding the writer lock. That pause lets the WAL start over: SQLite
// restarts it at the next write only if every frame was copied when that
// write began, which under a steady stream of commits otherwise never
// happens; a WAL that starts over is rewritten in place instead of growing.
// Past Config.MaxWAL, the checkpoint holding the lock is a RESTART, which
// also waits (at most 50ms) for readers to leave the old frames. After 10
// intervals without a commit, a TRUNCATE checkpoint empties the WAL file.
// The lock is Store.wmu, so that a write waits for the checkpoint in Go
// rather than in SQLite's busy handler, which sleeps in steps of
// milliseconds.
type checkpointer struct {
	db       *sql.DB // one connection
	interval time.Duration
	maxWAL   int64
	wrote    chan struct{} // a commit happened; capacity 1
	stop     chan struct{} // closed by close
	done     chan struct{} // closed when run returns; nil until start
	closed   sync.Once
	err      error // of closing db
}

// start runs the checkpointer until close; writer is the lock that
// serializes writes.
func (c *checkpointer) start(writer sync.Locker, logger *slog.Logger) {
	c.done = make(chan struct{})
	go c.run(writer, logger)
}

// kick tells the checkpointer that the writer committed.
func (c *checkpointer) kick() {
	select {
	case c.wrote <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run(writer sync.Locker, logger *slog.Logger) {
	defer close(c.done)
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer idle.Stop()
	for {
		select {
		case <-c.wrote:
		case <-idle.C:
			if _, _, err := c.checkpoint("TRUNCATE", writer); err != nil {
				logger.Error("store: checkpoint", "error", err)
			}
			continue
		case <-c.stop:
			return
		}
		wait.Reset(c.interval)
		select {
		case <-wait.C:
		case <-c.stop:
			wait.Stop()
			return
		}
		if err := c.checkpointAll(writer); err != nil {
			logger.Error("store: checkpoint", "error", err)
		}
		idle.Reset(10 * c.interval)
	}
}

// checkpointAll copies the whole WAL into the database: passive checkpoints
// until one had at most lastPassBytes to copy, so that little was committed
// while it ran (at most passivePasses of them, and none more once the WAL
// is larger than maxWAL), then one holding writer, a RESTART if the WAL is
// larger than maxWAL. A checkpoint reports the frames of the WAL as it was
// when it began, so only the one holding the writer knows that it copied
// everything.
func (c *checkpointer) checkpointAll(writer sync.Locker) error {
	var frames, prev int64
	for range passivePasses {
		var err error
		if frames, _, err = c.checkpoint("PASSIVE", nil); err != nil {
			return err
		}
		if newFrames(prev, frames)*walFrameBytes <= lastPassBytes || frames*walFrameBytes > c.maxWAL {
			break
		}
		prev = frames
	}
	mode := "PASSIVE"
	if frames*walFrameBytes > c.maxWAL {
		mode = "RESTART"
	}
	_, _, err := c.checkpoint(mode, writer)
	return err
}

// newFrames returns how many frames were committed between two checkpoints
// that found prev and then frames in the WAL. Fewer frames mean that the
// WAL started over in between, and all of them are new.
func newFrames(prev, frames int64) int64 {
	if frames < prev {
		return frames
	}
	return frames - prev
}

// checkpoint runs PRAGMA wal_checkpoint(mode), holding writer unless it is
// nil, and returns the number of frames in the WAL and how many of them are
// not copied yet.
func (c *checkpointer) checkpoint(mode string, writer sync.Locker) (frames, left int64, err error) {
	if writer != nil {
		writer.Lock()
		defer writer.Unlock()
	}
	var busy, copied int64
	if err := c.db.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", mode, err)
	}
	return frames, frames - copied, nil
}

// close stops the checkpointer, if it was started, and closes its
// connection. Later calls return what the first one did.
func (c *checkpointer) close() error {
	c.closed.Do(func() {
		close(c.stop)
		if c.done != nil {
			<-c.done
		}
		c.err = c.db.Close()
	})
	return c.err
}

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
