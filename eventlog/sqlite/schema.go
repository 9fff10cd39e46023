package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations brings a database from schema version i to i+1 with
// migrations[i]; PRAGMA user_version records how many have run. Later
// versions append to this list and never edit an entry already released.
var migrations = []string{
	// Version 1.
	//
	// The offset is the rowid. Rows are never deleted from the end of
	// messages, so SQLite's max(rowid)+1 never hands out an offset twice
	// and AUTOINCREMENT (an extra write per insert) is not needed. A
	// retention job may delete old rows, never the newest one.
	`
CREATE TABLE messages (
	"offset"   INTEGER PRIMARY KEY,
	topic      TEXT    NOT NULL,
	uuid       TEXT    NOT NULL,
	dedup_key  TEXT,
	payload    BLOB,
	metadata   TEXT,             -- JSON object of the watermill metadata, NULL when empty
	created_at INTEGER NOT NULL  -- Unix milliseconds of the Append
);
-- Partial: messages without a key are never deduplicated, so they need no entry.
CREATE UNIQUE INDEX messages_topic_dedup_key ON messages (topic, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX messages_topic_offset ON messages (topic, "offset");

-- The last offset each consumer group acked, per topic.
CREATE TABLE offsets (
	topic          TEXT    NOT NULL,
	consumer_group TEXT    NOT NULL,
	"offset"       INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	PRIMARY KEY (topic, consumer_group)
) WITHOUT ROWID;

-- Which Log delivers a consumer group's messages, until when.
CREATE TABLE leases (
	topic          TEXT    NOT NULL,
	consumer_group TEXT    NOT NULL,
	holder         TEXT    NOT NULL,
	expires_at     INTEGER NOT NULL, -- Unix milliseconds
	PRIMARY KEY (topic, consumer_group)
) WITHOUT ROWID;
`,
}

// migrate brings the database on conn to the newest schema version. It reads
// the version again inside a write transaction, so two processes opening a
// new file at once migrate it once.
func migrate(ctx context.Context, conn *sql.Conn) error {
	version := func() (int, error) {
		var v int
		if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return 0, fmt.Errorf("read schema version: %w", err)
		}
		if v > len(migrations) {
			return 0, fmt.Errorf("schema version %d is newer than this hookd understands (%d)", v, len(migrations))
		}
		return v, nil
	}
	v, err := version()
	if err != nil || v == len(migrations) {
		return err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	err = func() error {
		v, err := version()
		if err != nil {
			return err
		}
		for ; v < len(migrations); v++ {
			if _, err := conn.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
			}
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
			return fmt.Errorf("set schema version %d: %w", v, err)
		}
		_, err = conn.ExecContext(ctx, "COMMIT")
		return err
	}()
	if err != nil {
		_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	return nil
}
