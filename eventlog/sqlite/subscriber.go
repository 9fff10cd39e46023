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
	select {
	case <-l.closing:
		return nil, fmt.Errorf("new subscriber in group %q: %w", cfg.ConsumerGroup, ErrClosed)
	default:
	}
	return &Subscriber{l: l, cfg: cfg, closing: make(chan struct{})}, nil
}

// Subscribe returns a channel of the messages of topic, from the consumer
// group's offset on, in log order. The next message comes only after the
// previous one was acked or nacked, and only one message of the group is in
// flight across all its subscriptions in this Log. Ack advances the
// group's offset; Nack delivers the same message again after NackBackoff.
//
// The channel is closed when ctx is done or the Subscriber or its Log is
// closed; a message then in flight and not acked will be delivered again.
// Each message's context derives from ctx and is canceled once the message
// is acked or nacked.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("subscribe to %q: %w", topic, ErrClosed)
	}
	c, err := s.l.join(topic, s.cfg.ConsumerGroup)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %q: %w", topic, err)
	}
	s.wg.Add(1)
	out := make(chan *message.Message)
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

func (s *Subscriber) run(ctx context.Context, c *cursor, out chan<- *message.Message) {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		c.leave()
		close(out)
		s.wg.Done()
		s.l.subWG.Done()
	}()
	for !s.ended(ctx) {
		var r *row
		select {
		case r = <-c.deliver:
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		case <-s.l.closing:
			return
		}
		o := s.handle(ctx, r, out)
		c.results <- o
		if o == abandoned {
			return
		}
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

// handle delivers one message and waits for what becomes of it.
func (s *Subscriber) handle(ctx context.Context, r *row, out chan<- *message.Message) outcome {
	msg, err := r.message()
	if err != nil {
		// The row will never decode better; deliver what there is.
		s.l.log.Error("sqlite event log: deliver", "group", s.cfg.ConsumerGroup, "err", err)
	}
	mctx, mcancel := context.WithCancel(ctx)
	defer mcancel()
	msg.SetContext(mctx)
	if s.ended(ctx) {
		return abandoned
	}
	select {
	case out <- msg:
	case <-ctx.Done():
		return abandoned
	case <-s.closing:
		return abandoned
	case <-s.l.closing:
		return abandoned
	}
	select {
	case <-msg.Acked():
		return acked
	case <-msg.Nacked():
		mcancel()
		t := time.NewTimer(s.cfg.NackBackoff)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-s.closing:
		case <-s.l.closing:
		}
		return nacked
	case <-ctx.Done():
	case <-s.closing:
	case <-s.l.closing:
	}
	// An ack that raced the end still counts.
	select {
	case <-msg.Acked():
		return acked
	default:
		return abandoned
	}
}
