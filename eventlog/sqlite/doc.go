// Package sqlite is hookd's embedded event log: a watermill Publisher and
// Subscriber over one SQLite file in WAL mode (modernc.org/sqlite, no cgo).
// It registers itself as the "sqlite" backend of package eventlog, which keeps
// the file as FileName in the data directory; Open, NewPublisher and
// NewSubscriber serve other uses. It passes watermill's universal test suite.
//
// # Contract
//
// Durability. Append and Publish write all their messages in one transaction
// on the Log's one writer connection, with synchronous=FULL: when they return
// nil, the commit is fsync'd and survives a crash, a SIGKILL or a power loss.
// On error nothing was appended. The writes of one Log queue in Go, never in
// SQLite's busy handler; another process on the same file is waited for up to
// Config.BusyTimeout.
//
// Deduplication. A message whose eventlog.DedupKey metadata is already in its
// topic, or earlier in the same Append, is not appended and is reported as a
// duplicate. The check is a unique index on (topic, dedup_key) used inside the
// appending transaction, so it holds across restarts and processes. Messages
// without the key are never deduplicated. The key is a column of the
// message's row: when Trim deletes the message, its key goes with it, and a
// later message with that key is appended.
//
// Ordering. A message's offset is its row id, given at commit, so offsets grow
// with the log. A consumer group receives a topic in offset order with, by
// default, one message in flight: the next one comes after the previous one
// is acked. Nack delivers the same message again after
// SubscriberConfig.NackBackoff, and so does the end of a subscription (its
// ctx, Subscriber.Close, Log.Close) with a message not acked. A new consumer
// group starts at the first message.
//
// Windows. With SubscriberConfig.InFlight (eventlog.InFlight) above one, a
// group has up to that many messages delivered and not acked, still in
// offset order, so that a consumer can take several and ack them together;
// a subscription then hands the ones ready over at once through a buffered
// channel. The group's offset advances over the messages acked without a
// gap before them. A Nack, or a subscription that ends with messages not
// acked, stops the deliveries until every message out has been acked or
// given up, and the group goes on from its first message not acked: the
// messages after it come again, acked or not.
//
// At least once. Ack advances the group's offset in memory at once; the
// offset reaches the file with the next Append, in its transaction, or
// when appends pause, in a write of its own Config.FlushInterval (10ms)
// later, and always before Subscriber.Close and Log.Close return. A crash
// therefore redelivers the messages acked in the last few milliseconds
// before it. Consumers must be idempotent, as hookd's are.
//
// Leases. One Log at a time serves a consumer group of a topic: the one that
// holds the group's lease, a row in the file with the holder and an expiry.
// Subscribers of the group in that Log share one cursor, so each message goes
// to exactly one of them. Another Log on the file (another process) delivers
// nothing to the group until the lease is released, which happens when the
// holder's last subscription of the group ends or the holder closes, or until
// it expires, Config.LeaseTTL (5s) after its holder last renewed it; the
// holder renews it every LeaseTTL/3, and waiters look every
// Config.PollInterval (100ms). A process that is killed thus holds up its
// groups for at most LeaseTTL. The acked offset and the release are written
// in one transaction, so the next holder starts where the last one stopped;
// after an expiry it starts at the last offset written.
//
// Waking. A commit wakes the waiting subscriptions of its topic in the same
// Log at once; appends by other processes are seen within
// Config.PollInterval.
// Subscriptions read ahead Config.ReadBatch messages per query from a pool of
// read-only connections, separate from the writer.
//
// # File
//
// The schema (tables messages, offsets and leases) is created by Open and
// versioned with PRAGMA user_version; Open migrates an older file and refuses
// a newer one. Rows are only ever appended to messages. A watermill message's
// metadata is stored as a JSON object, which replaces invalid UTF-8 in it
// with U+FFFD, except for its eventlog.DedupKey, which is stored once, in the
// dedup_key column, and read back from there.
//
// Checkpoints. No commit copies the WAL into the database file: the writer
// runs with wal_autocheckpoint=0, and a background connection checkpoints
// Config.CheckpointInterval (100ms) after commits, passively, so that Appends
// do not wait for it, except for a last short pass holding the writer that
// lets the WAL start over instead of growing (see Log.checkpointer). The WAL
// file stays near the size of one interval's commits, at most about
// Config.MaxWAL, and is truncated once the log is idle.
//
// # Throughput
//
// BenchmarkAppend on the 2-core development machine, shared with other jobs
// (an fsync of 4 KB measured 0.24 to 0.5 ms while it ran, not the nominal
// 0.13 ms), events of 600 bytes:
//
//   - batches of 1: 0.12 to 0.35 ms per Append, 2,900 to 8,500 events/s, one
//     fsync'd commit each;
//   - batches of 100 with ids that grow with time: 1.0 to 1.2 ms per
//     Append, 83,000 to 97,000 events/s (1.5 to 1.8 ms in the same runs with
//     an INSERT statement a message instead of one for up to 64);
//   - batches of 100 with ids from event.Hash: 2.6 to 2.7 ms per Append,
//     37,000 to 38,000 events/s (3.1 to 3.2 ms).
//
// The gap between the last two is the dedup index: random keys each dirty a
// page of their own, so a commit of 100 such events writes about 660 KB to
// the WAL against 130 KB for keys that grow with time (measured with 200,000
// events in the log). Ids that begin with a time-ordered part, such as the
// provider's event time, keep those writes together.
package sqlite
