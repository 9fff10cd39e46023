package sqlite

import (
	"context"
	"fmt"
	"time"
)

// checkpointer copies the WAL into the database file in the background, on a
// connection of its own, so that no Append pays for it: the writer runs with
// wal_autocheckpoint=0, where SQLite would otherwise checkpoint inside
// whichever commit took the WAL past 1000 pages.
//
// After a commit, it waits CheckpointInterval, so that the pages the commits
// of that interval wrote again and again are copied once, then runs passive
// checkpoints, which neither wait for nor block the writer or the readers,
// until few frames are left: each copies what was committed while the
// previous one ran. It copies those last frames holding the writer, which
// then waits for about one fsync of the database file. That pause is what
// lets the WAL start over: SQLite restarts it from its beginning at the next
// write only if every frame was copied when that write began, which under a
// steady stream of commits otherwise never happens. A WAL that starts over
// is rewritten in place instead of growing, and an fsync of a file that
// does not grow costs less (no metadata to journal). Past MaxWAL, the
// checkpoint holding the writer is a RESTART, which also waits (at most
// 50ms) for readers of other processes to leave the old frames. After 10
// intervals without a commit, a TRUNCATE checkpoint, holding the writer too,
// empties the WAL file.
//
// The writer is held through l.wsem, so that an Append waits for the
// checkpoint in Go rather than in SQLite's busy handler, which sleeps in
// steps of milliseconds.
func (l *Log) checkpointer() {
	defer l.wg.Done()
	interval := l.cfg.CheckpointInterval
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer idle.Stop()
	frameSize := l.pageSize + walFrameHeader
	maxFrames := l.cfg.MaxWAL / frameSize
	for {
		select {
		case <-l.wrote:
		case <-idle.C:
			if _, _, err := l.checkpoint("TRUNCATE", true); err != nil {
				l.log.Error("sqlite event log: checkpoint", "err", err)
			}
			continue
		case <-l.closing:
			return
		}
		wait.Reset(interval)
		select {
		case <-wait.C:
		case <-l.closing:
			wait.Stop()
			return
		}
		if err := l.checkpointAll(maxFrames, lastPassBytes/frameSize); err != nil {
			l.log.Error("sqlite event log: checkpoint", "err", err)
		}
		idle.Reset(10 * interval)
	}
}

// lastPassBytes is how much of the WAL may be left for the checkpoint that
// holds the writer: about what one group commit writes.
const lastPassBytes = 256 << 10

// checkpointAll copies the whole WAL into the database: passive checkpoints
// until one had at most lastPass frames to copy, so that little was
// committed while it ran (at most passivePasses of them, and none more once
// the WAL holds more than maxFrames), then one holding the writer, a
// RESTART if the WAL holds more than maxFrames. A checkpoint reports the
// frames of the WAL as it was when it began, so only the one holding the
// writer knows that it copied everything.
func (l *Log) checkpointAll(maxFrames, lastPass int64) error {
	var frames, prev int64
	for range passivePasses {
		var err error
		if frames, _, err = l.checkpoint("PASSIVE", false); err != nil {
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
	_, _, err := l.checkpoint(mode, true)
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

// passivePasses bounds the passive checkpoints of one round: a writer
// faster than they are would keep them going forever.
const passivePasses = 4

// walFrameHeader is the size of the header of each frame in the WAL, before
// its page.
const walFrameHeader = 24

// checkpoint runs PRAGMA wal_checkpoint(mode) on the checkpointer's
// connection, holding the writer when writer is set, and returns the number
// of frames in the WAL and how many of them are not copied yet.
func (l *Log) checkpoint(mode string, writer bool) (frames, left int64, err error) {
	if writer {
		if err := l.lockWriter(context.Background()); err != nil {
			return 0, 0, err
		}
		defer l.unlockWriter()
	}
	var busy, copied int64
	if err := l.cdb.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", mode, err)
	}
	return frames, frames - copied, nil
}

// kickCheckpointer tells the checkpointer that the writer committed.
func (l *Log) kickCheckpointer() {
	select {
	case l.wrote <- struct{}{}:
	default:
	}
}
