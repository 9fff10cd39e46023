package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
)

// Group is the consumer group the projector reads the log in.
const Group = "store"

// Batch is the most messages the projector stores in one transaction. Give
// Run a subscriber that may hold that many in flight, as in
//
//	sub, err := log.Subscriber(store.Group, eventlog.InFlight(store.Batch))
//
// so that the messages the log already has are there to be taken together.
const Batch = 256

// Linger is how long the projector waits for more messages to fill a
// transaction once the messages ready are taken, when the last transaction
// held more than one: under load, fewer and fuller transactions store the
// same events for less CPU (BenchmarkIngest: about 10% more events/s), at
// the price of up to Linger before an event is stored and its rules run. A
// subscriber that delivers one message at a time, or a trickle of events,
// makes transactions of one message and never waits.
const Linger = 10 * time.Millisecond

// RunOption changes how Run projects.
type RunOption func(*runConfig)

type runConfig struct {
	busy    func() bool
	maxWait time.Duration
	// committed, for tests, is called after a transaction commits and
	// before its messages are acked.
	committed func()
}

// GiveWay makes the projector give way to work that cannot wait, such as
// answering webhook requests on the same machine: once a message is ready,
// the projector waits while busy reports true, polling every millisecond,
// and stores what it has (a full batch, by then) after at most maxWait, so
// that it always advances. While busy, the store and the rules lag behind
// the log by the messages that arrive meanwhile, and catch up once it is
// not. busy is called from the projector's goroutine only.
func GiveWay(busy func() bool, maxWait time.Duration) RunOption {
	return func(c *runConfig) { c.busy, c.maxWait = busy, maxWait }
}

// A projector that gives way asks every giveWayPoll whether it may go on,
// and goes on once the answer was yes giveWayQuiet times in a row.
const (
	giveWayPoll  = time.Millisecond
	giveWayQuiet = 10
)

// Run is the projector: it subscribes sub to the log's events and quarantine
// topics and stores every message it receives until ctx ends, then returns
// nil. sub is the caller's subscriber in the store's own consumer group (see
// Batch); Run does not close it.
//
// Run takes one message, waiting for it, then whatever else both
// subscriptions have ready, up to Batch, and, when its last transaction
// held more than one message, what else arrives within Linger; it stores
// them in one transaction and then acks them. A subscriber that delivers
// one message at a time gets one transaction per message, without delay. Acks are sent once the transaction is
// committed: projection is idempotent, so redelivery and replay do no harm.
// When the log gives each message's offset (eventlog.OffsetKey), the
// transaction also records, per topic, the offset of the last message
// taken, for CatchUp.
// A payload that cannot be decoded is logged, counted in
// ProjectorStats.Undecodable and acked, since no retry can fix it. A
// database error nacks every message of the transaction, so the log
// delivers them again; Run then waits before it stores again, 100 ms after
// the first failure in a row, doubled after each further one up to 10 s.
// Messages of a topic that the log hands out before the first of them
// comes again (a log holding several in flight handed them out already)
// are nacked too, unstored, so that the store keeps the log's order; a
// message that does not come again within a minute is waited for no more.
//
// ev, unless nil, decides what events trigger: in each transaction, after
// storing the messages, Run calls it on every event that the transaction
// stored for the first time, in log order (see Evaluator), and after a
// commit in which it enqueued jobs, Run signals Wake. An Evaluate error
// fails the transaction as a database error does.
//
// With GiveWay, Run waits as that option says before it fills a
// transaction.
//
// Run fails when it cannot subscribe, when the store is read-only, or when
// the subscriber closes a subscription before ctx ends.
func (s *Store) Run(ctx context.Context, sub message.Subscriber, ev Evaluator, opts ...RunOption) error {
	if s.db.write == nil {
		return fmt.Errorf("run projector: %w", errReadOnly)
	}
	// The subscriptions end when Run returns, not when ctx ends: a batch
	// committed just as ctx ends is still acked, and its acks count, so a
	// restart does not deliver it again. Cancelling also ends the first
	// subscription if the second cannot be made.
	subCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	events, err := sub.Subscribe(subCtx, eventlog.TopicEvents)
	if err != nil {
		return fmt.Errorf("run projector: subscribe to %s: %w", eventlog.TopicEvents, err)
	}
	quarantine, err := sub.Subscribe(subCtx, eventlog.TopicQuarantine)
	if err != nil {
		return fmt.Errorf("run projector: subscribe to %s: %w", eventlog.TopicQuarantine, err)
	}
	var cfg runConfig
	for _, o := range opts {
		o(&cfg)
	}
	var b batch
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	busy := false // the last transaction held more than one message
	failures := 0 // failed transactions in a row
	for {
		b.reset()
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-events:
			s.take(&b, eventlog.TopicEvents, msg, ok)
		case msg, ok := <-quarantine:
			s.take(&b, eventlog.TopicQuarantine, msg, ok)
		}
		if cfg.busy != nil && !s.giveWay(ctx, cfg) {
			return nil
		}
		waiting := false
	more:
		for b.closed == "" && b.size() < Batch {
			select {
			case msg, ok := <-events:
				s.take(&b, eventlog.TopicEvents, msg, ok)
				continue
			case msg, ok := <-quarantine:
				s.take(&b, eventlog.TopicQuarantine, msg, ok)
				continue
			default:
			}
			if !busy {
				break
			}
			if !waiting {
				linger.Reset(Linger)
				waiting = true
			}
			select {
			case msg, ok := <-events:
				s.take(&b, eventlog.TopicEvents, msg, ok)
			case msg, ok := <-quarantine:
				s.take(&b, eventlog.TopicQuarantine, msg, ok)
			case <-linger.C:
				waiting = false
				break more
			case <-ctx.Done():
				break more
			}
		}
		if waiting {
			linger.Stop() // Go 1.23 timers: no stale value to drain
		}
		busy = len(b.msgs) > 1
		if s.store(ctx, &b, ev, cfg.committed) {
			if len(b.msgs) > 0 { // not only messages nacked by take
				failures = 0
			}
		} else if len(b.msgs) > 0 {
			b.await()
			// The database failed (a full disk, say): wait longer after
			// each failure in a row before the messages come again, so
			// that the log and the disk are not flooded.
			failures++
			select {
			case <-time.After(min(retryBase<<min(failures-1, 10), retryMax)):
			case <-ctx.Done():
			}
		}
		if b.closed != "" {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("run projector: subscription to %s closed", b.closed)
		}
	}
}

// After a failed transaction the projector waits retryBase, doubled after
// each further failure in a row up to retryMax, before it stores again.
const (
	retryBase = 100 * time.Millisecond
	retryMax  = 10 * time.Second
)

// giveWay waits until cfg.busy has reported false giveWayQuiet times in a
// row, polling every giveWayPoll, for at most cfg.maxWait; it returns false
// if ctx ended meanwhile. A load that dips for a moment between bursts of
// requests does not end the wait.
func (s *Store) giveWay(ctx context.Context, cfg runConfig) bool {
	if !cfg.busy() {
		return true
	}
	t := time.NewTicker(giveWayPoll)
	defer t.Stop()
	start := time.Now()
	defer func() { s.stats.gaveWay.Add(int64(time.Since(start))) }()
	deadline := start.Add(cfg.maxWait)
	for quiet := 0; quiet < giveWayQuiet && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		if cfg.busy() {
			quiet = 0
		} else {
			quiet++
		}
	}
	return true
}

// batch is what the projector stores in one transaction.
type batch struct {
	events      []event.Event
	quarantined []event.Quarantined
	msgs        []*message.Message // of both, in the order taken
	closed      string             // the topic whose subscription closed, if any
	// The log offset of the last message taken of each topic, 0 when the
	// log gives none (see eventlog.OffsetKey).
	eventsOffset, quarantineOffset int64
	// first is the UUID of the first message taken of each topic.
	first map[string]string
	// awaited survives reset: after a failed transaction, the UUID of the
	// first message of each topic it held, which the log delivers again,
	// and the messages after it with it. A log that holds several
	// messages in flight (SQLite's) may have handed out later ones
	// before: taking them first would store them out of the log's order,
	// and the rules would decide on them without what came before. Until
	// it is back, take nacks every other message of its topic, which
	// comes again after it, for at most awaitLimit from awaitedAt.
	awaited   map[string]string
	awaitedAt time.Time
}

// awaitLimit bounds how long take waits for a nacked message to come
// again, nacking others meanwhile: the logs deliver it again at once, but
// one whose messages were lost (a NATS stream deleted) would not, and the
// projector must not stop for that.
const awaitLimit = time.Minute

func (b *batch) reset() {
	clear(b.events)
	clear(b.quarantined)
	clear(b.msgs)
	clear(b.first)
	*b = batch{events: b.events[:0], quarantined: b.quarantined[:0], msgs: b.msgs[:0], first: b.first,
		awaited: b.awaited, awaitedAt: b.awaitedAt}
}

// add adds msg, of topic, to b.
func (b *batch) add(topic string, msg *message.Message) {
	b.msgs = append(b.msgs, msg)
	if _, ok := b.first[topic]; !ok {
		if b.first == nil {
			b.first = map[string]string{}
		}
		b.first[topic] = msg.UUID
	}
}

// await notes that the messages of b, whose transaction failed and which
// were nacked, come again, each topic's from its first one on.
func (b *batch) await() {
	for topic, uuid := range b.first {
		if b.awaited == nil {
			b.awaited = map[string]string{}
		}
		b.awaited[topic] = uuid
		b.awaitedAt = time.Now()
	}
}

func (b *batch) size() int { return len(b.events) + len(b.quarantined) }

// take decodes msg, received from topic with ok, into b. A message that
// cannot be decoded is dropped at once; one handed out before a message
// awaited (see batch.awaited) is nacked.
func (s *Store) take(b *batch, topic string, msg *message.Message, ok bool) {
	if !ok {
		b.closed = topic
		return
	}
	var (
		e   event.Event
		q   event.Quarantined
		err error
	)
	switch topic {
	case eventlog.TopicEvents:
		e, err = logEvent(msg.Payload)
	default:
		err = json.Unmarshal(msg.Payload, &q)
		if err == nil && q.ID == "" {
			err = errors.New("quarantined item has no id")
		}
		if err != nil {
			err = fmt.Errorf("unmarshal quarantined: %w", err)
		}
	}
	if err == nil && s.early(b, topic, msg) {
		return
	}
	// Undecodable messages count too: they are acked, so the group is
	// past them.
	if off, err := strconv.ParseInt(msg.Metadata.Get(eventlog.OffsetKey), 10, 64); err == nil {
		if topic == eventlog.TopicEvents {
			b.eventsOffset = off
		} else {
			b.quarantineOffset = off
		}
	}
	if err != nil {
		s.drop(topic, msg, err)
		return
	}
	if topic == eventlog.TopicEvents {
		b.events = append(b.events, e)
	} else {
		b.quarantined = append(b.quarantined, q)
	}
	b.add(topic, msg)
}

// early nacks msg, of topic, and reports true when it came before the
// message b awaits of topic, which it then comes again after; it counts
// as failed, as the messages of the failed transaction do.
func (s *Store) early(b *batch, topic string, msg *message.Message) bool {
	uuid, ok := b.awaited[topic]
	switch {
	case !ok:
		return false
	case msg.UUID == uuid:
		delete(b.awaited, topic)
		return false
	case time.Since(b.awaitedAt) < awaitLimit:
		s.stats.failed.Add(1)
		msg.Nack()
		return true
	}
	s.logger.Warn("store: a message nacked did not come again; taking the others", "topic", topic, "uuid", uuid, "waited", awaitLimit)
	delete(b.awaited, topic)
	return false
}

// store writes b in one transaction and acks its messages, or nacks them
// all when the transaction fails, and reports whether it stored them.
// committed, if not nil, is called between the two.
func (s *Store) store(ctx context.Context, b *batch, ev Evaluator, committed func()) bool {
	if len(b.msgs) == 0 {
		return true
	}
	var (
		enqueued bool
		// stored are the events and quarantined items of b that the
		// transaction inserted; the others were in the store already (a
		// message delivered again after its transaction committed and
		// before its ack, as when hookd stopped in between).
		storedEvents, storedQuarantined int
	)
	// The statements run without ctx's cancellation: the SQLite driver
	// starts a goroutine per statement to watch a ctx that can end
	// (BenchmarkProjectLog: about 5% more events/s without). The
	// transaction still ends with ctx (database/sql rolls it back), so a
	// shutdown stops it between two statements.
	sctx := context.WithoutCancel(ctx)
	err := s.write(ctx, func(tx *sql.Tx) error {
		seqs, err := s.insertEvents(sctx, tx, b.events)
		if err != nil {
			return err
		}
		storedEvents = 0
		for _, seq := range seqs {
			if seq != 0 {
				storedEvents++
			}
		}
		if storedQuarantined, err = s.insertQuarantined(sctx, tx, b.quarantined); err != nil {
			return err
		}
		if err := s.recordOffsets(sctx, tx, b.eventsOffset, b.quarantineOffset); err != nil {
			return err
		}
		if ev == nil {
			return nil
		}
		t := s.newTx(tx)
		t.explain = true
		for i, e := range b.events {
			if seqs[i] == 0 {
				continue // stored before, and evaluated then
			}
			t.at(e.ID, seqs[i])
			if err := ev.Evaluate(sctx, t, e); err != nil {
				return fmt.Errorf("evaluate event %s: %w", e.ID, err)
			}
		}
		enqueued = t.enqueued > 0
		return nil
	})
	if err != nil {
		// A cancelled ctx is shutdown, not failure: the messages are
		// delivered again next time.
		if ctx.Err() == nil {
			s.stats.failed.Add(uint64(len(b.msgs)))
			s.projectOut.Fail(err, "messages", len(b.msgs), "first", b.msgs[0].UUID)
		}
		for _, m := range b.msgs {
			m.Nack()
		}
		return false
	}
	s.projectOut.OK()
	// Counted before the acks, so that whoever sees the next message sees
	// the count of these.
	s.stats.events.Add(uint64(storedEvents))
	s.stats.quarantined.Add(uint64(storedQuarantined))
	s.stats.duplicates.Add(uint64(len(b.msgs) - storedEvents - storedQuarantined))
	s.stats.batches.Add(1)
	if enqueued {
		s.wakeRunners()
	}
	if committed != nil {
		committed()
	}
	for _, m := range b.msgs {
		m.Ack()
	}
	return true
}

// drop acks a message that can never be stored.
func (s *Store) drop(topic string, msg *message.Message, err error) {
	s.stats.undecodable.Add(1)
	s.logger.Error("store: dropping undecodable message", "topic", topic, "uuid", msg.UUID, "error", err)
	msg.Ack()
}
