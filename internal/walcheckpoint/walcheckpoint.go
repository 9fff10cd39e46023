// Package walcheckpoint copies an SQLite WAL into its database in the
// background, for the two SQLite files hookd writes (the event log and the
// store), so that no commit on the hot path pays for a checkpoint. It is
// internal because it serves only those two packages.
package walcheckpoint

import (
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookd/hookd/internal/outage"
)

// Config configures a Checkpointer. Every field is required but Logger.
type Config struct {
	// Interval is how long commits gather in the WAL before a checkpoint,
	// so that a page they wrote many times (an index page) is copied once.
	Interval time.Duration
	// MaxWAL bounds the WAL, in bytes: past it, the checkpoint holding the
	// writer is a RESTART.
	MaxWAL int64
	// FrameBytes is the size of one WAL frame: the page size plus 24.
	FrameBytes int64
	// LastPassBytes is how much of the WAL may be left for the checkpoint
	// that holds the writer: about what one commit writes.
	LastPassBytes int64
	// Writer is the lock that serializes the database's writes in Go.
	Writer sync.Locker
	// Logger receives checkpoint errors (the first of a run of them, then
	// a summary a minute, and their end); nil discards.
	Logger *slog.Logger
}

// Checkpointer runs checkpoints on a connection of its own.
//
// The writer must run with wal_autocheckpoint=0. After a commit (Kick),
// the Checkpointer waits Interval, then runs passive checkpoints, which
// neither wait for nor block the writer or the readers, until few frames
// are left, and copies those last frames holding Writer. That pause is what
// lets the WAL start over: SQLite restarts it from its beginning at the
// next write only if every frame was copied when that write began, which
// under a steady stream of commits otherwise never happens; a WAL that
// starts over is rewritten in place instead of growing, and an fsync of a
// file that does not grow costs less. Past MaxWAL, the checkpoint holding
// the writer is a RESTART, which also waits (for the connection's busy
// timeout) for readers of other processes to leave the old frames. After 10
// intervals without a commit, a TRUNCATE checkpoint empties the WAL file;
// one that a reader kept from finishing is tried again, after twice as long
// each time, up to a minute, until it finishes or a commit comes.
type Checkpointer struct {
	db      *sql.DB
	cfg     Config
	out     *outage.Log
	wrote   chan struct{} // a commit happened; capacity 1
	stop    chan struct{}
	done    chan struct{}
	stopped sync.Once
}

// Start runs a Checkpointer on db, which must hold one connection to the
// database with a short busy timeout; the caller closes db after Stop.
func Start(db *sql.DB, cfg Config) *Checkpointer {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Checkpointer{db: db, cfg: cfg, wrote: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}),
		out: outage.New(cfg.Logger, "sqlite checkpoint failed", "sqlite checkpoint succeeded again", 0)}
	go c.run()
	return c
}

// Kick tells the Checkpointer that the writer committed. It never blocks,
// and does nothing on a nil Checkpointer (commits before Start).
func (c *Checkpointer) Kick() {
	if c == nil {
		return
	}
	select {
	case c.wrote <- struct{}{}:
	default:
	}
}

// Failures returns how many checkpoints failed since Start (each is
// logged as part of an outage); 0 on a nil Checkpointer. Safe for
// concurrent use.
func (c *Checkpointer) Failures() uint64 {
	if c == nil {
		return 0
	}
	return c.out.Failures()
}

// Stop stops the Checkpointer and waits for a checkpoint under way. Later
// calls do nothing.
func (c *Checkpointer) Stop() {
	c.stopped.Do(func() { close(c.stop) })
	<-c.done
}

func (c *Checkpointer) run() {
	defer close(c.done)
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer idle.Stop()
	idleWait := 10 * c.cfg.Interval
	retry := idleWait
	for {
		select {
		case <-c.wrote:
		case <-idle.C:
			busy, _, err := c.checkpoint("TRUNCATE", true)
			c.record(err)
			if busy || err != nil {
				retry = min(2*retry, maxTruncateRetry)
				c.cfg.Logger.Debug("sqlite checkpoint: WAL not truncated, trying again", "busy", busy, "retry", retry)
				idle.Reset(retry)
			}
			continue
		case <-c.stop:
			return
		}
		retry = idleWait
		wait.Reset(c.cfg.Interval)
		select {
		case <-wait.C:
		case <-c.stop:
			wait.Stop()
			return
		}
		c.record(c.checkpointAll())
		idle.Reset(idleWait)
	}
}

// record logs a checkpoint's outcome.
func (c *Checkpointer) record(err error) {
	if err != nil {
		c.out.Fail(err)
	} else {
		c.out.OK()
	}
}

// maxTruncateRetry bounds the wait between TRUNCATE checkpoints that a
// reader kept from finishing.
const maxTruncateRetry = time.Minute

// passivePasses bounds the passive checkpoints of one round: a writer
// faster than they are would keep them going forever.
const passivePasses = 4

// checkpointAll copies the whole WAL into the database: passive checkpoints
// until one had at most LastPassBytes to copy, so that little was committed
// while it ran (at most passivePasses of them, and none more once the WAL
// is larger than MaxWAL), then one holding the writer, a RESTART if the WAL
// is larger than MaxWAL. A checkpoint reports the frames of the WAL as it
// was when it began, so only the one holding the writer knows that it
// copied everything.
func (c *Checkpointer) checkpointAll() error {
	maxFrames := c.cfg.MaxWAL / c.cfg.FrameBytes
	lastPass := c.cfg.LastPassBytes / c.cfg.FrameBytes
	var frames, prev int64
	for range passivePasses {
		var err error
		if _, frames, err = c.checkpoint("PASSIVE", false); err != nil {
			return err
		}
		if newFrames(prev, frames) <= lastPass || frames > maxFrames {
			break
		}
		prev = frames
	}
	mode := "PASSIVE"
	if frames > maxFrames {
		mode = "RESTART"
	}
	_, _, err := c.checkpoint(mode, true)
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

// checkpoint runs PRAGMA wal_checkpoint(mode), holding the writer when
// writer is set. It returns whether the checkpoint could not finish
// (SQLITE_BUSY: a reader or, for PASSIVE, a writer was in the way) and the
// number of frames in the WAL.
func (c *Checkpointer) checkpoint(mode string, writer bool) (busy bool, frames int64, err error) {
	if writer {
		c.cfg.Writer.Lock()
		defer c.cfg.Writer.Unlock()
	}
	var copied int64
	if err := c.db.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied); err != nil {
		return false, 0, fmt.Errorf("checkpoint %s: %w", mode, err)
	}
	return busy, frames, nil
}
