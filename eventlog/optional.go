package eventlog

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Record is a message of the log with its offset.
type Record struct {
	Offset  int64
	Message *message.Message
}

// Reader is implemented by backends that can read a topic's messages in
// log order without a consumer group: reading changes nothing in the log,
// no offset included. hookd rebuild needs it.
type Reader interface {
	// Read returns up to limit messages of topic after offset after (0
	// for the first), in offset order; fewer than limit means the end.
	Read(ctx context.Context, topic string, after int64, limit int) ([]Record, error)
}

// Pinger is implemented by backends that can tell, without appending,
// whether they would take an append now: the log is open and its storage
// answers. hookd's /readyz asks it. A backend without it is taken to
// answer whenever it is open.
type Pinger interface {
	// Ping returns nil when the log is open and its storage answered
	// within ctx, and otherwise an error saying what did not answer.
	Ping(ctx context.Context) error
}

// FailureCounter is implemented by backends that count the failures of
// their background work, which they log as outages rather than return to
// a caller; /metrics exports them, so that an alert need not read logs.
type FailureCounter interface {
	// Failures returns how many attempts of each kind have failed since
	// the log was opened.
	Failures() Failures
}

// Failures are the counts of a FailureCounter.
type Failures struct {
	// Checkpoint counts failed copies of an SQLite WAL into its database.
	Checkpoint uint64
	// LeaseRenewal counts failed renewals of a consumer group's lease: one
	// not renewed within its TTL lets another process take the group over.
	LeaseRenewal uint64
	// Read counts a consumer's failed attempts to read the log (its
	// messages, or the lease that lets its group read them): while they
	// fail, the store and the rules fall behind.
	Read uint64
	// Offsets counts failed writes of the consumer groups' offsets: acks
	// not yet written are delivered again after a restart.
	Offsets uint64
}

// OffsetKey is the metadata key under which a backend that knows it puts
// the offset of a message it delivers, in decimal: the offset Read
// returns it at and Lag counts in. It is set on delivery, never stored
// with the message. The store records it in the transaction that stores
// the message, so that it knows how far in the log it got even when its
// file is older than the log's (restored from a backup).
const OffsetKey = "hookd_offset"

// Rewinder is implemented by backends that can move a consumer group back,
// so that the group receives again the messages after a given offset. hookd
// serve does that at start-up for the store's group when the store is
// behind the offset its group acked: the store was restored from a copy
// older than the log's.
type Rewinder interface {
	// Rewind sets the offset of group in topic to offset, the last
	// message the group counts as acked, when the group's offset is
	// further on, and returns the offset it had (0 when it had none; then
	// it changes nothing, since the group starts at the first message
	// anyway). It fails, changing nothing, while a subscriber of this or
	// another process consumes topic in group.
	Rewind(ctx context.Context, topic, group string, offset int64) (from int64, err error)
}
