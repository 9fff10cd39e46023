package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
)

// RebuildResult is what Rebuild did.
type RebuildResult struct {
	// Events and Quarantined are how many rows the store held and were
	// stored again.
	Events, Quarantined int
	// Restored are the events and quarantined bodies that the projector
	// had consumed but the store lacked (store.db deleted or replaced):
	// they are stored again, under new seqs.
	Restored int
	// Skipped are the log's messages that the projector has not consumed
	// yet, left for it, and those it dropped as undecodable.
	Skipped int
	// Expired are the messages the projector had consumed and the store
	// lacks that were not restored because they are older than the
	// retention horizon: retention deleted them from the store on purpose.
	Expired int
}

// ErrLogTrimmed is returned, wrapped, by Rebuild when stored events are no
// longer in the log: rebuilding would lose them.
var ErrLogTrimmed = errors.New("stored events are no longer in the log")

// Rebuild drops the read model (events, quarantined bodies and
// explanations) and stores it again from the log, which it only reads: each
// event and quarantined item the store held, in log order, under the seq it
// had, so that every query and cursor answers as before. ev, unless nil,
// explains each event again with the current rules (see Tx.Explain).
//
// projected is, per topic, the offset of the last message the projector
// acked (its consumer group's, Group). The log's messages up to it that the
// store lacks, because its database was deleted or replaced by an older
// copy, are restored after the others, under new seqs, in log order. The
// later ones are left for the projector, to store and evaluate as it would
// have. A nil projected restores nothing. Of those to restore, the ones
// older than horizon (events by their time, quarantined bodies by when
// they were received, as retention compares them) are not: the store's
// retention deleted them, and they are counted as Expired. A zero horizon
// (no retention) restores them all.
//
// The rules' decisions are the store's record of what happened and are
// kept as they are: the action jobs and their attempts, targets, once keys
// and cooldown firings. ev evaluates in a Tx that only reads them and
// enqueues nothing, so a rebuild never runs an action again, restored
// events included (whether their actions ran was recorded in the store
// that was lost), and the state functions (last, count) are answered by
// the rebuilt events.
//
// It records, as the projector does (see LogOffsets), the offset the
// store got to per topic: the last message it stored again or, if further,
// projected's. So a store that was behind its group (an older copy) is
// not found behind by CatchUp after the rebuild that restored what it
// lacked.
//
// It runs in one transaction: it either completes or changes nothing. It
// fails, wrapping ErrLogTrimmed, when events of the store are not in the
// log any more. The caller makes sure no projector writes to the store
// meanwhile (hookd rebuild refuses to run beside hookd serve).
func (s *Store) Rebuild(ctx context.Context, log eventlog.Reader, ev Evaluator, projected map[string]int64, horizon time.Time) (RebuildResult, error) {
	var res RebuildResult
	if s.db.write == nil {
		return res, fmt.Errorf("rebuild: %w", errReadOnly)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`CREATE TABLE rebuild_keep (kind TEXT NOT NULL, id TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (kind, id))`,
			`INSERT INTO rebuild_keep (kind, id, seq) SELECT 'e', id, seq FROM events`,
			`INSERT INTO rebuild_keep (kind, id, seq) SELECT 'q', id, seq FROM quarantine`,
			`DELETE FROM explanations`,
			`DELETE FROM counts_hour`,
			`DELETE FROM counts_domain_day`,
			`DELETE FROM counts_domain_hour`,
			`DELETE FROM counts_error_hour`,
			`DELETE FROM events`,
			`DELETE FROM quarantine`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		keep, err := tx.PrepareContext(ctx, `SELECT seq FROM rebuild_keep WHERE kind = ? AND id = ?`)
		if err != nil {
			return err
		}
		defer keep.Close()
		insEvent, err := tx.PrepareContext(ctx, `INSERT INTO events
			(seq, id, source, provider, type, time_ns, received_ns, email, domain, message_id, campaign, data,
			category, bounce_class)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer insEvent.Close()
		insQuarantined, err := tx.PrepareContext(ctx, `INSERT INTO quarantine
			(seq, id, source, received_ns, error, content_type, body) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer insQuarantined.Close()
		seqOf := func(kind, id string) (int64, error) {
			var seq int64
			err := keep.QueryRowContext(ctx, kind, id).Scan(&seq)
			if errors.Is(err, sql.ErrNoRows) {
				return 0, nil
			}
			return seq, err
		}
		t := s.newTx(tx)
		t.explain, t.keepLedger = true, true
		// reached is, per topic, the offset of the last message stored
		// again, which can be past projected: the store is ahead of its
		// group when acks were not written yet as hookd stopped.
		reached := map[string]int64{}
		for _, topic := range []string{eventlog.TopicEvents, eventlog.TopicQuarantine} {
			for after := int64(0); ; {
				recs, err := log.Read(ctx, topic, after, 1000)
				if err != nil {
					return err
				}
				var (
					stored []event.Event // events of recs, with their seqs
					seqs   []int64
				)
				for _, r := range recs {
					after = r.Offset
					if topic == eventlog.TopicEvents {
						e, err := logEvent(r.Message.Payload)
						if err != nil {
							res.Skipped++ // the projector dropped it too
							continue
						}
						seq, err := seqOf("e", e.ID)
						if err != nil {
							return err
						}
						if seq == 0 {
							if r.Offset > projected[topic] {
								res.Skipped++
							}
							continue
						}
						data := string(e.Data)
						if data == "" {
							data = "null"
						}
						cat, class := countedAs(&e)
						if _, err := insEvent.ExecContext(ctx, seq, e.ID, e.Source, e.Provider, e.Type,
							encodeTime(e.Time), encodeTime(e.Received), strings.ToLower(e.Email), strings.ToLower(e.Domain),
							e.MessageID, e.Campaign, data, string(cat), string(class)); err != nil {
							return fmt.Errorf("event %s: %w", e.ID, err)
						}
						stored, seqs = append(stored, e), append(seqs, seq)
						reached[topic] = r.Offset
						res.Events++
						if ev != nil {
							t.at(e.ID, seq)
							if err := ev.Evaluate(ctx, t, e); err != nil {
								return fmt.Errorf("explain event %s: %w", e.ID, err)
							}
						}
						continue
					}
					var q event.Quarantined
					if err := json.Unmarshal(r.Message.Payload, &q); err != nil || q.ID == "" {
						res.Skipped++
						continue
					}
					seq, err := seqOf("q", q.ID)
					if err != nil {
						return err
					}
					if seq == 0 {
						if r.Offset > projected[topic] {
							res.Skipped++
						}
						continue
					}
					body := q.Body
					if body == nil {
						body = []byte{}
					}
					if _, err := insQuarantined.ExecContext(ctx, seq, q.ID, q.Source, encodeTime(q.Received), q.Error, q.ContentType, body); err != nil {
						return fmt.Errorf("quarantined %s: %w", q.ID, err)
					}
					reached[topic] = r.Offset
					res.Quarantined++
				}
				// The dashboard's counts, as the projector keeps them.
				if err := s.addCounts(ctx, tx, stored, seqs); err != nil {
					return err
				}
				if len(recs) < 1000 {
					break
				}
			}
		}
		var lost int
		err = tx.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM rebuild_keep WHERE kind = 'e') - (SELECT COUNT(*) FROM events) +
			(SELECT COUNT(*) FROM rebuild_keep WHERE kind = 'q') - (SELECT COUNT(*) FROM quarantine)`).Scan(&lost)
		if err != nil {
			return err
		}
		if lost > 0 {
			return fmt.Errorf("%w: %d of them (deleted by log retention, or stored without the log); nothing changed", ErrLogTrimmed, lost)
		}
		if _, err := tx.ExecContext(ctx, `DROP TABLE rebuild_keep`); err != nil {
			return err
		}
		res.Restored, res.Expired, err = s.restore(ctx, t, log, ev, projected, horizon)
		if err != nil {
			return err
		}
		// The store now holds the log up to projected (but what retention
		// deleted), as the projector would have recorded.
		return s.recordOffsets(ctx, tx,
			max(reached[eventlog.TopicEvents], projected[eventlog.TopicEvents]),
			max(reached[eventlog.TopicQuarantine], projected[eventlog.TopicQuarantine]))
	})
	if err != nil {
		return RebuildResult{}, fmt.Errorf("rebuild: %w", err)
	}
	return res, nil
}

// restore stores, in t, the log's messages up to projected[topic] that the
// store lacks and that are not older than horizon, as the projector would
// but evaluating them with ev only to explain them, and returns how many it
// stored and how many it left out for their age.
func (s *Store) restore(ctx context.Context, t *Tx, log eventlog.Reader, ev Evaluator, projected map[string]int64, horizon time.Time) (n, expired int, err error) {
	// expiredOf reports whether the message of table's id, of time at,
	// is one retention deleted: older than horizon and not in the store
	// (one the store holds is kept whatever its age: retention has not
	// reached it yet), and counts it.
	expiredOf := func(table, id string, at time.Time) (bool, error) {
		if horizon.IsZero() || !at.Before(horizon) {
			return false, nil
		}
		var held int
		if err := t.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE id = ?`, id).Scan(&held); err != nil {
			return false, err
		}
		if held == 0 {
			expired++
		}
		return held == 0, nil
	}
	for _, topic := range []string{eventlog.TopicEvents, eventlog.TopicQuarantine} {
		last := projected[topic]
		for after, done := int64(0), last == 0; !done; {
			recs, err := log.Read(ctx, topic, after, 1000)
			if err != nil {
				return n, expired, err
			}
			done = len(recs) < 1000
			var (
				events []event.Event
				items  []event.Quarantined
			)
			for _, r := range recs {
				if r.Offset > last {
					done = true
					break
				}
				after = r.Offset
				if topic == eventlog.TopicEvents {
					if e, err := logEvent(r.Message.Payload); err == nil {
						if old, err := expiredOf("events", e.ID, e.Time); err != nil {
							return n, expired, err
						} else if !old {
							events = append(events, e)
						}
					}
					continue
				}
				var q event.Quarantined
				if err := json.Unmarshal(r.Message.Payload, &q); err == nil && q.ID != "" {
					if old, err := expiredOf("quarantine", q.ID, q.Received); err != nil {
						return n, expired, err
					} else if !old {
						items = append(items, q)
					}
				}
			}
			seqs, err := s.insertEvents(ctx, t.tx, events)
			if err != nil {
				return n, expired, err
			}
			for i, e := range events {
				if seqs[i] == 0 {
					continue // the store held it
				}
				n++
				if ev != nil {
					t.at(e.ID, seqs[i])
					if err := ev.Evaluate(ctx, t, e); err != nil {
						return n, expired, fmt.Errorf("explain event %s: %w", e.ID, err)
					}
				}
			}
			stored, err := s.insertQuarantined(ctx, t.tx, items)
			if err != nil {
				return n, expired, err
			}
			n += stored
		}
	}
	return n, expired, nil
}
