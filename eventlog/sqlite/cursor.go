package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

type cursorKey struct{ topic, group string }

// outcome is what became of one delivery.
type outcome int

const (
	acked     outcome = iota
	nacked            // redeliver after the subscriber's back-off, which it has waited
	abandoned         // the subscription ended first: redeliver at once
)

// row is one message read ahead from the log.
type row struct {
	off      int64
	uuid     string
	payload  []byte
	metadata []byte
}

// message returns a new watermill message for r. Its payload is a copy, so
// that what a consumer does to it before a Nack does not reach the
// redelivery.
func (r *row) message() (*message.Message, error) {
	msg := message.NewMessage(r.uuid, bytes.Clone(r.payload))
	md, err := decodeMetadata(r.metadata)
	if err != nil {
		return msg, fmt.Errorf("message %s at offset %d: %w", r.uuid, r.off, err)
	}
	msg.Metadata = md
	return msg, nil
}

// cursor delivers one topic to one consumer group of one Log: it holds the
// group's lease, reads ahead from the group's offset, and hands each message
// to one of the subscriptions sharing it, one message at a time. It runs
// from its first subscription until the Log closes, holding the lease only
// while it has subscriptions.
type cursor struct {
	l       *Log
	key     cursorKey
	deliver chan *row    // unbuffered: whichever subscription is free takes the message
	results chan outcome // the outcome of the message in flight

	mu             sync.Mutex
	subs           int
	changed        chan struct{} // closed and replaced when subs changes
	acked, flushed int64         // last acked offset; last one written to the file
}

func newCursor(l *Log, k cursorKey) *cursor {
	return &cursor{
		l:       l,
		key:     k,
		deliver: make(chan *row),
		results: make(chan outcome, 1),
		changed: make(chan struct{}),
	}
}

func (c *cursor) join()  { c.addSubs(1) }
func (c *cursor) leave() { c.addSubs(-1) }

func (c *cursor) addSubs(n int) {
	c.mu.Lock()
	c.subs += n
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// state returns the number of subscriptions and a channel closed when it
// changes.
func (c *cursor) state() (int, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs, c.changed
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
		for n, changed := c.state(); n == 0; n, changed = c.state() {
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
		n, changed := c.state()
		if n == 0 {
			return false
		}
		ok, err := c.tryAcquire()
		if err != nil {
			c.l.log.Error("sqlite event log: acquire lease", "topic", c.key.topic, "group", c.key.group, "err", err)
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
	res, err := l.stRenew.Exec(c.key.topic, c.key.group, l.holder, time.Now().Add(l.cfg.LeaseTTL).UnixMilli())
	if err != nil {
		// Keep going: the next renewal retries, and tells if the lease
		// expired meanwhile.
		l.log.Error("sqlite event log: renew lease", "topic", c.key.topic, "group", c.key.group, "err", err)
		return true
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
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
func (c *cursor) serve(t *time.Timer) {
	l := c.l
	renew := time.NewTicker(l.cfg.LeaseTTL / 3)
	defer renew.Stop()
	c.mu.Lock()
	next := c.acked
	c.mu.Unlock()
	var buf []row
	pos := 0
	for {
		n, changed := c.state()
		if n == 0 {
			return
		}
		if pos == len(buf) {
			woken := l.committed() // before the read, so no commit slips between
			var err error
			buf, err = c.read(next, buf[:0])
			pos = 0
			if err != nil {
				l.log.Error("sqlite event log: read messages", "topic", c.key.topic, "group", c.key.group, "err", err)
				buf = buf[:0]
			}
			if len(buf) > 0 {
				continue
			}
			t.Reset(l.cfg.PollInterval)
			select {
			case <-woken:
				t.Stop()
			case <-t.C:
			case <-changed:
				t.Stop()
			case <-renew.C:
				t.Stop()
				if !c.renew() {
					return
				}
			case <-l.closing:
				t.Stop()
				return
			}
			continue
		}

		r := &buf[pos]
		select {
		case c.deliver <- r:
		case <-changed:
			continue
		case <-renew.C:
			if !c.renew() {
				return
			}
			continue
		case <-l.closing:
			return
		}
		// One message in flight. The subscription always reports, and
		// promptly once the Log closes, so an ack just before Close counts.
		lost := false
		for o := outcome(-1); o < 0; {
			select {
			case o = <-c.results:
				if o == acked {
					c.ack(r.off)
					next = r.off
					pos++
				}
			case <-renew.C:
				if !lost {
					lost = !c.renew()
				}
			}
		}
		if lost {
			return
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
		if err := rows.Scan(&r.off, &r.uuid, &r.payload, &r.metadata); err != nil {
			return buf, err
		}
		buf = append(buf, r)
	}
	return buf, rows.Err()
}
