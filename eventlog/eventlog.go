// Package eventlog opens the event log, hookd's source of truth: a watermill
// Publisher/Subscriber pair that every consumer (store, rules) reads in its own
// consumer group. Each backend lives in a subpackage named after it and
// registers itself here; import it for its side effect to make it available.
package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Topics of the log.
const (
	// TopicEvents carries one message per accepted event; the payload is
	// the JSON of event.Event.
	TopicEvents = "events"
	// TopicQuarantine carries the raw bodies that an authenticated source
	// sent but that could not be decoded.
	TopicQuarantine = "quarantine"
)

// Topics returns the topics of the log that hookd uses.
func Topics() []string { return []string{TopicEvents, TopicQuarantine} }

// DedupKey is the metadata key that Append uses to recognise duplicates: a
// message whose DedupKey value is already in its topic is not appended again.
// Messages without it are never deduplicated.
const DedupKey = "dedup_key"

// ErrUnknownBackend is returned by Open for a backend no package registered.
var ErrUnknownBackend = errors.New("unknown event log backend")

// Log is an opened event log.
//
// All methods are safe for concurrent use. Close stops every subscriber
// created through Subscriber and releases the backend.
type Log interface {
	message.Publisher

	// Append durably appends msgs to topic in one transaction, skipping
	// every message whose DedupKey metadata is already in the topic or
	// appears earlier in msgs. When Append returns nil, every message not
	// reported as a duplicate is committed (fsync'd, or acknowledged by the
	// backend's quorum) and will be delivered to every consumer group.
	// dup[i] tells whether msgs[i] was a duplicate. On error nothing was
	// appended. ctx bounds the wait for the backend.
	Append(ctx context.Context, topic string, msgs []*message.Message) (dup []bool, err error)

	// Subscriber returns a subscriber in the named consumer group: each
	// message of a topic is delivered to one subscriber of each group, in
	// log order, and redelivered until it is acked.
	Subscriber(group string, opts ...SubscriberOption) (message.Subscriber, error)

	// Trim deletes up to limit messages of topic appended before before
	// that every consumer group of topic has acked (at or before the
	// lowest position the groups have durably acked; none when no group
	// has one), never the newest message of the topic, and returns how
	// many it deleted: 0 for a topic that no process has used. A message
	// a group has not acked is kept whatever its age. It is meant to be
	// called in a loop with a small limit, so that appends are never held
	// up for long, and it may be called by several processes on one log at
	// once: each message is deleted once, by one of them. What becomes of
	// the DedupKey of a deleted message depends on the backend; each says
	// so in its documentation. hookd serve's retention job calls it.
	Trim(ctx context.Context, topic string, before time.Time, limit int) (int, error)
}

// SubscriberOptions are what SubscriberOption values set.
type SubscriberOptions struct {
	// InFlight is the most messages a group has delivered and not yet
	// acked (default 1). See InFlight.
	InFlight int
}

// SubscriberOption tunes a subscriber.
type SubscriberOption func(*SubscriberOptions)

// InFlight lets a group have up to n messages delivered and not yet acked,
// so that a consumer can take several, commit them in one transaction and
// then ack them all. Messages are still delivered in log order; the group's
// offset advances past a message only when it and every message before it
// are acked, and a Nack redelivers from the nacked message on (so messages
// after it that were acked may be delivered again). Backends that cannot
// hold several messages in flight deliver one at a time, so a consumer must
// not wait for a second message before it acks the first.
func InFlight(n int) SubscriberOption {
	return func(o *SubscriberOptions) { o.InFlight = max(n, 1) }
}

// Options applies opts over the defaults.
func Options(opts ...SubscriberOption) SubscriberOptions {
	o := SubscriberOptions{InFlight: 1}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Config selects and configures a backend.
type Config struct {
	// Backend is the registered backend name: sqlite (default), postgres, nats.
	Backend string `yaml:"backend"`
	// DSN is the database connection string of SQL backends other than sqlite.
	DSN string `yaml:"dsn"`
	// URL is the server address of the nats backend.
	URL string `yaml:"url"`
	// Prefix starts the names of the backend's tables (postgres) or
	// streams (nats), so that several hookd installations, or tests, share
	// one server. Default "hookd"; letters, digits and '_', starting with a
	// letter or '_'.
	Prefix string `yaml:"prefix"`
	// Dir is the data directory where file-based backends keep their files.
	Dir string `yaml:"-"`
}

// OpenFunc opens one backend. logger is never nil.
type OpenFunc func(ctx context.Context, cfg Config, logger *slog.Logger) (Log, error)

var (
	mu       sync.RWMutex
	backends = map[string]OpenFunc{}
)

// Register makes a backend available to Open under name. It panics when
// name is registered twice, which is a programming error.
func Register(name string, open OpenFunc) {
	mu.Lock()
	defer mu.Unlock()
	if _, ok := backends[name]; ok {
		panic("eventlog: backend registered twice: " + name)
	}
	backends[name] = open
}

// Backends lists the registered backend names, sorted.
func Backends() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens the backend that cfg names (sqlite when empty). A nil logger
// discards.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (Log, error) {
	if cfg.Backend == "" {
		cfg.Backend = "sqlite"
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mu.RLock()
	open, ok := backends[cfg.Backend]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("open event log %q: %w (registered: %v)", cfg.Backend, ErrUnknownBackend, Backends())
	}
	l, err := open(ctx, cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("open event log %q: %w", cfg.Backend, err)
	}
	return l, nil
}

// Publish is watermill's Publish written with Append, for backends whose
// Publish is nothing more: it appends msgs to topic in one Append, bounded
// by the first message's context, and drops which were duplicates.
func Publish(a interface {
	Append(ctx context.Context, topic string, msgs []*message.Message) ([]bool, error)
}, topic string, msgs []*message.Message) error {
	ctx := context.Background()
	if len(msgs) > 0 {
		ctx = msgs[0].Context()
	}
	_, err := a.Append(ctx, topic, msgs)
	return err
}
