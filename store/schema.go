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

	// hookd's suppression list (the suppress action; email and
	// mailjet_send skip its addresses), and a note on an attempt that
	// chose not to act ("skipped: ...").
	`CREATE TABLE suppressions (
		email      TEXT   NOT NULL PRIMARY KEY,
		reason     TEXT   NOT NULL,
		rule       TEXT   NOT NULL,
		event_id   TEXT   NOT NULL,
		created_ns BIGINT NOT NULL
	);
	CREATE INDEX suppressions_created ON suppressions (created_ns, email);
	ALTER TABLE job_attempts ADD COLUMN note TEXT NOT NULL DEFAULT '';`,

	// The vocabulary shared by every provider (event.Category and
	// event.BounceClass); rows stored before it have '' until version 13.
	`ALTER TABLE events ADD COLUMN category TEXT NOT NULL DEFAULT '';
	ALTER TABLE events ADD COLUMN bounce_class TEXT NOT NULL DEFAULT '';`,

	// Counts for the dashboard, kept by the transaction that stores the
	// events (see counts.go), so that a month of charts reads a few
	// thousand rows instead of every event. Buckets are UTC hours and days
	// of the event's time; events of times beyond two days of the int64
	// range are not counted (no query can ask for them). Existing events
	// are counted here once. WITHOUT ROWID keeps each row in its primary
	// key's b-tree, so an upsert and a range read touch one b-tree, not
	// two; PostgreSQL has no such clause and needs none.
	`CREATE TABLE counts_hour (
		hour_ns BIGINT NOT NULL,
		type    TEXT   NOT NULL,
		source  TEXT   NOT NULL,
		n       BIGINT NOT NULL,
		PRIMARY KEY (hour_ns, type, source)
	) WITHOUT ROWID;
	-- Deliverability per recipient domain: by day for the whole days of a
	-- window, by hour for the rest. One row per domain and bucket, the
	-- types in columns, since a day holds a row for every domain mailed.
	CREATE TABLE counts_domain_day (
		day_ns  BIGINT NOT NULL,
		domain  TEXT   NOT NULL,
		sent    BIGINT NOT NULL,
		bounce  BIGINT NOT NULL,
		blocked BIGINT NOT NULL,
		spam    BIGINT NOT NULL,
		PRIMARY KEY (day_ns, domain)
	) WITHOUT ROWID;
	CREATE TABLE counts_domain_hour (
		hour_ns BIGINT NOT NULL,
		domain  TEXT   NOT NULL,
		sent    BIGINT NOT NULL,
		bounce  BIGINT NOT NULL,
		blocked BIGINT NOT NULL,
		spam    BIGINT NOT NULL,
		PRIMARY KEY (hour_ns, domain)
	) WITHOUT ROWID;
	-- bounce and blocked: data.error (its first 120 characters) and, for
	-- bounces, data.hard_bounce; few rows an hour.
	CREATE TABLE counts_error_hour (
		hour_ns BIGINT  NOT NULL,
		type    TEXT    NOT NULL,
		error   TEXT    NOT NULL,
		hard    INTEGER NOT NULL,
		n       BIGINT  NOT NULL,
		PRIMARY KEY (hour_ns, type, error, hard)
	) WITHOUT ROWID;
` + countAll + `
	-- Rule activity over a window: written once per job, at the end of
	-- the index, never updated (status is read from the row).
	CREATE INDEX jobs_created ON jobs (created_ns);`,

	// Explanations: why each evaluated event fired or did not fire each
	// rule (see Explanation). A rule set is written once, when the first
	// event it explains is; each event's row refers to its rules by index,
	// so that the projector writes a few bytes per event.
	`CREATE TABLE rule_sets (
		id    TEXT NOT NULL PRIMARY KEY,
		rules TEXT NOT NULL
	);
	CREATE TABLE explanations (
		seq      INTEGER PRIMARY KEY,
		rule_set TEXT    NOT NULL,
		outcomes TEXT    NOT NULL
	);`,

	// Counts again from the events: until this version, retention deleted
	// events and left them in the count tables.
	`DELETE FROM counts_hour;
	DELETE FROM counts_domain_day;
	DELETE FROM counts_domain_hour;
	DELETE FROM counts_error_hour;
	` + countAll,

	// The attempts a job had when it was last retried from the dead
	// letters (actions.Job.RetriedAfter): its attempts go on being numbered
	// after them, and its retry policy counts only the failures since.
	// Until this version a retry set attempts back to 0.
	`ALTER TABLE jobs ADD COLUMN retried_after INTEGER NOT NULL DEFAULT 0;`,

	// The sessions of the dashboard's login form (see AddSession), here
	// so that every replica sharing the store knows them and a logout at
	// one ends the session at all. mac is a MAC of the session's id, not
	// the id the cookie holds.
	`CREATE TABLE admin_sessions (
		mac        TEXT   NOT NULL PRIMARY KEY,
		expires_ns BIGINT NOT NULL
	);
	CREATE INDEX admin_sessions_expires ON admin_sessions (expires_ns);`,

	// The count tables by event.Category instead of the provider's type,
	// so that the dashboard counts every provider's events, not only
	// Mailjet's words: counts_hour gains the category in its key (for
	// Stats by category); the domain counts count delivered, bounce,
	// blocked and complaint events; counts_error_hour counts bounces and
	// blocks by category, error text (each provider's, see errorOf) and
	// bounce class ('' for blocks and for bounces whose provider did not
	// tell). The tables are made again, empty, and recount fills them
	// from the events in the same transaction (see steps), as the
	// projector counts: a Mailjet event stored before events had a
	// category (Mailjet was the only provider then) is counted under the
	// category the mailjet adapter gives its type now, its bounce class
	// from data.hard_bounce (see countedAs); the events themselves are
	// left as they were stored.
	`DROP TABLE counts_hour;
	DROP TABLE counts_domain_day;
	DROP TABLE counts_domain_hour;
	DROP TABLE counts_error_hour;
	CREATE TABLE counts_hour (
		hour_ns  BIGINT NOT NULL,
		type     TEXT   NOT NULL,
		source   TEXT   NOT NULL,
		category TEXT   NOT NULL,
		n        BIGINT NOT NULL,
		PRIMARY KEY (hour_ns, type, source, category)
	) WITHOUT ROWID;
	CREATE TABLE counts_domain_day (
		day_ns    BIGINT NOT NULL,
		domain    TEXT   NOT NULL,
		delivered BIGINT NOT NULL,
		bounce    BIGINT NOT NULL,
		blocked   BIGINT NOT NULL,
		complaint BIGINT NOT NULL,
		PRIMARY KEY (day_ns, domain)
	) WITHOUT ROWID;
	CREATE TABLE counts_domain_hour (
		hour_ns   BIGINT NOT NULL,
		domain    TEXT   NOT NULL,
		delivered BIGINT NOT NULL,
		bounce    BIGINT NOT NULL,
		blocked   BIGINT NOT NULL,
		complaint BIGINT NOT NULL,
		PRIMARY KEY (hour_ns, domain)
	) WITHOUT ROWID;
	CREATE TABLE counts_error_hour (
		hour_ns  BIGINT NOT NULL,
		category TEXT   NOT NULL,
		error    TEXT   NOT NULL,
		class    TEXT   NOT NULL,
		n        BIGINT NOT NULL,
		PRIMARY KEY (hour_ns, category, error, class)
	) WITHOUT ROWID;`,

	// How far in the log the store got: per topic, the offset of the last
	// message the projector stored (eventlog.OffsetKey), written in the
	// transaction that stores it, so that a store restored from a backup
	// older than the log's knows where its projector must resume (see
	// CatchUp). Empty for logs whose messages carry no offset.
	`CREATE TABLE log_offsets (
		topic      TEXT   NOT NULL PRIMARY KEY,
		log_offset BIGINT NOT NULL
	);`,

	// The http action's targets no longer show the URL's path, where
	// Slack, Discord and other services take their token: retarget (see
	// steps) renames the stored targets and the jobs' targets as the
	// action names them now, and rewrites the errors that named them.
	`-- Written in Go: retarget.
	SELECT 1;`,

	// The category and bounce class of the Mailjet events stored before
	// events had them (Mailjet was the only provider then): until this
	// version they kept '', so that a category or bounce class filter
	// left them out while the count tables counted them (see countedAs).
	// They get what the mailjet adapter gives their type now; the count
	// tables already count them so and are left as they are. Bounces,
	// whose class is read from data.hard_bounce, are done by the step
	// (categorize).
	`UPDATE events SET category = CASE type WHEN 'sent' THEN 'delivered' WHEN 'open' THEN 'open'
			WHEN 'click' THEN 'click' WHEN 'blocked' THEN 'blocked' WHEN 'spam' THEN 'complaint'
			WHEN 'unsub' THEN 'unsubscribe' END
		WHERE provider = 'mailjet' AND category = '' AND type IN ('sent', 'open', 'click', 'blocked', 'spam', 'unsub');`,

	// Retention deletes the oldest cooldown firings (DeleteFiringsBefore)
	// a batch at a time: without an index on their time, each batch would
	// read the whole table.
	`CREATE INDEX rule_firings_at ON rule_firings (time_ns);`,
}

// steps are the parts of migrations written in Go: steps[v] runs in the
// migration's transaction right after migrations[v-1], the SQL that takes
// the schema to version v. Like a migration, a released step is never
// edited.
var steps = map[int]func(context.Context, *sql.Tx) error{
	10: recount,
	12: retarget,
	13: categorize,
}

// countAll fills the empty count tables of schema versions 5 to 9 from the
// events table, by the provider's type, as addCounts counted each event
// then. Migration 10 makes the tables again and recount fills them.
const countAll = `
	INSERT INTO counts_hour (hour_ns, type, source, n)
		SELECT time_ns - ((time_ns % 3600000000000) + 3600000000000) % 3600000000000 AS h, type, source, COUNT(*)
		FROM events WHERE time_ns >= -9223199236854775807 AND time_ns <= 9223199236854775807
		GROUP BY h, type, source;
	INSERT INTO counts_domain_day (day_ns, domain, sent, bounce, blocked, spam)
		SELECT time_ns - ((time_ns % 86400000000000) + 86400000000000) % 86400000000000 AS d, domain,
			SUM(CASE WHEN type = 'sent' THEN 1 ELSE 0 END), SUM(CASE WHEN type = 'bounce' THEN 1 ELSE 0 END),
			SUM(CASE WHEN type = 'blocked' THEN 1 ELSE 0 END), SUM(CASE WHEN type = 'spam' THEN 1 ELSE 0 END)
		FROM events WHERE type IN ('sent', 'bounce', 'blocked', 'spam')
			AND time_ns >= -9223199236854775807 AND time_ns <= 9223199236854775807
		GROUP BY d, domain;
	INSERT INTO counts_domain_hour (hour_ns, domain, sent, bounce, blocked, spam)
		SELECT time_ns - ((time_ns % 3600000000000) + 3600000000000) % 3600000000000 AS h, domain,
			SUM(CASE WHEN type = 'sent' THEN 1 ELSE 0 END), SUM(CASE WHEN type = 'bounce' THEN 1 ELSE 0 END),
			SUM(CASE WHEN type = 'blocked' THEN 1 ELSE 0 END), SUM(CASE WHEN type = 'spam' THEN 1 ELSE 0 END)
		FROM events WHERE type IN ('sent', 'bounce', 'blocked', 'spam')
			AND time_ns >= -9223199236854775807 AND time_ns <= 9223199236854775807
		GROUP BY h, domain;
	INSERT INTO counts_error_hour (hour_ns, type, error, hard, n)
		SELECT time_ns - ((time_ns % 3600000000000) + 3600000000000) % 3600000000000 AS h, type,
			substr(CAST(COALESCE(json_extract(data, '$.error'), '') AS TEXT), 1, 120) AS e,
			CASE WHEN type = 'bounce' AND json_extract(data, '$.hard_bounce') = 1 THEN 1 ELSE 0 END AS hard, COUNT(*)
		FROM events WHERE type IN ('bounce', 'blocked')
			AND time_ns >= -9223199236854775807 AND time_ns <= 9223199236854775807
		GROUP BY h, type, e, hard;
`

// migrate brings the schema up to the newest version in one transaction, so
// a failed migration leaves the previous version in place, and renames in
// it the http targets of an older hookd's replicas (see
// retargetLeftovers). With keep set it migrates nothing and refuses an
// older schema instead, as checkSchema does.
func migrate(ctx context.Context, w *sql.DB, d dialect, keep bool, logger *slog.Logger) error {
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
	if keep && v < len(migrations) {
		return olderSchema(v)
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, d.schema(migrations[i])); err != nil {
			return fmt.Errorf("migrate to schema version %d: %w", i+1, err)
		}
		if step := steps[i+1]; step != nil {
			if err := step(ctx, tx); err != nil {
				return fmt.Errorf("migrate to schema version %d: %w", i+1, err)
			}
		}
	}
	// Replicas of a hookd before schema version 12 that share the store
	// go on enqueueing http jobs under the targets that showed the URL's
	// path after a newer replica migrated it, until they are upgraded in
	// turn: each open renames them, in this transaction, whose lock keeps
	// them from enqueueing meanwhile.
	renamed, err := retargetLeftovers(ctx, tx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if v == len(migrations) && renamed == 0 {
		return nil
	}
	if v < len(migrations) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM schema_version`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, len(migrations)); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if renamed > 0 {
		logger.Info("store http targets of an older hookd renamed", "targets", renamed)
	}
	if v < len(migrations) {
		logger.Info("store schema migrated", "from", v, "to", len(migrations))
	}
	return nil
}

// olderSchema is the error of a store of schema version v, older than
// this hookd's, opened where it may not be migrated.
func olderSchema(v int) error {
	return fmt.Errorf("check schema version: store has version %d, this hookd needs %d: run hookd serve once to migrate it", v, len(migrations))
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
		return olderSchema(v)
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
