// Package store is hookd's read model: every event and quarantined body of the
// event log, projected into indexed tables so that dashboards, the admin API,
// the CLI and rule state (Tx) can query them. It is rebuilt from the log at
// any time, so the log stays the source of truth.
//
// It is also where the rules' decisions are kept: the projector runs an
// Evaluator (the rules engine) on each new event in the transaction that
// stores it, and the once keys, cooldowns and action jobs it writes commit
// with the event. The store is the durable actions.Queue that the action
// runner works from. Replaying the log into the same store neither decides
// nor runs anything again, and neither does Rebuild, which stores the
// events again from the log but keeps the decisions; a store deleted and
// projected from an empty one would decide again and run the actions
// again.
//
// The store is a SQL database. SQLite (the default) keeps it in store.db in
// the data directory, beside but separate from the log's own file.
// PostgreSQL keeps it in the database its DSN names, which several hookd
// replicas share: each event is stored once (its id is unique), each job is
// enqueued once (its key is unique) and claimed by one runner at a time,
// since write transactions take a lock that serializes them across
// replicas as SQLite serializes them across processes. The SQL is written
// once for both; what differs is in dialect.go, sqlite.go and postgres.go.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookd/hookd/internal/outage"
	"github.com/hookd/hookd/internal/walcheckpoint"
)

// ErrInvalidQuery is wrapped by every *QueryError: errors.Is(err,
// ErrInvalidQuery) tells a caller's mistake (HTTP 400) from a failure.
var ErrInvalidQuery = errors.New("invalid query")

// QueryError is returned, wrapped, when a query parameter is invalid. Its
// message names the parameter as the admin API does, so it can be shown to
// the API's client as it is.
type QueryError struct {
	// Param is the parameter: limit, cursor, since, until, category,
	// bounce_class, by or interval.
	Param string
	// Problem says what is wrong with it.
	Problem string
}

// Error returns "param: problem".
func (e *QueryError) Error() string { return e.Param + ": " + e.Problem }

// Unwrap returns ErrInvalidQuery.
func (e *QueryError) Unwrap() error { return ErrInvalidQuery }

// Unavailable reports whether err, from a method of Store, says that the
// database could not be reached or lost the connection, rather than that it
// refused the query: the same call may succeed once the database is back.
// That is PostgreSQL refusing or failing a connection (down, not
// accepting connections, too many of them, a wrong password), a connection
// that broke or was terminated, the server shutting down or starting, and
// a deadline that ran out while waiting for it. A caller that gave up
// (context.Canceled) is not an outage.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var (
		connect *pgconn.ConnectError
		pgErr   *pgconn.PgError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &connect), errors.As(err, &netErr),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &pgErr):
		// Class 08, connection exception; 57P01 to 57P03, the server
		// terminates the connection, shuts down or is starting; 53300,
		// too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || slices.Contains([]string{"57P01", "57P02", "57P03", "53300"}, pgErr.Code)
	}
	return false
}

func invalid(param, format string, args ...any) error {
	return &QueryError{Param: param, Problem: fmt.Sprintf(format, args...)}
}

// ErrNotFound is returned when a looked-up item is not in the store.
var ErrNotFound = errors.New("not found")

// Config selects and configures the store's database.
type Config struct {
	// Driver is the database: sqlite (the default when empty) or
	// postgres.
	Driver string
	// DSN is the connection string of postgres (a URL or key=value
	// pairs); sqlite ignores it and uses Dir.
	DSN string
	// AsyncCommit lets postgres commit the store's writes without waiting
	// for the disk (synchronous_commit=off), for about three times the
	// projector's throughput. Set it only when the event log is in the
	// same PostgreSQL server, whose synchronous commits of the consumer
	// offsets then make the store's earlier commits durable; otherwise a
	// crash of the server could lose projected events and their jobs that
	// the log counts as consumed. A lost job completion only runs the job
	// again. sqlite ignores it.
	AsyncCommit bool
	// Dir is the data directory where sqlite keeps store.db. Open creates
	// it unless ReadOnly is set.
	Dir string
	// ReadOnly opens an existing store for queries only: the database is
	// neither created nor migrated, and Insert and Run fail. It is meant
	// for commands such as hookd events that read a store a running server
	// writes to.
	ReadOnly bool
	// NoMigrate opens a writable store without migrating its schema: a
	// store of an older schema is refused, as ReadOnly refuses it, and
	// left as it is. It is meant for the commands that write beside a
	// running server (hookd replay, hookd deadletters retry), which may
	// be an older hookd: migrating the schema under it would make its
	// every write fail until it is upgraded too.
	NoMigrate bool
	// CheckpointInterval is how long sqlite lets commits gather in its WAL
	// before a background connection copies them into store.db, with
	// checkpoints that block writes only for a last short pass; after 10
	// intervals without a commit, the WAL file is truncated. Default 50ms.
	CheckpointInterval time.Duration
	// MaxWAL bounds sqlite's WAL file, in bytes: past it, the last
	// checkpoint of a round also waits for readers to leave the old
	// frames, so that the next commit surely starts the WAL over, and a
	// WAL that starts over is truncated to it. Default 64 MiB.
	MaxWAL int64
}

// Store is an opened read model. All methods are safe for concurrent use.
//
// Writes (Insert, InsertQuarantined and the projector started by Run) go
// through one connection and are serialized in Go; queries use a separate pool
// of read connections and never wait for a write to finish.
type Store struct {
	logger *slog.Logger
	db     *db
	// projectOut logs the projector's failed batches: the first of a run
	// of them, a summary a minute, and their end.
	projectOut *outage.Log

	// wmu serializes write transactions in Go (the writer pool has one
	// connection as well), so that they queue here, in order, and never in
	// SQLite's busy handler.
	wmu writeLock
	// stmts are the write path's statements (see writeSQL), prepared on
	// the writer connection by their SQL; nil when the store is read-only.
	stmts map[string]*sql.Stmt
	// queued is queuedSQL prepared on the reader pool.
	queued *sql.Stmt

	stats projectorCounters

	// wake is Wake's channel, of capacity 1.
	wake chan struct{}
}

// db holds the two connection pools.
type db struct {
	// write has at most one connection; nil when the store is read-only.
	write *sql.DB
	// read is the pool used by queries.
	read *sql.DB
	// ckpt copies SQLite's WAL into the database in the background, on
	// its own connection ckptDB; both nil when the store is read-only.
	ckpt   *walcheckpoint.Checkpointer
	ckptDB *sql.DB
	// dialect is what the SQL of the driver needs.
	dialect dialect
}

// Open opens the store that cfg describes, creating and migrating its schema
// unless cfg.ReadOnly is set, in which case it writes nothing, or
// cfg.NoMigrate, in which case it refuses a schema older than this hookd's;
// a writable open also renames the http targets that replicas of an older
// hookd enqueued (see retargetLeftovers). A nil logger discards. Close
// releases it.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Driver == "" {
		cfg.Driver = "sqlite"
	}
	var (
		d   *db
		err error
	)
	s := &Store{logger: logger, wake: make(chan struct{}, 1), wmu: make(writeLock, 1),
		projectOut: outage.New(logger, "store: projecting messages failed, will retry", "store: projecting messages succeeded again", 0)}
	switch cfg.Driver {
	case "sqlite":
		d, err = openSQLite(ctx, cfg, s.wmu, logger)
	case "postgres":
		d, err = openPostgres(ctx, cfg)
	default:
		err = fmt.Errorf("unknown driver %q (supported: sqlite, postgres)", cfg.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.db = d
	if cfg.ReadOnly {
		err = checkSchema(ctx, d.read)
	} else if err = migrate(ctx, d.write, d.dialect, cfg.NoMigrate, logger); err == nil {
		if s.stmts, err = prepare(ctx, d.write); err == nil {
			s.queued, err = d.read.PrepareContext(ctx, queuedSQL)
		}
	}
	if err != nil {
		d.close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

// Close closes the database. Queries and writes in progress fail; the caller
// stops Run first.
func (s *Store) Close() error {
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	if s.queued != nil {
		errs = append(errs, s.queued.Close())
	}
	if err := errors.Join(append(errs, s.db.close())...); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

func (d *db) close() error {
	var errs []error
	if d.ckpt != nil {
		d.ckpt.Stop()
	}
	if d.ckptDB != nil {
		errs = append(errs, d.ckptDB.Close())
	}
	// The readers first: SQLite's last connection to close copies the WAL
	// into the database and removes it, which a read-only one (sqlite's
	// mode=ro) cannot do, so the store's WAL stayed behind every stop.
	if d.read != nil {
		errs = append(errs, d.read.Close())
	}
	if d.write != nil {
		errs = append(errs, d.write.Close())
	}
	return errors.Join(errs...)
}

// errReadOnly is returned by writes on a store opened with Config.ReadOnly.
var errReadOnly = errors.New("store is read-only")

// Count returns the number of events in the store. Since the log is consumed
// asynchronously, it tells a caller (a test, a health check) how far the
// projector has got.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// ProjectorStats counts what the projector has done since the store was
// opened.
type ProjectorStats struct {
	// Events is the number of events stored: each counts once, however
	// often its message is delivered.
	Events uint64
	// Quarantined is the same for quarantined bodies.
	Quarantined uint64
	// Duplicates is the number of event and quarantine messages acked
	// whose event or body the store held already: a message delivered
	// again after the transaction that stored it committed and before
	// its ack (hookd stopped in between, or the database's answer to the
	// commit was lost), or a replay of the log in a new consumer group.
	Duplicates uint64
	// Undecodable is the number of messages acked without being stored
	// because their payload can never be decoded.
	Undecodable uint64
	// Failed is the number of messages nacked after a database error, to be
	// delivered again.
	Failed uint64
	// Batches is the number of transactions that stored Events and
	// Quarantined and acked Duplicates; their sum over Batches is the mean
	// batch.
	Batches uint64
	// GaveWay is how long the projector has waited for busy work to pass
	// (see GiveWay).
	GaveWay time.Duration
}

type projectorCounters struct {
	events, quarantined, duplicates, undecodable, failed, batches atomic.Uint64
	gaveWay                                                       atomic.Int64 // nanoseconds
}

// ProjectorStats returns the projector's counters.
func (s *Store) ProjectorStats() ProjectorStats {
	return ProjectorStats{
		Events:      s.stats.events.Load(),
		Quarantined: s.stats.quarantined.Load(),
		Duplicates:  s.stats.duplicates.Load(),
		Undecodable: s.stats.undecodable.Load(),
		Failed:      s.stats.failed.Load(),
		Batches:     s.stats.batches.Load(),
		GaveWay:     time.Duration(s.stats.gaveWay.Load()),
	}
}
