package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
)

// migrations are the schema versions in order: migrations[i] takes the
// schema from version i to i+1. A released migration is never edited; a
// change is a new entry.
//
// Times are INTEGER unix nanoseconds in UTC (see encodeTime), so ordering and
// ranges compare integers. seq is the row's insertion order: it breaks ties
// between events of the same time, so every ordering is total and keyset
// pagination never skips or repeats a row.
var migrations = []string{
	`CREATE TABLE events (
		seq         INTEGER PRIMARY KEY,
		id          TEXT    NOT NULL UNIQUE,
		source      TEXT    NOT NULL,
		provider    TEXT    NOT NULL,
		type        TEXT    NOT NULL,
		time_ns     BIGINT  NOT NULL,
		received_ns BIGINT  NOT NULL,
		email       TEXT    NOT NULL,
		domain      TEXT    NOT NULL,
		message_id  TEXT    NOT NULL,
		campaign    TEXT    NOT NULL,
		data        TEXT    NOT NULL
	);
	-- Listing everything newest first; stats over a time range.
	CREATE INDEX events_time ON events (time_ns, seq);
	-- Listing one type.
	CREATE INDEX events_type ON events (type, time_ns, seq);
	-- Rule state, last(type, field) and count(type, field, window) as of
	-- an event's time: equality on the field and the type, then a range on
	-- time. The field comes first so that listing one recipient's events
	-- uses the same index (and sorts the few rows it finds).
	CREATE INDEX events_email ON events (email, type, time_ns, seq);
	CREATE INDEX events_domain ON events (domain, type, time_ns, seq);
	CREATE INDEX events_message ON events (message_id, type, time_ns, seq);
	-- Listing one domain: a large one holds too many rows to sort per page.
	CREATE INDEX events_domain_time ON events (domain, time_ns, seq);

	CREATE TABLE quarantine (
		seq          INTEGER PRIMARY KEY,
		id           TEXT    NOT NULL UNIQUE,
		source       TEXT    NOT NULL,
		received_ns  BIGINT  NOT NULL,
		error        TEXT    NOT NULL,
		content_type TEXT    NOT NULL,
		body         BLOB    NOT NULL
	);
	CREATE INDEX quarantine_received ON quarantine (received_ns, seq);`,

	// Rule state and action jobs, written by the projector's evaluator in
	// the transaction that stores the event that decided them.
	`-- last and count by campaign, like email, domain and message_id. By
	-- source they use events_type and read source from the rows: a source
	-- is one of a few, so an index of its own would select hardly fewer
	-- rows, and each index costs the projector 5 to 10% of its throughput.
	CREATE INDEX events_campaign ON events (campaign, type, time_ns, seq);

	-- The first event that fired a rule with once, per key: never again.
	CREATE TABLE rule_once (
		rule     TEXT NOT NULL,
		key      TEXT NOT NULL,
		event_id TEXT NOT NULL,
		PRIMARY KEY (rule, key)
	);
	-- Every firing of a rule with a cooldown, per once key ('' without),
	-- at the firing event's time.
	CREATE TABLE rule_firings (
		rule     TEXT   NOT NULL,
		key      TEXT   NOT NULL,
		time_ns  BIGINT NOT NULL,
		event_id TEXT   NOT NULL,
		PRIMARY KEY (rule, key, event_id)
	);
	CREATE INDEX rule_firings_time ON rule_firings (rule, key, time_ns);

	-- What action jobs act on; a dead job suspends its target.
	CREATE TABLE targets (
		id           INTEGER PRIMARY KEY,
		target       TEXT    NOT NULL UNIQUE,
		suspended    INTEGER NOT NULL DEFAULT 0,
		suspended_ns BIGINT  NOT NULL DEFAULT 0,
		reason       TEXT    NOT NULL DEFAULT ''
	);

	-- The action queue (actions.Job). lease_owner and lease_ns describe the
	-- claim of a running job and are '' and 0 otherwise.
	CREATE TABLE jobs (
		id          INTEGER PRIMARY KEY,
		key         TEXT    NOT NULL UNIQUE,
		rule        TEXT    NOT NULL,
		idx         INTEGER NOT NULL,
		action      TEXT    NOT NULL,
		target      TEXT    NOT NULL,
		params      TEXT    NOT NULL,
		retry       TEXT    NOT NULL,
		event_id    TEXT    NOT NULL,
		event       TEXT    NOT NULL,
		status      TEXT    NOT NULL,
		attempts    INTEGER NOT NULL DEFAULT 0,
		next_ns     BIGINT  NOT NULL,
		lease_owner TEXT    NOT NULL DEFAULT '',
		lease_ns    BIGINT  NOT NULL DEFAULT 0,
		last_error  TEXT    NOT NULL DEFAULT '',
		created_ns  BIGINT  NOT NULL,
		updated_ns  BIGINT  NOT NULL
	);
	-- Claim: a target's oldest due pending job, and whether it runs one;
	-- Targets' counts.
	CREATE INDEX jobs_target ON jobs (target, status, next_ns, id);
	-- Claim: running jobs whose lease expired; dead letters, newest first.
	CREATE INDEX jobs_status ON jobs (status, updated_ns, id);
	CREATE INDEX jobs_event ON jobs (event_id, id);
	CREATE INDEX jobs_rule ON jobs (rule, id);

	-- One row per attempt at a job, for the dashboard.
	CREATE TABLE job_attempts (
		id         INTEGER PRIMARY KEY,
		job_id     BIGINT  NOT NULL,
		attempt    INTEGER NOT NULL,
		started_ns BIGINT  NOT NULL,
		took_ns    BIGINT  NOT NULL,
		error      TEXT    NOT NULL
	);
	CREATE INDEX job_attempts_job ON job_attempts (job_id, id);`,
}

// migrate brings the schema up to the newest version in one transaction, so
// a failed migration leaves the previous version in place.
func migrate(ctx context.Context, w *sql.DB, d dialect, logger *slog.Logger) error {
	// The write lock: replicas starting together migrate one at a time.
	tx, err := d.begin(ctx, w)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("migrate: schema version %d is newer than this hookd knows (%d)", v, len(migrations))
	}
	if v == len(migrations) {
		return nil
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, d.schema(migrations[i])); err != nil {
			return fmt.Errorf("migrate to schema version %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM schema_version`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, len(migrations)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	logger.Info("store schema migrated", "from", v, "to", len(migrations))
	return nil
}

// checkSchema verifies that a store opened read-only has exactly the schema
// this hookd queries, since it cannot migrate it.
func checkSchema(ctx context.Context, r *sql.DB) error {
	var v int
	err := r.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	if err != nil {
		return fmt.Errorf("check schema version: %w", err)
	}
	switch {
	case v < len(migrations):
		return fmt.Errorf("check schema version: store has version %d, this hookd needs %d: run hookd serve once to migrate it", v, len(migrations))
	case v > len(migrations):
		return fmt.Errorf("check schema version: store has version %d, newer than this hookd knows (%d)", v, len(migrations))
	}
	return nil
}

func schemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var v int
	err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
