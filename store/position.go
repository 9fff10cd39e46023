package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/hookd/hookd/eventlog"
)

var recordOffsetSQL = writeSQL(`INSERT INTO log_offsets (topic, log_offset) VALUES (?, ?)
	ON CONFLICT (topic) DO UPDATE SET log_offset = excluded.log_offset`)

// recordOffsets records, in tx, events and quarantine as the log offsets
// the store got to in the events and quarantine topics; a zero offset (the
// log gives none) records nothing. It sets rather than raises them: the
// projector takes the log in order, so the last batch is where it is, also
// after its group was rewound, and Rebuild stores the log again up to where
// it says.
func (s *Store) recordOffsets(ctx context.Context, tx *sql.Tx, events, quarantine int64) error {
	for _, p := range []struct {
		topic  string
		offset int64
	}{{eventlog.TopicEvents, events}, {eventlog.TopicQuarantine, quarantine}} {
		if p.offset == 0 {
			continue
		}
		st, err := s.stmt(ctx, tx, recordOffsetSQL)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, p.topic, p.offset); err != nil {
			return fmt.Errorf("record log offset of %s: %w", p.topic, err)
		}
	}
	return nil
}

// LogOffsets returns, per topic of the log, the offset of the last message
// the projector stored, as the transaction that stored it recorded (or
// the last one hookd rebuild stored again or restored, see Rebuild): the
// store's own idea of how far in the log it got, which survives a restore
// of the store's database from a backup, unlike its consumer group's
// offset, which the log keeps. A topic is missing when no message of it
// was stored with an offset: the log's backend gives none (only the
// sqlite log does), or none was stored since this hookd.
func (s *Store) LogOffsets(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT topic, log_offset FROM log_offsets`)
	if err != nil {
		return nil, fmt.Errorf("read log offsets: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var topic string
		var off int64
		if err := rows.Scan(&topic, &off); err != nil {
			return nil, fmt.Errorf("read log offsets: %w", err)
		}
		out[topic] = off
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read log offsets: %w", err)
	}
	return out, nil
}

// Behind is a topic of the log where the store is behind the projector's
// consumer group (Group): the log counts messages as projected that the
// store has not stored.
type Behind struct {
	Topic string
	// Stored is the offset of the last message the store recorded
	// storing (see LogOffsets), Acked that of the last message its group
	// acked in the log.
	Stored, Acked int64
	// Rewound tells that CatchUp moved the group back to Stored, so that
	// the projector receives the messages after it again. It is false
	// when the log cannot rewind a group (it is no eventlog.Rewinder).
	Rewound bool
}

// CatchUp finds the topics where the store is behind the offset its
// projector's consumer group acked in log, as when store.db was restored
// from a backup taken before the log's, and rewinds the group there to the
// store's offset, so that the projector stores the missing messages as it
// would have: in log order, each event stored and evaluated once, since the
// events the store holds are skipped and not evaluated again. It returns
// what it found, rewound or not. Call it before the projector subscribes:
// the rewind fails while the group is consumed.
//
// It finds nothing when the store recorded no offsets (see LogOffsets) or
// the log cannot say where its groups are (it is no eventlog.Lagger); a
// store ahead of its group (acks not yet written when hookd stopped) is
// not behind: the messages delivered again are skipped.
func (s *Store) CatchUp(ctx context.Context, log eventlog.Log) ([]Behind, error) {
	lagger, ok := log.(eventlog.Lagger)
	if !ok {
		return nil, nil
	}
	stored, err := s.LogOffsets(ctx)
	if err != nil || len(stored) == 0 {
		return nil, err
	}
	lags, err := lagger.Lag(ctx)
	if err != nil {
		return nil, fmt.Errorf("catch up with the log: %w", err)
	}
	var out []Behind
	for _, g := range lags {
		at, ok := stored[g.Topic]
		if g.Group != Group || !ok || at >= g.Acked {
			continue
		}
		b := Behind{Topic: g.Topic, Stored: at, Acked: g.Acked}
		if r, ok := log.(eventlog.Rewinder); ok {
			if _, err := r.Rewind(ctx, g.Topic, Group, at); err != nil {
				return out, fmt.Errorf("catch up with the log: %w", err)
			}
			b.Rewound = true
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Behind) int { return strings.Compare(a.Topic, b.Topic) })
	return out, nil
}
