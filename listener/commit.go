package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/outage"
)

// errStopped is returned to requests still waiting when the committer stops.
var errStopped = errors.New("listener is shutting down")

// errLate is returned to a request whose events were not committed within
// the committer's timeout of being queued. The commit that holds them may
// still store them.
var errLate = errors.New("events not committed in time")

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
	// deadline is when the request stops waiting: a commit that starts
	// later leaves its events out, and one that holds them is given up
	// once every request in it has stopped waiting.
	deadline time.Time
}

// result is the outcome of the commit that held a request's events.
type result struct {
	dup []bool // dup[i]: recs[i] was already in the log
	err error
}

// committer groups the events of concurrent requests into one Append: one
// transaction and one fsync for many requests, which is what lets ingest run
// at HTTP speed instead of disk-sync speed. A request is answered 200 only
// after the Append that holds its events returned, and 503 when it failed
// or had not returned within the committer's timeout of the request's
// being queued.
type committer struct {
	log     appender
	in      chan *pending
	size    int           // most events per batch
	wait    time.Duration // how long a batch that is not full waits for more
	timeout time.Duration // most a request waits, queue and commits included
	obs     func(events float64)
	// timers are the stopped timers of requests answered, for the next
	// ones: every request waits for a commit with one, and reusing a
	// timer saves the allocations and two thirds of the time of a new one.
	timers sync.Pool
	// out logs failed commits (the first of an outage, a summary a
	// minute while it lasts, and its end) and tells Ready of the last.
	// Every request of a failed commit gets the same error; each is in
	// the request log.
	out *outage.Log
	// stopped is closed when run has returned; a request queued after that
	// is answered with errStopped instead of waiting forever.
	stopped chan struct{}
}

func newCommitter(log appender, size int, wait, timeout time.Duration, obs func(float64), logger *slog.Logger) *committer {
	return &committer{log: log, in: make(chan *pending, 4*size), size: size, wait: wait, timeout: timeout, obs: obs, stopped: make(chan struct{}),
		out: outage.New(logger, "event log unavailable: group commit failed", "event log available again", 0)}
}

// submit queues recs for the next group commit and waits for it. dup[i]
// tells whether recs[i] was a duplicate of an event already in the log.
//
// Its whole wait, for room in the queue, for the commits ahead and for
// the one that holds recs, is bounded by c.timeout: it returns errLate
// when the commit of recs has not returned by then. The events are then
// neither known to be stored nor known not to be: a commit under way may
// still store them, and what it stores stays stored, a duplicate when the
// request is retried. It returns errStopped when the committer stops
// first. A commit's answer that arrives together with the deadline or
// the stop wins. It takes no context: a client that hangs up changes
// nothing, and the answer must tell whether the events were committed.
func (c *committer) submit(recs []record) (dup []bool, err error) {
	p := &pending{recs: recs, done: make(chan result, 1), deadline: time.Now().Add(c.timeout)}
	t := c.startTimer()
	defer c.stopTimer(t)
	select {
	case c.in <- p:
	case <-c.stopped:
		return nil, errStopped
	case <-t.C:
		return nil, errLate
	}
	var late error
	select {
	case r := <-p.done:
		return r.dup, r.err
	case <-c.stopped:
		late = errStopped
	case <-t.C:
		late = errLate
	}
	// A commit that returned at the same moment has the last word.
	select {
	case r := <-p.done:
		return r.dup, r.err
	default:
		return nil, late
	}
}

// startTimer returns a timer that fires after c.timeout.
func (c *committer) startTimer() *time.Timer {
	if t, ok := c.timers.Get().(*time.Timer); ok {
		t.Reset(c.timeout)
		return t
	}
	return time.NewTimer(c.timeout)
}

// stopTimer stops t and keeps it for startTimer.
func (c *committer) stopTimer(t *time.Timer) {
	if !t.Stop() {
		// Nothing to drain with Go 1.23's timers; with
		// GODEBUG=asynctimerchan=1, the value it sent.
		select {
		case <-t.C:
		default:
		}
	}
	c.timers.Put(t)
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
		live, n, until := expire(batch, n, time.Now())
		if len(live) > 0 {
			msgs = msgs[:0]
			for _, p := range live {
				for i := range p.recs {
					msgs = append(msgs, p.recs[i].message())
				}
			}
			c.commit(live, msgs, n, until)
			clear(msgs) // let the messages go
		}
		clear(batch) // and the requests, with their records
	}
}

// expire answers errLate to the requests of batch, holding n events, whose
// deadline is not after now: they have stopped waiting, or are about to,
// and their events are left out of the commit. It returns the other
// requests, in batch's array, their events and the latest of their
// deadlines, when the last of them stops waiting.
func expire(batch []*pending, n int, now time.Time) (live []*pending, events int, until time.Time) {
	live, events = batch[:0], n
	for _, p := range batch {
		if !p.deadline.After(now) {
			p.done <- result{err: errLate}
			events -= len(p.recs)
			continue
		}
		live = append(live, p)
		if p.deadline.After(until) {
			until = p.deadline
		}
	}
	return live, events, until
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

// commit appends msgs, the n events of batch, and answers batch's requests.
// The append is given up at until, when the last of them stops waiting:
// at most c.timeout from now.
func (c *committer) commit(batch []*pending, msgs []*message.Message, n int, until time.Time) {
	ctx, cancel := context.WithDeadline(context.Background(), until)
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
