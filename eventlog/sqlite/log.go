package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/datafile"
	"github.com/hookd/hookd/internal/outage"
	"github.com/hookd/hookd/internal/walcheckpoint"
)

var (
	_ eventlog.Log      = (*Log)(nil)
	_ message.Publisher = (*Publisher)(nil)
)

// FileName is the name of the database file that the registered "sqlite"
// backend keeps in eventlog.Config.Dir.
const FileName = "hookd.db"

// ErrClosed is returned by the methods of a closed Log, Publisher or
// Subscriber.
var ErrClosed = errors.New("sqlite event log closed")

func init() {
	eventlog.Register("sqlite", func(ctx context.Context, cfg eventlog.Config, logger *slog.Logger) (eventlog.Log, error) {
		dir := cfg.Dir
		if dir == "" {
			dir = "."
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		l, err := Open(ctx, filepath.Join(dir, FileName), Config{Logger: logger})
		if err != nil {
			return nil, err
		}
		return l, nil
	})
}

// Config configures a Log. The zero value is ready to use; a zero field takes
// its default.
type Config struct {
	// BusyTimeout is how long a statement waits for a lock that another
	// process holds before it fails. Default 5s.
	BusyTimeout time.Duration
	// Readers is the number of read-only connections that subscribers
	// share. Default 4.
	Readers int
	// ReadBatch is how many messages a consumer group reads ahead with one
	// query. Default 64.
	ReadBatch int
	// PollInterval is how often an idle consumer group looks for messages
	// that another process appended, and for a lease another process
	// released; appends through this Log wake it at once. Default 100ms.
	PollInterval time.Duration
	// FlushInterval is how long acks are gathered before the offsets they
	// advanced are written, in one transaction. Default 10ms.
	FlushInterval time.Duration
	// LeaseTTL is how long a consumer group's lease outlives a holder that
	// stopped renewing it (renewal runs every LeaseTTL/3). Default 5s.
	LeaseTTL time.Duration
	// CheckpointInterval is how long commits gather in the WAL before a
	// background connection copies them into the database file, with
	// passive checkpoints that do not block the writer and a last short
	// one that does, so that the WAL starts over; after 10 intervals
	// without a commit, the WAL file is truncated. Default 100ms.
	CheckpointInterval time.Duration
	// MaxWAL bounds the WAL file, in bytes: past it, the last checkpoint
	// of a round also waits for readers of other processes to leave the
	// old frames, so that the next commit surely starts the WAL over, and
	// a WAL that starts over is truncated to it. Default 64 MiB.
	MaxWAL int64
	// NackBackoff is the SubscriberConfig.NackBackoff of the subscribers
	// that Log.Subscriber makes. Default 100ms.
	NackBackoff time.Duration
	// Logger receives background errors (offset flush, lease renewal,
	// reads). Nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.BusyTimeout <= 0 {
		c.BusyTimeout = 5 * time.Second
	}
	if c.Readers <= 0 {
		c.Readers = 4
	}
	if c.ReadBatch <= 0 {
		c.ReadBatch = 64
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 10 * time.Millisecond
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 5 * time.Second
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = 100 * time.Millisecond
	}
	if c.MaxWAL <= 0 {
		c.MaxWAL = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Log is an event log in one SQLite file. It is a watermill Publisher, and
// NewSubscriber or Subscriber give it subscribers. All methods are safe for
// concurrent use.
type Log struct {
	cfg    Config
	log    *slog.Logger
	holder string // this Log's identity in the leases table

	// The writer: one connection, owned by whoever holds wsem, so that our
	// own writes queue in Go instead of in SQLite's busy handler.
	wsem    chan struct{}
	wclosed bool // under wsem
	wdb     *sql.DB
	wconn   *sql.Conn
	stBegin, stCommit, stRollback,
	stSaveOffset, stAcquire, stRenew, stRelease, stLoadOffset *sql.Stmt
	// stInsert[n-1] inserts n messages, prepared when first needed.
	stInsert [insertRows]*sql.Stmt
	args     []any         // insert arguments, reused under wsem
	md       []byte        // metadata encoding buffer, reused under wsem
	offsets  []offsetWrite // offsets to write, reused under wsem
	// offsetsAt is when offsets were last written (Unix nanoseconds).
	offsetsAt atomic.Int64

	// The readers: a pool of query_only connections.
	rdb                 *sql.DB
	stRead, stPeekLease *sql.Stmt

	// The background checkpointer and its connection.
	cdb      *sql.DB
	ckpt     *walcheckpoint.Checkpointer
	pageSize int64

	// renewFailed and readFailed count the failed lease renewals, and the
	// failed reads and lease acquisitions, of every cursor, those closed
	// since included.
	renewFailed, readFailed atomic.Uint64

	nmu     sync.Mutex
	commits map[string]chan struct{} // by topic; closed and dropped by a commit that appended to it

	mu      sync.Mutex
	closed  bool
	cursors map[cursorKey]*cursor
	closing chan struct{}  // closed when Close begins
	subWG   sync.WaitGroup // subscriptions
	wg      sync.WaitGroup // cursors and the flusher
	flushCh chan struct{}  // wakes the flusher; capacity 1

	offsetsOut *outage.Log // the flusher's errors, once an outage
}

// Open opens the log in the SQLite file at path, creating the file and its
// schema when missing: the file, and the -wal and -shm files beside it,
// readable and writable by their owner only (0600). An existing file keeps
// its mode. ctx bounds the opening only.
func Open(ctx context.Context, path string, cfg Config) (*Log, error) {
	l, err := open(ctx, path, cfg.withDefaults())
	if err != nil {
		return nil, fmt.Errorf("open sqlite event log %s: %w", path, err)
	}
	return l, nil
}

func open(ctx context.Context, path string, cfg Config) (_ *Log, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	l := &Log{
		cfg:     cfg,
		log:     cfg.Logger,
		holder:  watermill.NewUUID(),
		wsem:    make(chan struct{}, 1),
		commits: map[string]chan struct{}{},
		cursors: map[cursorKey]*cursor{},
		closing: make(chan struct{}),
		flushCh: make(chan struct{}, 1),

		offsetsOut: outage.New(cfg.Logger, "sqlite event log: write offsets", "sqlite event log: write offsets succeeded again", 0),
	}
	defer func() {
		if err != nil {
			l.closeDB()
		}
	}()

	// Before SQLite creates it 0644 less the umask: the log holds every
	// event, and its -wal and -shm files take its mode.
	if err = datafile.Create(abs); err != nil {
		return nil, err
	}
	busy := "busy_timeout(" + strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10) + ")"
	// synchronous=FULL: in WAL mode every commit fsyncs the WAL, so an
	// Append that returned survives a power loss, not only a crash.
	// wal_autocheckpoint=0: the checkpointer does that work, off the
	// writer's path.
	if l.wdb, err = sql.Open("sqlite", datafile.DSN(abs, busy, "journal_mode(WAL)", "synchronous(FULL)",
		"wal_autocheckpoint(0)", "journal_size_limit("+strconv.FormatInt(cfg.MaxWAL, 10)+")")); err != nil {
		return nil, err
	}
	l.wdb.SetMaxOpenConns(1)
	l.wdb.SetMaxIdleConns(1)
	l.wdb.SetConnMaxLifetime(0)
	l.wdb.SetConnMaxIdleTime(0)
	if l.wconn, err = l.wdb.Conn(ctx); err != nil {
		return nil, fmt.Errorf("connect writer: %w", err)
	}
	var mode string
	if err = l.wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, fmt.Errorf("read journal mode: %w", err)
	}
	if mode != "wal" {
		// SQLite keeps the old mode where WAL is impossible (some network
		// file systems); refuse rather than run without it.
		return nil, fmt.Errorf("journal mode is %q, not wal", mode)
	}
	var syncMode int
	if err = l.wconn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode); err != nil {
		return nil, fmt.Errorf("read synchronous: %w", err)
	}
	if syncMode != 2 {
		return nil, fmt.Errorf("synchronous is %d, not 2 (FULL)", syncMode)
	}
	if err = migrate(ctx, l.wconn); err != nil {
		return nil, err
	}
	if err = l.wconn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&l.pageSize); err != nil {
		return nil, fmt.Errorf("read page size: %w", err)
	}
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&l.stBegin, "BEGIN IMMEDIATE"},
		{&l.stCommit, "COMMIT"},
		{&l.stRollback, "ROLLBACK"},
		// Only the lease holder moves a group's offset: a Log that lost its
		// lease while stalled must not overwrite its successor's progress.
		{&l.stSaveOffset, `INSERT INTO offsets (topic, consumer_group, "offset", updated_at)
			SELECT ?1, ?2, ?3, ?4 WHERE EXISTS
				(SELECT 1 FROM leases WHERE topic = ?1 AND consumer_group = ?2 AND holder = ?5)
			ON CONFLICT (topic, consumer_group) DO UPDATE SET "offset" = excluded."offset", updated_at = excluded.updated_at`},
		{&l.stAcquire, `INSERT INTO leases (topic, consumer_group, holder, expires_at) VALUES (?1, ?2, ?3, ?4)
			ON CONFLICT (topic, consumer_group) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leases.holder = excluded.holder OR leases.expires_at <= ?5`},
		{&l.stRenew, `UPDATE leases SET expires_at = ?4 WHERE topic = ?1 AND consumer_group = ?2 AND holder = ?3`},
		{&l.stRelease, `DELETE FROM leases WHERE topic = ?1 AND consumer_group = ?2 AND holder = ?3`},
		{&l.stLoadOffset, `SELECT "offset" FROM offsets WHERE topic = ? AND consumer_group = ?`},
	} {
		if *p.st, err = l.wconn.PrepareContext(ctx, p.sql); err != nil {
			return nil, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
	}

	if l.rdb, err = sql.Open("sqlite", datafile.DSN(abs, busy, "query_only(1)")); err != nil {
		return nil, err
	}
	l.rdb.SetMaxOpenConns(cfg.Readers)
	l.rdb.SetMaxIdleConns(cfg.Readers)
	if l.stRead, err = l.rdb.PrepareContext(ctx, `SELECT "offset", uuid, payload, metadata, dedup_key FROM messages
		WHERE topic = ? AND "offset" > ? ORDER BY "offset" LIMIT ?`); err != nil {
		return nil, fmt.Errorf("prepare read: %w", err)
	}
	if l.stPeekLease, err = l.rdb.PrepareContext(ctx,
		`SELECT holder, expires_at FROM leases WHERE topic = ? AND consumer_group = ?`); err != nil {
		return nil, fmt.Errorf("prepare lease read: %w", err)
	}

	// The checkpointer waits for readers of other processes for a short
	// while only: it holds the writer when it waits at all.
	if l.cdb, err = sql.Open("sqlite", datafile.DSN(abs, "busy_timeout(50)", "synchronous(FULL)")); err != nil {
		return nil, err
	}
	l.cdb.SetMaxOpenConns(1)
	l.cdb.SetMaxIdleConns(1)
	l.cdb.SetConnMaxLifetime(0)
	l.cdb.SetConnMaxIdleTime(0)
	if err = l.cdb.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("connect checkpointer: %w", err)
	}

	l.ckpt = walcheckpoint.Start(l.cdb, walcheckpoint.Config{
		Interval: cfg.CheckpointInterval, MaxWAL: cfg.MaxWAL,
		FrameBytes: l.pageSize + walFrameHeader, LastPassBytes: lastPassBytes,
		Writer: writerLock{l}, Logger: l.log.With("file", abs),
	})
	l.wg.Add(1)
	go l.flusher()
	return l, nil
}

// Append durably appends msgs to topic in one transaction and reports which
// of them were duplicates; see eventlog.Log. A message is a duplicate when
// its eventlog.DedupKey metadata is already in topic or earlier in msgs.
// Messages without a DedupKey are always appended. When Append returns nil
// the transaction is committed and fsync'd; on error nothing was appended.
// ctx bounds the wait for the writer; once the last message is inserted the
// commit is not interrupted.
func (l *Log) Append(ctx context.Context, topic string, msgs []*message.Message) ([]bool, error) {
	dup, err := l.append(ctx, topic, msgs)
	if err != nil {
		return nil, fmt.Errorf("append to %q: %w", topic, err)
	}
	return dup, nil
}

// Ping takes the writer and the database's write lock, as an Append
// does, and lets them go without writing: it fails when l is closed, when
// ctx ends before the writer is free, and when the file cannot be locked
// for writing (another process holds it past the busy timeout, or past
// ctx's deadline when that comes first, or the file is gone bad). It
// cannot tell a full disk, which only a write finds.
func (l *Log) Ping(ctx context.Context) error {
	if err := l.lockWriter(ctx); err != nil {
		return fmt.Errorf("ping sqlite event log: %w", err)
	}
	defer l.unlockWriter()
	// SQLite's busy handler does not see ctx: wait for another process's
	// lock no longer than ctx allows, then put the writer's timeout back.
	if dl, ok := ctx.Deadline(); ok {
		if ms := max(time.Until(dl).Milliseconds(), 1); ms < l.cfg.BusyTimeout.Milliseconds() {
			if _, err := l.wconn.ExecContext(context.Background(), fmt.Sprintf("PRAGMA busy_timeout = %d", ms)); err != nil {
				return fmt.Errorf("ping sqlite event log: %w", err)
			}
			defer func() {
				if _, err := l.wconn.ExecContext(context.Background(), fmt.Sprintf("PRAGMA busy_timeout = %d", l.cfg.BusyTimeout.Milliseconds())); err != nil {
					l.log.Error("sqlite event log: restore the busy timeout after a ping", "err", err)
				}
			}()
		}
	}
	if _, err := l.stBegin.ExecContext(context.Background()); err != nil {
		return fmt.Errorf("ping sqlite event log: begin: %w", err)
	}
	if _, err := l.stRollback.ExecContext(context.Background()); err != nil {
		return fmt.Errorf("ping sqlite event log: rollback: %w", err)
	}
	return nil
}

func (l *Log) append(ctx context.Context, topic string, msgs []*message.Message) ([]bool, error) {
	select {
	case <-l.closing:
		return nil, ErrClosed
	default:
	}
	dup := make([]bool, len(msgs))
	if len(msgs) == 0 {
		return dup, nil
	}
	if err := l.lockWriter(ctx); err != nil {
		return nil, err
	}
	defer l.unlockWriter()
	appended := 0
	var offsets []offsetWrite
	err := l.tx(func() error {
		now := time.Now().UnixMilli()
		for start := 0; start < len(msgs); start += insertRows {
			// ctx is checked between inserts rather than passed to
			// them: an interrupted statement would roll the transaction
			// back behind our back.
			if err := ctx.Err(); err != nil {
				return err
			}
			end := min(len(msgs), start+insertRows)
			n, err := l.insert(topic, msgs[start:end], now, dup[start:end])
			if err != nil {
				return err
			}
			appended += n
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// The acked offsets ride along, so that under load they cost no
		// transaction (and no fsync) of their own. A failed offset
		// statement undoes only itself; the flusher tries again.
		offsets = l.unflushed(l.offsets[:0])
		l.offsets = offsets
		if err := l.writeOffsets(offsets); err != nil {
			l.log.Warn("sqlite event log: write offsets with an append", "err", err)
			offsets = nil
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.flushed(offsets)
	if appended > 0 {
		l.notify(topic)
	}
	return dup, nil
}

// Publish appends msgs to topic in one transaction, like Append, and
// ignores which were duplicates. Having no ctx, it waits for the writer as
// long as that takes.
func (l *Log) Publish(topic string, msgs ...*message.Message) error {
	_, err := l.Append(context.Background(), topic, msgs)
	return err
}

// Subscriber returns a subscriber in the consumer group group with the
// default SubscriberConfig, but for the InFlight that opts set; see
// NewSubscriber.
func (l *Log) Subscriber(group string, opts ...eventlog.SubscriberOption) (message.Subscriber, error) {
	o := eventlog.Options(opts...)
	s, err := NewSubscriber(l, SubscriberConfig{ConsumerGroup: group, InFlight: o.InFlight, NackBackoff: l.cfg.NackBackoff})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Close ends every subscription of every subscriber of l, writes the acked
// offsets, releases the leases and closes the file. It is safe to call more
// than once; later calls return nil.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.closing)
	l.mu.Unlock()

	l.subWG.Wait()
	l.wg.Wait() // cursors write their offsets as they release their leases
	if l.ckpt != nil {
		l.ckpt.Stop()
	}
	err := l.flush()
	if e := l.lockWriter(context.Background()); e == nil {
		l.wclosed = true
		l.unlockWriter()
	}
	if e := l.closeDB(); e != nil {
		err = errors.Join(err, e)
	}
	if err != nil {
		return fmt.Errorf("close sqlite event log: %w", err)
	}
	return nil
}

func (l *Log) closeDB() error {
	var errs []error
	for _, st := range append([]*sql.Stmt{l.stRead, l.stPeekLease, l.stBegin, l.stCommit, l.stRollback,
		l.stSaveOffset, l.stAcquire, l.stRenew, l.stRelease, l.stLoadOffset}, l.stInsert[:]...) {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if l.wconn != nil {
		errs = append(errs, l.wconn.Close())
	}
	for _, db := range []*sql.DB{l.cdb, l.rdb, l.wdb} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// lockWriter waits until the writer connection is ours or ctx is done.
func (l *Log) lockWriter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case l.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if l.wclosed {
		<-l.wsem
		return ErrClosed
	}
	return nil
}

func (l *Log) unlockWriter() { <-l.wsem }

// tx runs fn in a write transaction on the writer connection, which the
// caller holds. Every write of the Log goes through it, as its commit is
// what tells the checkpointer that the WAL grew. Waiting for another
// process's write lock is bounded by the busy timeout, not by a ctx: an
// interrupted BEGIN could leave us unsure whether a transaction is open.
func (l *Log) tx(fn func() error) error {
	if _, err := l.stBegin.ExecContext(context.Background()); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	err := fn()
	if err == nil {
		if _, err = l.stCommit.ExecContext(context.Background()); err == nil {
			l.ckpt.Kick()
			return nil
		}
		err = fmt.Errorf("commit: %w", err)
	}
	// SQLite may have rolled back already (after an I/O error in COMMIT);
	// then ROLLBACK fails harmlessly.
	if _, rerr := l.stRollback.ExecContext(context.Background()); rerr != nil {
		l.log.Debug("sqlite event log: rollback", "err", rerr)
	}
	return err
}

// notify wakes the consumer groups of l waiting for new messages in topic.
func (l *Log) notify(topic string) {
	l.nmu.Lock()
	if ch := l.commits[topic]; ch != nil {
		close(ch)
		delete(l.commits, topic)
	}
	l.nmu.Unlock()
}

// committed returns a channel that is closed by the next commit that
// appends to topic. Take it before reading, so that no commit slips
// between.
func (l *Log) committed(topic string) <-chan struct{} {
	l.nmu.Lock()
	defer l.nmu.Unlock()
	ch := l.commits[topic]
	if ch == nil {
		ch = make(chan struct{})
		l.commits[topic] = ch
	}
	return ch
}

// requestFlush asks the flusher to write the acked offsets soon.
func (l *Log) requestFlush() {
	select {
	case l.flushCh <- struct{}{}:
	default:
	}
}

// flusher writes acked offsets at most every FlushInterval, so that acks
// cost a map update rather than an fsync'd transaction each. While appends
// come, they write the offsets in their own transactions, and the flusher
// waits for them to stop.
func (l *Log) flusher() {
	defer l.wg.Done()
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-l.flushCh:
		case <-l.closing:
			return
		}
		t.Reset(l.cfg.FlushInterval)
		select {
		case <-t.C:
		case <-l.closing:
			t.Stop()
			return // Close flushes
		}
		if time.Since(time.Unix(0, l.offsetsAt.Load())) < l.cfg.FlushInterval {
			// Appends are carrying the offsets: look again when they
			// stop, if there is anything left to write then.
			if len(l.unflushed(nil)) > 0 {
				l.requestFlush()
			}
			continue
		}
		if err := l.flush(); err != nil {
			l.offsetsOut.Fail(err)
			l.requestFlush() // retry after the next interval
		} else {
			l.offsetsOut.OK()
		}
	}
}

// flush writes the acked offsets that are not on disk yet, in one
// transaction.
func (l *Log) flush() error {
	if err := l.lockWriter(context.Background()); err != nil {
		return err
	}
	defer l.unlockWriter()
	todo := l.unflushed(l.offsets[:0])
	l.offsets = todo
	if len(todo) == 0 {
		return nil
	}
	if err := l.tx(func() error { return l.writeOffsets(todo) }); err != nil {
		return err
	}
	l.flushed(todo)
	return nil
}

// offsetWrite is an acked offset on its way to the file.
type offsetWrite struct {
	c   *cursor
	off int64
}

// unflushed appends the acked offsets not written yet to todo. A caller
// that writes them holds the writer from this read on, so that a release
// cannot write a newer one between the read and the write.
func (l *Log) unflushed(todo []offsetWrite) []offsetWrite {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.cursors {
		c.mu.Lock()
		if c.acked != c.flushed {
			todo = append(todo, offsetWrite{c, c.acked})
		}
		c.mu.Unlock()
	}
	return todo
}

// writeOffsets writes todo in the transaction open on the writer.
func (l *Log) writeOffsets(todo []offsetWrite) error {
	now := time.Now().UnixMilli()
	for _, p := range todo {
		if _, err := l.stSaveOffset.Exec(p.c.key.topic, p.c.key.group, p.off, now, l.holder); err != nil {
			return fmt.Errorf("write offset of group %q on %q: %w", p.c.key.group, p.c.key.topic, err)
		}
	}
	return nil
}

// flushed records that the offsets of todo are in the file.
func (l *Log) flushed(todo []offsetWrite) {
	if len(todo) > 0 {
		l.offsetsAt.Store(time.Now().UnixNano())
	}
	for _, p := range todo {
		p.c.mu.Lock()
		p.c.flushed = p.off
		p.c.mu.Unlock()
	}
}

// join returns the shared cursor of topic and group, starting it on first
// use, and counts one more subscription on it, holding at most inFlight
// messages.
func (l *Log) join(topic, group string, inFlight int) (*cursor, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	k := cursorKey{topic, group}
	c := l.cursors[k]
	if c == nil {
		c = newCursor(l, k)
		l.cursors[k] = c
		l.wg.Add(1)
		go c.run()
	}
	c.join(inFlight)
	l.subWG.Add(1)
	return c, nil
}

// Publisher is a Publisher over a Log whose Close does not close the Log,
// for code (a watermill router, say) that closes the publishers it is given.
type Publisher struct {
	l      *Log
	mu     sync.RWMutex
	closed bool
}

// NewPublisher returns a Publisher that appends to l.
func NewPublisher(l *Log) *Publisher { return &Publisher{l: l} }

// Publish appends msgs to topic in one transaction; see Log.Publish.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return fmt.Errorf("publish to %q: %w", topic, ErrClosed)
	}
	return p.l.Publish(topic, msgs...)
}

// Close makes later Publish calls fail with ErrClosed. It leaves the Log
// open and is safe to call more than once.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}

var _ eventlog.FailureCounter = (*Log)(nil)

// Failures returns the checkpoints, lease renewals, reads and offset
// writes that failed since Open; each is logged as part of an outage.
func (l *Log) Failures() eventlog.Failures {
	return eventlog.Failures{
		Checkpoint:   l.ckpt.Failures(),
		LeaseRenewal: l.renewFailed.Load(),
		Read:         l.readFailed.Load(),
		Offsets:      l.offsetsOut.Failures(),
	}
}
