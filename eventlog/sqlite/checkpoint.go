package sqlite

// walFrameHeader is the size of the header of each frame in the WAL, before
// its page.
const walFrameHeader = 24

// lastPassBytes is how much of the WAL the background checkpoint may leave
// for its last pass, the one that holds the writer: about what one group
// commit writes.
const lastPassBytes = 256 << 10

// writerLock holds the log's writer for the checkpointer, through l.wsem,
// so that an Append waits for a checkpoint in Go rather than in SQLite's
// busy handler, which sleeps in steps of milliseconds. The checkpointer is
// stopped before the writer closes.
type writerLock struct{ l *Log }

func (w writerLock) Lock()   { w.l.wsem <- struct{}{} }
func (w writerLock) Unlock() { <-w.l.wsem }
