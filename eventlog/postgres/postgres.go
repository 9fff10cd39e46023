// Package postgres is hookd's event log on PostgreSQL, for several hookd
// replicas that share one database: watermill-sql's Subscriber with its
// consumer groups, over a pgx connection pool. It registers itself as the
// "postgres" backend of package eventlog, with the connection string from
// eventlog.Config.DSN.
//
// # Contract
//
// Durability. Append and Publish write all their messages in one
// transaction; when they return nil the commit is durable as PostgreSQL
// makes it (fsync'd with the default synchronous_commit=on). On error
// nothing was appended, unless the transaction's COMMIT was sent and its
// answer never came (ctx ended, or the connection broke and the server
// could not be asked): then all of it may have been.
//
// Broken connections. A pooled connection that the server ended (a
// failover, a restart, pg_terminate_backend, idle_session_timeout) or
// that broke on the way (a proxy's restart) fails at its next use; the
// pool pings only those idle for more than a second. When an append's
// transaction fails that way, before or during it, Append tries it once
// more, within the same ctx, on a connection the pool has just pinged.
// When the connection broke with the COMMIT sent, it first asks the
// server, by the transaction's id (pg_xact_status), whether it committed:
// if it did, its own answer stands, so that a batch is never reported as
// duplicates of itself; if it rolled back, the batch is appended again.
// Errors of a statement (a constraint), and ctx ending, are not tried
// again.
//
// Deduplication. Every topic has a table of the eventlog.DedupKey values
// appended to it, with the key as primary key. Append inserts the batch's
// keys there with ON CONFLICT DO NOTHING in the transaction that appends the
// messages, and appends only the messages whose key it inserted: a key
// already there, or earlier in the same batch, is a duplicate. The check
// holds across restarts and between replicas, since it is a unique
// constraint. A key lives as long as its message: Trim deletes both in one
// statement, so a retry of a message Trim deleted is appended again.
//
// Ordering and groups. Messages are ordered by the committing transaction
// and then by offset (watermill-sql's transaction_id and offset columns);
// a message becomes visible to subscribers once every transaction older
// than it has ended, so a consumer never skips a message that commits late.
// A consumer group's position is a row that a subscriber locks (SELECT ...
// FOR UPDATE) while it delivers a read batch: the subscribers of one group,
// in any number of processes, take turns, and each message goes to one of
// them, in log order. One message is in flight per group (eventlog.InFlight
// is accepted and delivers one at a time). Nack delivers the message again
// after Config.NackBackoff. A subscriber that closes, or a process that
// dies, with a message not acked rolls its transaction back, so the group
// receives that message again. A new consumer group starts at the first
// message.
//
// Visibility. A message is delivered only once every transaction that
// started before its own has ended (watermill-sql's guard against skipping
// one that commits late), database-wide. A subscriber holds its transaction
// open while a message of its batch is unacked, so a consumer that is slow
// to ack delays what was appended after, for every group, by up to
// Config.AckDeadline; hookd's store acks each message right after its
// commit.
//
// Tables. For a topic T and Config.Prefix P: "P_T" holds the messages,
// "P_offsets_T" the groups' positions and "P_dedup_T" the dedup keys, in
// the connection's current schema (set search_path in the DSN to use
// another). They are created at first use.
//
// Retention. Trim (hookd serve's retention.log) deletes the old messages
// that every group in the offsets table has acked, with their dedup keys,
// in batches that several replicas may delete at once; a group that is
// behind, or one that subscribed once and never came back, holds back
// every message after its position. Deleted rows free space that later
// appends reuse once autovacuum has passed; the tables do not shrink.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/outage"
	"github.com/hookd/hookd/internal/pgconf"
)

var _ eventlog.Log = (*Log)(nil)

// ErrClosed is returned by the methods of a closed Log.
var ErrClosed = errors.New("postgres event log closed")

func init() {
	eventlog.Register("postgres", func(ctx context.Context, cfg eventlog.Config, logger *slog.Logger) (eventlog.Log, error) {
		return Open(ctx, Config{DSN: cfg.DSN, Prefix: cfg.Prefix, Logger: logger})
	})
}

// Config configures a Log. A zero field takes its default.
type Config struct {
	// DSN is the PostgreSQL connection string (URL or key=value form).
	// Required.
	DSN string
	// Prefix starts the name of every table of the log. Default "hookd".
	// Letters, digits and '_', starting with a letter or '_'.
	Prefix string
	// PollInterval is how often an idle subscriber looks for new
	// messages. Default 50ms.
	PollInterval time.Duration
	// NackBackoff is how long a subscriber waits before it delivers a
	// nacked message again. Default 100ms.
	NackBackoff time.Duration
	// AckDeadline is how long a delivered message may stay unacked before
	// the subscriber gives it up, rolls back and delivers it again.
	// Default 30s.
	AckDeadline time.Duration
	// MaxConns bounds the connection pool. Default 10.
	MaxConns int32
	// Logger receives the subscribers' errors. Nil discards.
	Logger *slog.Logger
}

var prefixRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = "hookd"
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 50 * time.Millisecond
	}
	if c.NackBackoff <= 0 {
		c.NackBackoff = 100 * time.Millisecond
	}
	if c.AckDeadline <= 0 {
		c.AckDeadline = 30 * time.Second
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 10
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Log is an event log in a PostgreSQL database. All methods are safe for
// concurrent use.
type Log struct {
	cfg     Config
	pool    *pgxpool.Pool
	schema  schema
	offsets wmsql.DefaultPostgreSQLOffsetsAdapter
	logger  watermill.LoggerAdapter

	mu     sync.Mutex
	closed bool
	ready  map[string]bool // topics whose tables exist
	subs   []*subscriber

	// readFailed counts the failed queries of every subscriber, those
	// closed since included.
	readFailed atomic.Uint64
}

var _ eventlog.FailureCounter = (*Log)(nil)

// Failures returns the subscribers' queries that failed since Open (Read);
// each is logged as part of an outage. PostgreSQL has no checkpoints,
// leases or offset writes of hookd's to fail.
func (l *Log) Failures() eventlog.Failures {
	return eventlog.Failures{Read: l.readFailed.Load()}
}

// Open connects to the database cfg.DSN names and checks that it answers.
// ctx bounds the connection only.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	cfg = cfg.withDefaults()
	if cfg.DSN == "" {
		return nil, errors.New("open postgres event log: no dsn")
	}
	if !prefixRE.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("open postgres event log: invalid prefix %q: use letters, digits and '_'", cfg.Prefix)
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("open postgres event log: invalid dsn: %s", pgconf.Reason(err))
	}
	pc.MaxConns = cfg.MaxConns
	pc.ShouldPing = shouldPing
	pgconf.Defaults(&pc.ConnConfig.Config)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	var current *string // the schema tables are created in
	if err == nil {
		err = pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&current)
		if err != nil {
			pool.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open postgres event log: connect to %s: %w", pgconf.Addr(&pc.ConnConfig.Config), err)
	}
	if current == nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres event log: %s: %w", pgconf.Addr(&pc.ConnConfig.Config), pgconf.ErrNoSchema)
	}
	prefix := cfg.Prefix
	return &Log{
		cfg:  cfg,
		pool: pool,
		schema: schema{wmsql.DefaultPostgreSQLSchema{
			GenerateMessagesTableName: func(topic string) string { return pgx.Identifier{prefix + "_" + topic}.Sanitize() },
			SubscribeBatchSize:        100,
		}},
		offsets: wmsql.DefaultPostgreSQLOffsetsAdapter{
			GenerateMessagesOffsetsTableName: func(topic string) string {
				return pgx.Identifier{prefix + "_offsets_" + topic}.Sanitize()
			},
		},
		logger: quiet(cfg.Logger),
		ready:  map[string]bool{},
	}, nil
}

func (l *Log) dedupTable(topic string) string {
	return pgx.Identifier{l.cfg.Prefix + "_dedup_" + topic}.Sanitize()
}

// prepare creates the tables of topic unless this Log did already.
func (l *Log) prepare(ctx context.Context, topic string) error {
	l.mu.Lock()
	closed, ready := l.closed, l.ready[topic]
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if ready {
		return nil
	}
	qs, err := l.schema.SchemaInitializingQueries(wmsql.SchemaInitializingQueriesParams{Topic: topic})
	if err != nil {
		return err
	}
	oqs, err := l.offsets.SchemaInitializingQueries(wmsql.OffsetsSchemaInitializingQueriesParams{Topic: topic})
	if err != nil {
		return err
	}
	qs = append(qs, oqs...)
	qs = append(qs, wmsql.Query{Query: `CREATE TABLE IF NOT EXISTS ` + l.dedupTable(topic) + ` (key TEXT PRIMARY KEY)`})
	err = pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		for _, q := range qs {
			if _, err := tx.Exec(ctx, q.Query, q.Args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create tables of topic %s: %w", topic, err)
	}
	l.mu.Lock()
	l.ready[topic] = true
	l.mu.Unlock()
	return nil
}

// Ping runs a round trip to the database on a connection of the pool; it
// fails when l is closed or the database does not answer within ctx. A
// pooled connection that the server ended is replaced, as Append replaces
// it, rather than failing the ping.
func (l *Log) Ping(ctx context.Context) error {
	// The pool pings the connection it hands out for a marked context,
	// and tries another, or a new one, when that fails.
	conn, err := l.pool.Acquire(context.WithValue(ctx, pingKey{}, true))
	if err != nil {
		return fmt.Errorf("ping postgres event log: %w", err)
	}
	conn.Release()
	return nil
}

// Publish appends msgs to topic in one transaction, like Append, and
// ignores which were duplicates.
func (l *Log) Publish(topic string, msgs ...*message.Message) error {
	return eventlog.Publish(l, topic, msgs)
}

// Append implements eventlog.Log; see the package documentation.
func (l *Log) Append(ctx context.Context, topic string, msgs []*message.Message) ([]bool, error) {
	dup, err := l.append(ctx, topic, msgs)
	if err != nil {
		return nil, fmt.Errorf("append to %s: %w", topic, err)
	}
	return dup, nil
}

// insertChunk is the most messages one INSERT of Append holds: PostgreSQL's
// protocol binds at most 65,535 parameters a statement, and watermill-sql's
// insert query takes three a message.
const insertChunk = 10000

func (l *Log) append(ctx context.Context, topic string, msgs []*message.Message) ([]bool, error) {
	if err := l.prepare(ctx, topic); err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return []bool{}, nil
	}
	keys := []string{}
	for _, m := range msgs {
		if k := m.Metadata.Get(eventlog.DedupKey); k != "" {
			keys = append(keys, k)
		}
	}
	a := l.try(ctx, topic, msgs, keys)
	if a.err == nil || !a.broken {
		return a.dup, a.err
	}
	// The connection broke: the server ended it (a failover, a restart,
	// pg_terminate_backend, idle_session_timeout) or something between
	// (a proxy's restart), which a pooled connection used less than a
	// second before (not pinged by the pool) shows only now. Once more,
	// on a connection the pool checked alive.
	first := a.err
	ctx = context.WithValue(ctx, pingKey{}, true)
	if a.xid != "" {
		// The COMMIT was sent: the transaction may have committed.
		// Then its dup flags are this append's answer, and a second
		// try would report its own events as duplicates.
		committed, err := l.committed(ctx, topic, a.xid, a.kept)
		if err != nil {
			return nil, fmt.Errorf("%w; then, on a new connection: %w", first, err)
		}
		if committed {
			l.cfg.Logger.Warn("postgres event log: connection broken at commit; the append had committed", "topic", topic, "err", first)
			return a.dup, nil
		}
	}
	a = l.try(ctx, topic, msgs, keys)
	if a.err != nil {
		return nil, fmt.Errorf("%w; then, on a new connection: %w", first, a.err)
	}
	l.cfg.Logger.Warn("postgres event log: connection broken; appended on a new one", "topic", topic, "err", first)
	return a.dup, nil
}

// pingKey marks a context whose pool acquisitions ping the connection
// first, whatever its idle time: a connection found dead is replaced.
type pingKey struct{}

// shouldPing is the pool's ShouldPing: pgxpool's default (a connection
// idle for more than a second), and every connection for a context that
// pingKey marks.
func shouldPing(ctx context.Context, p pgxpool.ShouldPingParams) bool {
	return p.IdleDuration > time.Second || ctx.Value(pingKey{}) != nil
}

// attempt is the outcome of one append transaction.
type attempt struct {
	dup []bool
	err error
	// broken tells that err is the connection's: a try on another
	// connection may succeed.
	broken bool
	// xid is the transaction's id when its COMMIT was sent and failed,
	// and kept how many messages it inserted: the transaction may have
	// committed.
	xid  string
	kept int
}

// try appends msgs, with the dedup keys keys, in one transaction on a
// connection of the pool.
func (l *Log) try(ctx context.Context, topic string, msgs []*message.Message, keys []string) attempt {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		// The pool replaces connections found dead; this one was new.
		return attempt{err: err}
	}
	defer conn.Release()
	fail := func(err error) attempt {
		return attempt{err: err, broken: broken(ctx, err, conn.Conn().IsClosed())}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	// Nothing after Commit; otherwise the error that led here is the one.
	defer tx.Rollback(ctx)
	var (
		xid   string
		fresh []string
	)
	// The transaction's id comes with the keys inserted, at no cost of a
	// round trip: should the COMMIT's answer be lost, it tells whether
	// the transaction committed.
	err = tx.QueryRow(ctx, `WITH fresh AS (INSERT INTO `+l.dedupTable(topic)+` (key)
		SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING key)
		SELECT pg_current_xact_id()::text, array(SELECT key FROM fresh)`, keys).Scan(&xid, &fresh)
	if err != nil {
		return fail(err)
	}
	isFresh := make(map[string]bool, len(fresh))
	for _, k := range fresh {
		isFresh[k] = true
	}
	dup := make([]bool, len(msgs))
	keep := make([]*message.Message, 0, len(msgs))
	for i, m := range msgs {
		k := m.Metadata.Get(eventlog.DedupKey)
		if k != "" && !isFresh[k] {
			dup[i] = true
			continue
		}
		delete(isFresh, k) // a second message with k in this batch is a duplicate
		keep = append(keep, m)
	}
	kept := len(keep)
	for len(keep) > 0 {
		n := min(len(keep), insertChunk)
		q, err := l.schema.InsertQuery(wmsql.InsertQueryParams{Topic: topic, Msgs: keep[:n]})
		if err != nil {
			return attempt{err: err}
		}
		if _, err := tx.Exec(ctx, q.Query, q.Args...); err != nil {
			return fail(err)
		}
		keep = keep[n:]
	}
	if err := tx.Commit(ctx); err != nil {
		a := fail(err)
		a.dup, a.xid, a.kept = dup, xid, kept
		return a
	}
	return attempt{dup: dup}
}

// committed tells whether the transaction xid of an append to topic that
// inserted kept messages committed, once it has ended: its COMMIT was sent
// and its answer lost with the connection.
func (l *Log) committed(ctx context.Context, topic, xid string, kept int) (bool, error) {
	for {
		var (
			status *string
			stored bool
		)
		err := l.pool.QueryRow(ctx, `SELECT pg_xact_status($1::text::xid8),
			EXISTS (SELECT 1 FROM `+l.schema.MessagesTable(topic)+` WHERE transaction_id = $1::text::xid8)`, xid).Scan(&status, &stored)
		if err != nil {
			return false, fmt.Errorf("ask whether transaction %s committed: %w", xid, err)
		}
		switch {
		case status == nil:
			return false, fmt.Errorf("transaction %s is too old for its status", xid)
		case *status == "aborted":
			return false, nil
		case *status == "committed" && (stored || kept == 0):
			return true, nil
		case *status == "committed":
			// Another transaction of that id, after a failover that
			// lost this one's commit: what was lost with it cannot be
			// told apart from duplicates here.
			return false, fmt.Errorf("transaction %s committed without the messages it appended", xid)
		}
		// In progress: the server still commits it, or has not yet
		// seen the connection end.
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("wait for transaction %s to end: %w", xid, context.Cause(ctx))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// broken tells whether err, that of a statement on a connection now closed
// when closed, is the connection's: it broke or was ended by the server
// before or during the statement, so that the statement may succeed on
// another one. A deadline or a cancellation is not, nor an error of the
// statement itself (a constraint, a syntax).
func broken(ctx context.Context, err error, closed bool) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || pgconn.Timeout(err) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P05": // admin_shutdown, crash_shutdown, idle_session_timeout
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection_exception
	}
	return closed || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// Subscriber implements eventlog.Log: a watermill-sql subscriber in group.
// The subscriber delivers one message at a time whatever InFlight says.
func (l *Log) Subscriber(group string, opts ...eventlog.SubscriberOption) (message.Subscriber, error) {
	if group == "" {
		return nil, errors.New("postgres event log: subscriber needs a consumer group")
	}
	_ = eventlog.Options(opts...)
	deadline := l.cfg.AckDeadline
	sub, err := wmsql.NewSubscriber(wmsql.BeginnerFromPgx(l.pool), wmsql.SubscriberConfig{
		ConsumerGroup:  group,
		AckDeadline:    &deadline,
		PollInterval:   l.cfg.PollInterval,
		ResendInterval: l.cfg.NackBackoff,
		RetryInterval:  time.Second,
		BackoffManager: backoff{wmsql.NewDefaultBackoffManager(l.cfg.PollInterval, time.Second),
			outage.New(l.cfg.Logger.With("group", group), "postgres event log: reading messages failed", "postgres event log: reading messages succeeded again", 0),
			&l.readFailed},
		SchemaAdapter:    l.schema,
		OffsetsAdapter:   l.offsets,
		InitializeSchema: false, // prepare creates the dedup table as well
	}, l.logger)
	if err != nil {
		return nil, fmt.Errorf("postgres event log: new subscriber: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	w := &subscriber{l: l, sub: sub}
	l.subs = append(l.subs, w)
	return w, nil
}

// subscriber creates a topic's tables before subscribing to it.
type subscriber struct {
	l   *Log
	sub *wmsql.Subscriber

	mu    sync.Mutex
	chans []<-chan *message.Message // of its subscriptions, for Close
}

func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := s.l.prepare(ctx, topic); err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	ch, err := s.sub.Subscribe(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	s.mu.Lock()
	s.chans = append(s.chans, ch)
	s.mu.Unlock()
	return ch, nil
}

// SubscribeInitialize creates topic's tables (watermill's SubscribeInitializer).
func (s *subscriber) SubscribeInitialize(topic string) error {
	return s.l.prepare(context.Background(), topic)
}

// Close closes watermill-sql's subscriber and returns once the channels of
// its subscriptions are closed: watermill-sql v4.1.2 closes a channel just
// after its Close returned, which watermill's contract does not allow.
func (s *subscriber) Close() error {
	err := s.sub.Close()
	s.mu.Lock()
	chans := s.chans
	s.chans = nil
	s.mu.Unlock()
	for _, ch := range chans {
		for range ch { // nothing is sent any more: this waits for the close
		}
	}
	return err
}

// Close closes every subscriber and the connection pool. Messages delivered
// and not acked are delivered again to the group's next subscriber.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	subs := l.subs
	l.subs = nil
	l.mu.Unlock()
	var errs []error
	for _, s := range subs {
		errs = append(errs, s.Close())
	}
	l.pool.Close()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close postgres event log: %w", err)
	}
	return nil
}

// quiet adapts logger for watermill, whose Info messages (a subscriber
// starts or closes) are hookd's Debug, as are its errors of a subscription
// ending (see stopQuiet).
func quiet(logger *slog.Logger) watermill.LoggerAdapter {
	return stopQuiet{watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})}
}

// stopQuiet logs at Debug the errors that are a subscription's ctx ending,
// as every subscriber's does when hookd stops: watermill-sql logs a commit
// of its reading transaction that the stop cut short at Error ("could not
// commit tx for querying message: context canceled"), which is no failure
// (the group receives the messages whose acks it held again, and the store
// keeps each once) but would be one in a clean stop's log, as a replica's
// during a rolling restart.
type stopQuiet struct{ watermill.LoggerAdapter }

func (q stopQuiet) Error(msg string, err error, fields watermill.LogFields) {
	if errors.Is(err, context.Canceled) {
		q.Debug(msg, fields.Add(watermill.LogFields{"error": err.Error()}))
		return
	}
	q.LoggerAdapter.Error(msg, err, fields)
}

func (q stopQuiet) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return stopQuiet{q.LoggerAdapter.With(fields)}
}

// backoff is watermill-sql's default, except that the error of a
// subscription ending (its ctx cancelled while it acked) is not one, and
// that failed queries are logged as an outage of the group's reads (the
// first, a summary a minute, the end), where the default logs each one:
// twice a second, a topic each, while the database is away.
type backoff struct {
	wmsql.BackoffManager
	out    *outage.Log
	failed *atomic.Uint64 // the Log's readFailed
}

func (b backoff) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if errors.Is(err, context.Canceled) {
		logger.Debug("Subscription ended while querying", watermill.LogFields{"err": err.Error()})
		return 0
	}
	// The default's wait tells a deadlock (tried again at once, at debug
	// level) from a failure; its error line is left out.
	wait := b.BackoffManager.HandleError(errorsDropped{logger}, noMsg, err)
	switch {
	case err == nil:
		b.out.OK()
	case wait > 0:
		b.failed.Add(1)
		b.out.Fail(err)
	}
	return wait
}

// errorsDropped is a watermill logger that leaves out Error lines.
type errorsDropped struct{ watermill.LoggerAdapter }

func (errorsDropped) Error(string, error, watermill.LogFields) {}

// schema is watermill-sql's PostgreSQL schema with a table of our own: the
// message UUID is TEXT, since hookd's are event ids, longer than a UUID
// (watermill's VARCHAR(36)), and the payload BYTEA, since it is bytes, not
// necessarily JSON (watermill's JSON). The columns, their order and the
// queries on them are watermill's.
type schema struct{ wmsql.DefaultPostgreSQLSchema }

func (s schema) SchemaInitializingQueries(params wmsql.SchemaInitializingQueriesParams) ([]wmsql.Query, error) {
	qs, err := s.DefaultPostgreSQLSchema.SchemaInitializingQueries(params)
	if err != nil {
		return nil, err
	}
	create := `CREATE TABLE IF NOT EXISTS ` + s.MessagesTable(params.Topic) + ` (
		"offset" BIGSERIAL,
		"uuid" TEXT NOT NULL,
		"created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
		"payload" BYTEA DEFAULT NULL,
		"metadata" JSON DEFAULT NULL,
		"transaction_id" xid8 NOT NULL,
		PRIMARY KEY ("transaction_id", "offset")
	)`
	// watermill's queries are an optional advisory lock and the CREATE
	// TABLE: keep the lock, replace the table.
	out := make([]wmsql.Query, 0, len(qs))
	for _, q := range qs {
		if strings.Contains(q.Query, "CREATE TABLE") {
			q = wmsql.Query{Query: create}
		}
		out = append(out, q)
	}
	return out, nil
}
