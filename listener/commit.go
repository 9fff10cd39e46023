package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/outage"
)

// errStopped is returned to requests still waiting when the committer stops.
var errStopped = errors.New("listener is shutting down")

// commitTimeout bounds one Append so a stuck backend turns into 503s instead
// of requests that never end.
const commitTimeout = 10 * time.Second

// appender is the part of eventlog.Log the committer needs.
type appender interface {
	Append(ctx context.Context, topic string, msgs []*message.Message) ([]bool, error)
}

// record is one event on its way to the log: its id, which is also its
// dedup key, its type (for the metrics once it is committed) and its JSON
// form.
//
// A request hands the committer records rather than watermill messages:
// a message with its metadata map and its two channels takes about 600
// bytes more than the record, which a request waiting in the queue behind
// other commits would hold for every event. The committer makes the
// messages of one batch at a time, and lets them go once it is committed.
type record struct {
	id, typ string
	payload []byte
}

// message returns r as the message the log appends, deduplicated by its id.
func (r *record) message() *message.Message {
	m := message.NewMessage(r.id, r.payload)
	m.Metadata.Set(eventlog.DedupKey, r.id)
	return m
}

// pending is one request's events waiting for a group commit.
type pending struct {
	recs []record
	done chan result // buffered: the committer never blocks on a reply
}

// result is the outcome of the commit that held a request's events.
type result struct {
	dup []bool // dup[i]: recs[i] was already in the log
	err error
}

// committer groups the events of concurrent requests into one Append: one
// transaction and one fsync for many requests, which is what lets ingest run
// at HTTP speed instead of disk-sync speed. A request's reply is sent only
// after the Append that holds its events returned.
type committer struct {
	log  appender
	in   chan *pending
	size int           // most events per batch
	wait time.Duration // how long a batch that is not full waits for more
	obs  func(events float64)
	// out logs failed commits (the first of an outage, a summary a
	// minute while it lasts, and its end) and tells Ready of the last.
	// Every request of a failed commit gets the same error; each is in
	// the request log.
	out *outage.Log
	// stopped is closed when run has returned; a request queued after that
	// is answered with errStopped instead of waiting forever.
	stopped chan struct{}
}

func newCommitter(log appender, size int, wait time.Duration, obs func(float64), logger *slog.Logger) *committer {
	return &committer{log: log, in: make(chan *pending, 4*size), size: size, wait: wait, obs: obs, stopped: make(chan struct{}),
		out: outage.New(logger, "event log unavailable: group commit failed", "event log available again", 0)}
}

// submit queues recs for the next group commit and waits for it. dup[i]
// tells whether recs[i] was a duplicate of an event already in the log. It
// returns errStopped when the committer stops first. It takes no context:
// every wait in it ends with a commit, each bounded by commitTimeout, or
// with the committer's stop, and the answer must tell whether the events
// were committed.
func (c *committer) submit(recs []record) (dup []bool, err error) {
	p := &pending{recs: recs, done: make(chan result, 1)}
	select {
	case c.in <- p:
	case <-c.stopped:
		return nil, errStopped
	}
	select {
	case r := <-p.done:
		return r.dup, r.err
	case <-c.stopped:
		select {
		case r := <-p.done:
			return r.dup, r.err
		default:
			return nil, errStopped
		}
	}
}

// run commits batches until ctx ends, then fails whatever is still queued.
func (c *committer) run(ctx context.Context) {
	defer close(c.stopped)
	var (
		batch []*pending
		msgs  []*message.Message
		timer = time.NewTimer(time.Hour)
	)
	timer.Stop()
	for {
		var first *pending
		select {
		case first = <-c.in:
		case <-ctx.Done():
			c.drain()
			return
		}
		batch = append(batch[:0], first)
		n := len(first.recs)
		n = c.gather(&batch, n, timer)
		msgs = msgs[:0]
		for _, p := range batch {
			for i := range p.recs {
				msgs = append(msgs, p.recs[i].message())
			}
		}
		c.commit(batch, msgs, n)
		clear(msgs)  // let the messages go
		clear(batch) // and the requests, with their records
	}
}

// gather adds queued requests to batch until it holds size events, the queue
// is empty and the wait has passed, and returns the number of events.
func (c *committer) gather(batch *[]*pending, n int, timer *time.Timer) int {
	waiting := false
	defer func() {
		if waiting && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}()
	for n < c.size {
		select {
		case p := <-c.in:
			*batch = append(*batch, p)
			n += len(p.recs)
			continue
		default:
		}
		if c.wait <= 0 {
			return n
		}
		if !waiting {
			timer.Reset(c.wait)
			waiting = true
		}
		select {
		case p := <-c.in:
			*batch = append(*batch, p)
			n += len(p.recs)
		case <-timer.C:
			waiting = false
			return n
		}
	}
	return n
}

func (c *committer) commit(batch []*pending, msgs []*message.Message, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	dup, err := c.log.Append(ctx, eventlog.TopicEvents, msgs)
	cancel()
	if err != nil {
		err = fmt.Errorf("commit %d events: %w", n, err)
		c.out.Fail(err)
	} else {
		c.out.OK()
		if c.obs != nil {
			c.obs(float64(n))
		}
	}
	i := 0
	for _, p := range batch {
		r := result{err: err}
		if err == nil {
			r.dup = dup[i : i+len(p.recs) : i+len(p.recs)]
			i += len(p.recs)
		}
		p.done <- r
	}
}

// drain fails every request still queued; called once the server has
// stopped accepting, so nothing new arrives.
func (c *committer) drain() {
	for {
		select {
		case p := <-c.in:
			p.done <- result{err: errStopped}
		default:
			return
		}
	}
}
