package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

var _ message.Subscriber = (*Subscriber)(nil)

// DefaultConsumerGroup is the consumer group of a SubscriberConfig that
// names none.
const DefaultConsumerGroup = "default"

// SubscriberConfig configures a Subscriber. The zero value is ready to use;
// a zero field takes its default.
type SubscriberConfig struct {
	// ConsumerGroup is the group whose offset the subscriber reads and
	// advances. Default DefaultConsumerGroup.
	ConsumerGroup string
	// NackBackoff is how long a nacked message waits before it is
	// delivered again. The group delivers nothing else meanwhile, as order
	// is kept. Default 100ms.
	NackBackoff time.Duration
	// InFlight is how many messages of a topic the consumer group may have
	// delivered and not yet acked; see eventlog.InFlight. With more than
	// one, a subscription delivers the next messages without waiting for
	// the acks, through a channel that buffers InFlight of them, and the
	// group's offset advances over the messages acked without a gap. The
	// subscriptions of a group in one Log share one window, the largest
	// InFlight among them, and each holds at most its own. Default 1.
	InFlight int
}

// Subscriber delivers the messages of a Log to one consumer group. It is
// safe for concurrent use.
type Subscriber struct {
	l   *Log
	cfg SubscriberConfig

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup // subscriptions
}

// NewSubscriber returns a subscriber to l in the consumer group that cfg
// names. It fails with ErrClosed when l is closed.
func NewSubscriber(l *Log, cfg SubscriberConfig) (*Subscriber, error) {
	if cfg.ConsumerGroup == "" {
		cfg.ConsumerGroup = DefaultConsumerGroup
	}
	if cfg.NackBackoff <= 0 {
		cfg.NackBackoff = 100 * time.Millisecond
	}
	cfg.InFlight = max(cfg.InFlight, 1)
	select {
	case <-l.closing:
		return nil, fmt.Errorf("new subscriber in group %q: %w", cfg.ConsumerGroup, ErrClosed)
	default:
	}
	return &Subscriber{l: l, cfg: cfg, closing: make(chan struct{})}, nil
}

// Subscribe returns a channel of the messages of topic, from the consumer
// group's offset on, in log order. With the default InFlight of 1, the next
// message comes only after the previous one was acked or nacked, and only
// one message of the group is in flight across all its subscriptions in
// this Log; with more, up to InFlight are. Ack advances the group's offset
// (over the messages acked without a gap before them); Nack delivers the
// same message again after NackBackoff, and the ones after it too.
//
// The channel is closed when ctx is done or the Subscriber or its Log is
// closed; the messages then in flight and not acked, including those still
// in the channel's buffer, which it drops, will be delivered again. Each
// message's context derives from ctx and is canceled once the message is
// acked or nacked.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("subscribe to %q: %w", topic, ErrClosed)
	}
	c, err := s.l.join(topic, s.cfg.ConsumerGroup, s.cfg.InFlight)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %q: %w", topic, err)
	}
	s.wg.Add(1)
	// With one in flight the channel is unbuffered, as watermill's
	// subscribers are: a message is in flight once the consumer has it.
	var out chan *message.Message
	if s.cfg.InFlight > 1 {
		out = make(chan *message.Message, s.cfg.InFlight)
	} else {
		out = make(chan *message.Message)
	}
	go s.run(ctx, c, out)
	return out, nil
}

// Close ends the subscriptions of s, closing their channels, and writes the
// offsets they acked before it returns. It leaves the Log open and is safe
// to call more than once.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()

	s.wg.Wait()
	if err := s.l.flush(); err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("close subscriber in group %q: %w", s.cfg.ConsumerGroup, err)
	}
	return nil
}

// run takes messages from the cursor, one per free slot of its InFlight,
// and hands them to the consumer; a watcher per message reports its outcome.
func (s *Subscriber) run(ctx context.Context, c *cursor, out chan *message.Message) {
	ctx, cancel := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	slots := make(chan struct{}, s.cfg.InFlight)
	defer func() {
		cancel() // the watchers report the messages not acked as abandoned
		// What is still buffered never reached the consumer: take it back
		// (racing the consumer for it is fine), so that nothing abandoned
		// is handed out after the end.
	drain:
		for {
			select {
			case <-out:
			default:
				break drain
			}
		}
		watchers.Wait()
		c.leave(s.cfg.InFlight)
		close(out)
		s.wg.Done()
		s.l.subWG.Done()
	}()
	for !s.ended(ctx) {
		if !s.acquire(ctx, slots) {
			return
		}
		var rows []row
		select {
		case rows = <-c.deliver:
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		case <-s.l.closing:
			return
		}
		// Make every message first, then hand them over, so that the
		// consumer finds them together.
		msgs := make([]*message.Message, len(rows))
		cancels := make([]context.CancelFunc, len(rows))
		for i := range rows {
			msg, err := rows[i].message()
			if err != nil {
				// The row will never decode better; deliver what there is.
				s.l.log.Error("sqlite event log: deliver", "group", s.cfg.ConsumerGroup, "err", err)
			}
			var mctx context.Context
			mctx, cancels[i] = context.WithCancel(ctx)
			msg.SetContext(mctx)
			msgs[i] = msg
		}
		for i, msg := range msgs {
			sent := !s.ended(ctx) && (i == 0 || s.acquire(ctx, slots))
			if sent {
				select {
				case out <- msg:
				case <-ctx.Done():
					sent = false
				case <-s.closing:
					sent = false
				case <-s.l.closing:
					sent = false
				}
			}
			if !sent {
				for j := i; j < len(rows); j++ {
					cancels[j]()
					c.results <- result{rows[j].off, abandoned}
				}
				return
			}
			off, mcancel := rows[i].off, cancels[i]
			watchers.Go(func() {
				defer func() { <-slots }()
				defer mcancel()
				s.watch(ctx, c, off, msg, mcancel)
			})
		}
	}
}

// acquire takes one of the subscription's slots, waiting for one to be free,
// and reports false if the subscription ended first.
func (s *Subscriber) acquire(ctx context.Context, slots chan<- struct{}) bool {
	select {
	case slots <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-s.closing:
	case <-s.l.closing:
	}
	return false
}

// watch waits for what becomes of msg, delivered from offset off, and
// reports it to c. ctx ends with the subscription.
func (s *Subscriber) watch(ctx context.Context, c *cursor, off int64, msg *message.Message, mcancel context.CancelFunc) {
	select {
	case <-msg.Acked():
		c.results <- result{off, acked}
		return
	case <-msg.Nacked():
		mcancel()
		c.results <- result{off, nacking}
		t := time.NewTimer(s.cfg.NackBackoff)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		c.results <- result{off, nacked}
		return
	case <-ctx.Done():
	}
	// An ack that raced the end still counts.
	select {
	case <-msg.Acked():
		c.results <- result{off, acked}
	default:
		c.results <- result{off, abandoned}
	}
}

// ended reports whether the subscription must stop. Checked before each
// select, so that a done ctx wins over a ready message.
func (s *Subscriber) ended(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-s.closing:
		return true
	case <-s.l.closing:
		return true
	default:
		return false
	}
}
