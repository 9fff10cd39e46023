package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/outage"
)

type cursorKey struct{ topic, group string }

// outcome is what became of one delivery.
type outcome int

const (
	acked     outcome = iota
	nacking           // Nack called: deliver nothing more until the redelivery; nacked follows
	nacked            // redeliver after the subscriber's back-off, which it has waited
	abandoned         // the subscription ended first: redeliver at once
)

// result is what a subscription reports to its cursor about the delivery of
// the message at off. Every delivery ends with exactly one of acked, nacked
// or abandoned.
type result struct {
	off int64
	o   outcome
}

// row is one message read ahead from the log.
type row struct {
	off      int64
	uuid     string
	payload  []byte
	metadata []byte
	dedupKey []byte // nil when the column is NULL

	acked bool // the cursor's own mark: delivered and acked, after one that is not
}

// message returns a new watermill message for r, with its offset under
// eventlog.OffsetKey. Its payload is a copy, so that what a consumer does
// to it before a Nack does not reach the redelivery.
func (r *row) message() (*message.Message, error) {
	msg := message.NewMessage(r.uuid, bytes.Clone(r.payload))
	md, err := decodeMetadata(r.metadata, r.dedupKey)
	if err != nil {
		return msg, fmt.Errorf("message %s at offset %d: %w", r.uuid, r.off, err)
	}
	md[eventlog.OffsetKey] = strconv.FormatInt(r.off, 10)
	msg.Metadata = md
	return msg, nil
}

// cursor delivers one topic to one consumer group of one Log: it holds the
// group's lease, reads ahead from the group's offset, and hands each message
// to one of the subscriptions sharing it, keeping at most a window of
// messages delivered and not acked. It runs from its first subscription until
// the Log closes, holding the lease only while it has subscriptions.
type cursor struct {
	l       *Log
	key     cursorKey
	deliver chan []row  // unbuffered: whichever subscription is free takes the next rows
	results chan result // what became of the deliveries

	mu             sync.Mutex
	subs           int
	inFlight       map[int]int   // subscriptions by their InFlight
	changed        chan struct{} // closed and replaced when subs changes
	acked, flushed int64         // last acked offset; last one written to the file

	// Errors of the loops below, logged once an outage, then a summary a
	// minute: a full disk would otherwise log every poll and renewal.
	acquireOut, renewOut, readOut *outage.Log
}

func newCursor(l *Log, k cursorKey) *cursor {
	klog := l.log.With("topic", k.topic, "group", k.group)
	return &cursor{
		l:        l,
		key:      k,
		deliver:  make(chan []row),
		results:  make(chan result, 1),
		inFlight: map[int]int{},
		changed:  make(chan struct{}),

		acquireOut: outage.New(klog, "sqlite event log: acquire lease", "sqlite event log: acquire lease succeeded again", 0),
		renewOut:   outage.New(klog, "sqlite event log: renew lease", "sqlite event log: renew lease succeeded again", 0),
		readOut:    outage.New(klog, "sqlite event log: read messages", "sqlite event log: read messages succeeded again", 0),
	}
}

// join counts one more subscription, which holds at most inFlight messages.
func (c *cursor) join(inFlight int) { c.addSub(inFlight, 1) }

// leave counts one subscription less; inFlight is what it joined with.
func (c *cursor) leave(inFlight int) { c.addSub(inFlight, -1) }

func (c *cursor) addSub(inFlight, n int) {
	c.mu.Lock()
	c.subs += n
	if c.inFlight[inFlight] += n; c.inFlight[inFlight] == 0 {
		delete(c.inFlight, inFlight)
	}
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// state returns the number of subscriptions, the window (the largest
// InFlight among them: the group's subscriptions share one window, and each
// also holds no more than its own InFlight) and a channel closed when either
// changes.
func (c *cursor) state() (subs, window int, changed <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := range c.inFlight {
		window = max(window, n)
	}
	return c.subs, window, c.changed
}

// ack advances the group's offset in memory; the flusher writes it soon.
func (c *cursor) ack(off int64) {
	c.mu.Lock()
	c.acked = off
	c.mu.Unlock()
	c.l.requestFlush()
}

func (c *cursor) run() {
	defer c.l.wg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		for n, _, changed := c.state(); n == 0; n, _, changed = c.state() {
			select {
			case <-changed:
			case <-c.l.closing:
				return
			}
		}
		if !c.acquire(t) {
			continue // no subscriptions left, or closing: the loop above decides
		}
		c.serve(t)
		if err := c.release(); err != nil {
			c.l.log.Error("sqlite event log: release lease", "topic", c.key.topic, "group", c.key.group, "err", err)
		}
	}
}

// acquire waits until this Log holds the group's lease. It gives up, and
// returns false, when the last subscription leaves or the Log closes.
func (c *cursor) acquire(t *time.Timer) bool {
	for {
		n, _, changed := c.state()
		if n == 0 {
			return false
		}
		select {
		case <-c.l.closing:
			return false
		default:
		}
		ok, err := c.tryAcquire()
		if err != nil {
			c.l.readFailed.Add(1)
			c.acquireOut.Fail(err)
		} else {
			c.acquireOut.OK()
		}
		if ok {
			c.l.log.Debug("sqlite event log: lease acquired", "topic", c.key.topic, "group", c.key.group)
			return true
		}
		t.Reset(c.l.cfg.PollInterval)
		select {
		case <-t.C:
		case <-changed:
			t.Stop()
		case <-c.l.closing:
			t.Stop()
			return false
		}
	}
}

// tryAcquire takes the lease if it is free, expired or already ours, and
// then loads the group's offset, in one transaction.
func (c *cursor) tryAcquire() (bool, error) {
	l := c.l
	// Look first with a reader, so that waiting for another holder costs
	// no write transaction.
	var holder string
	var expires int64
	err := l.stPeekLease.QueryRow(c.key.topic, c.key.group).Scan(&holder, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, fmt.Errorf("read lease: %w", err)
	case holder != l.holder && expires > time.Now().UnixMilli():
		return false, nil
	}

	if err := l.lockWriter(context.Background()); err != nil {
		return false, err
	}
	defer l.unlockWriter()
	var got bool
	var off int64
	err = l.tx(func() error {
		now := time.Now()
		res, err := l.stAcquire.Exec(c.key.topic, c.key.group, l.holder, now.Add(l.cfg.LeaseTTL).UnixMilli(), now.UnixMilli())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		got = true
		err = l.stLoadOffset.QueryRow(c.key.topic, c.key.group).Scan(&off)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return false, err
	}
	if got {
		c.mu.Lock()
		c.acked, c.flushed = off, off
		c.mu.Unlock()
	}
	return got, nil
}

// renew extends the lease. It returns false when the lease is no longer
// ours: another Log took it after it expired.
func (c *cursor) renew() bool {
	l := c.l
	if err := l.lockWriter(context.Background()); err != nil {
		return false
	}
	defer l.unlockWriter()
	// Through tx like every other write, so that the checkpointer hears of
	// it: an idle log's WAL would otherwise grow by a page each renewal.
	var renewed int64
	err := l.tx(func() error {
		res, err := l.stRenew.Exec(c.key.topic, c.key.group, l.holder, time.Now().Add(l.cfg.LeaseTTL).UnixMilli())
		if err != nil {
			return err
		}
		renewed, err = res.RowsAffected()
		return err
	})
	if err != nil {
		// Keep going: the next renewal retries, and tells if the lease
		// expired meanwhile.
		l.renewFailed.Add(1)
		c.renewOut.Fail(err)
		return true
	}
	c.renewOut.OK()
	if renewed == 0 {
		l.log.Warn("sqlite event log: lease lost", "topic", c.key.topic, "group", c.key.group)
		return false
	}
	return true
}

// release writes the acked offset and gives up the lease, in one
// transaction, so that the next holder starts exactly where we stopped.
func (c *cursor) release() error {
	l := c.l
	if err := l.lockWriter(context.Background()); err != nil {
		return err
	}
	defer l.unlockWriter()
	c.mu.Lock()
	off, dirty := c.acked, c.acked != c.flushed
	c.mu.Unlock()
	err := l.tx(func() error {
		if dirty {
			if _, err := l.stSaveOffset.Exec(c.key.topic, c.key.group, off, time.Now().UnixMilli(), l.holder); err != nil {
				return fmt.Errorf("write offset: %w", err)
			}
		}
		_, err := l.stRelease.Exec(c.key.topic, c.key.group, l.holder)
		return err
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.flushed = off
	c.mu.Unlock()
	l.log.Debug("sqlite event log: lease released", "topic", c.key.topic, "group", c.key.group)
	return nil
}

// serve delivers messages while this Log holds the lease and has
// subscriptions.
//
// The rows read ahead sit in buf: buf[:first] are acked, buf[first:pos] are
// the window, delivered and not all acked (those acked after one that is not
// carry the acked mark), and buf[pos:] wait. The group's offset is the last
// row before first. A subscription takes the rows that the window has room
// for in one handoff (a copy, offer), so that a consumer that takes what is
// ready finds them together. A Nack or an abandoned delivery stops the
// deliveries until every outstanding one has come back, then rewinds pos to
// first, so that the group goes on in log order from its first message not
// acked.
func (c *cursor) serve(t *time.Timer) {
	l := c.l
	renew := time.NewTicker(l.cfg.LeaseTTL / 3)
	defer renew.Stop()
	c.mu.Lock()
	last := c.acked // offset of the last row read
	c.mu.Unlock()
	var (
		buf         []row
		first, pos  int
		offer       []row // buf[pos:pos+len(offer)], until taken; nil when none
		outstanding int   // deliveries whose final outcome has not come back
		rewind      bool  // a delivery failed: deliver nothing until outstanding is 0
		lost        bool  // the lease is gone: return once outstanding is 0
		closing     = l.closing
	)
	for {
		if closing != nil {
			select {
			case <-closing: // wins over a ready subscription
				closing = nil
			default:
			}
		}
		n, window, changed := c.state()
		if (n == 0 || lost || closing == nil) && outstanding == 0 {
			// Subscriptions report every delivery before they leave, and
			// promptly once the Log closes, so an ack just before Close
			// counts.
			return
		}
		if rewind && outstanding == 0 {
			for i := first; i < pos; i++ {
				buf[i].acked = false
			}
			pos, rewind, offer = first, false, nil
		}

		var (
			deliver chan<- []row
			woken   <-chan struct{}
			poll    <-chan time.Time
		)
		if n > 0 && !lost && closing != nil && !rewind && pos-first < window {
			if pos == len(buf) {
				// Keep the window, drop what is acked, read what follows.
				m := copy(buf, buf[first:])
				clear(buf[m:])
				buf, pos, first = buf[:m], m, 0
				woken = l.committed(c.key.topic) // before the read, so no commit slips between
				var err error
				if buf, err = c.read(last, buf); err != nil {
					l.readFailed.Add(1)
					c.readOut.Fail(err)
					clear(buf[pos:])
					buf = buf[:pos]
				} else {
					c.readOut.OK()
				}
				if pos < len(buf) {
					last = buf[len(buf)-1].off
				}
			}
			if pos < len(buf) {
				if offer == nil {
					offer = slices.Clone(buf[pos:min(len(buf), pos+window-(pos-first))])
				}
				deliver, woken = c.deliver, nil
			} else {
				t.Reset(l.cfg.PollInterval)
				poll = t.C
			}
		}

		select {
		case deliver <- offer:
			pos += len(offer)
			outstanding += len(offer)
			offer = nil
		case r := <-c.results:
			if r.o == nacking {
				rewind = true
				break
			}
			outstanding--
			if r.o != acked {
				rewind = true
				break
			}
			i, found := sort.Find(pos-first, func(i int) int { return cmp.Compare(r.off, buf[first+i].off) })
			if !found {
				break // cannot happen: every outcome is of a row of the window
			}
			buf[first+i].acked = true
			if i == 0 {
				for first < pos && buf[first].acked {
					first++
				}
				c.ack(buf[first-1].off)
			}
		case <-changed:
			offer = nil // the window may be smaller
		case <-woken:
		case <-poll:
		case <-renew.C:
			if !lost && !c.renew() {
				lost = true
			}
		case <-closing:
			closing = nil
		}
		if poll != nil {
			t.Stop()
		}
	}
}

// read appends to buf up to ReadBatch messages after offset after.
func (c *cursor) read(after int64, buf []row) ([]row, error) {
	rows, err := c.l.stRead.Query(c.key.topic, after, c.l.cfg.ReadBatch)
	if err != nil {
		return buf, err
	}
	defer rows.Close()
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.off, &r.uuid, &r.payload, &r.metadata, &r.dedupKey); err != nil {
			return buf, err
		}
		buf = append(buf, r)
	}
	return buf, rows.Err()
}
