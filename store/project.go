package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
)

// Run is the projector: it subscribes sub to the log's events and quarantine
// topics and stores every message it receives until ctx ends, then returns
// nil. sub is the caller's subscriber in the store's own consumer group, e.g.
// from log.Subscriber("store"); Run does not close it.
//
// A message is acked once its item is committed to the store, or is already
// there: projection is idempotent, so redelivery and replay do no harm. A
// payload that cannot be decoded is logged, counted in
// ProjectorStats.Undecodable and acked, since no retry can fix it. A database
// error nacks the message, so the log delivers it again.
//
// Run fails when it cannot subscribe, when the store is read-only, or when
// the subscriber closes a subscription before ctx ends.
func (s *Store) Run(ctx context.Context, sub message.Subscriber) error {
	if s.db.write == nil {
		return fmt.Errorf("run projector: %w", errReadOnly)
	}
	// Subscriptions end with ctx; cancelling also ends the first one if
	// the second cannot be made.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := sub.Subscribe(ctx, eventlog.TopicEvents)
	if err != nil {
		return fmt.Errorf("run projector: subscribe to %s: %w", eventlog.TopicEvents, err)
	}
	quarantine, err := sub.Subscribe(ctx, eventlog.TopicQuarantine)
	if err != nil {
		return fmt.Errorf("run projector: subscribe to %s: %w", eventlog.TopicQuarantine, err)
	}
	for {
		var (
			msg   *message.Message
			ok    bool
			topic string
		)
		select {
		case <-ctx.Done():
			return nil
		case msg, ok = <-events:
			topic = eventlog.TopicEvents
		case msg, ok = <-quarantine:
			topic = eventlog.TopicQuarantine
		}
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("run projector: subscription to %s closed", topic)
		}
		s.project(ctx, topic, msg)
	}
}

// project stores one message and acks or nacks it.
func (s *Store) project(ctx context.Context, topic string, msg *message.Message) {
	var (
		insert func() error
		done   = &s.stats.events
	)
	switch topic {
	case eventlog.TopicEvents:
		e, err := event.Unmarshal(msg.Payload)
		if err == nil && e.ID == "" {
			err = errors.New("event has no id")
		}
		if err != nil {
			s.drop(topic, msg, err)
			return
		}
		insert = func() error { return s.Insert(ctx, e) }
	default:
		var q event.Quarantined
		err := json.Unmarshal(msg.Payload, &q)
		if err == nil && q.ID == "" {
			err = errors.New("quarantined item has no id")
		}
		if err != nil {
			s.drop(topic, msg, fmt.Errorf("unmarshal quarantined: %w", err))
			return
		}
		insert = func() error { return s.InsertQuarantined(ctx, q) }
		done = &s.stats.quarantined
	}
	if err := insert(); err != nil {
		// A cancelled ctx is shutdown, not failure: the message is
		// delivered again next time.
		if ctx.Err() == nil {
			s.stats.failed.Add(1)
			s.logger.Error("store: projecting message failed, will retry", "topic", topic, "uuid", msg.UUID, "error", err)
		}
		msg.Nack()
		return
	}
	// Counted before the ack, so that whoever sees the next message sees the
	// count of this one.
	done.Add(1)
	msg.Ack()
}

// drop acks a message that can never be stored.
func (s *Store) drop(topic string, msg *message.Message, err error) {
	s.stats.undecodable.Add(1)
	s.logger.Error("store: dropping undecodable message", "topic", topic, "uuid", msg.UUID, "error", err)
	msg.Ack()
}
