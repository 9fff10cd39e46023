package nats

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// settle is how long a subscription that ends holding no message waits for
// a delivery that may be on its way before it stops; see forward.
const settle = 100 * time.Millisecond

// forward hands the messages of one watermill-nats subscription, in, to the
// consumer through out, one at a time, and passes the consumer's Ack or
// Nack back. When ctx ends, it stops the subscription with stop, waits for in
// to close, and returns, closing out.
//
// It exists for that moment. watermill-nats v2.1.3 closes its channel once
// its subscription's ctx ends, while a delivery that nats.go is making may
// still be about to send on it, which panics ("send on closed channel").
// JetStream delivers nothing to the group while one of its messages is
// unacked (MaxAckPending 1), so forward stops the subscription while it
// holds such a message: one the consumer has not acked, or one it received
// and no longer hands over. When it holds none, it first waits up to settle
// for a delivery on its way and holds that; only a delivery that starts at
// the very end of that wait is left to chance. A message held at the end is
// not acked, so JetStream delivers it again after Config.AckWait.
func forward(ctx context.Context, in <-chan *message.Message, out chan<- *message.Message, stop context.CancelFunc) {
	defer close(out)
	// Also when in closed by itself: stop releases the subscription's ctx.
	defer stop()
	if deliver(ctx, in, out) {
		stop()
		for range in { // closed once watermill-nats has unsubscribed
		}
	}
}

// deliver is forward until ctx ends, which it reports, or in closes (the
// subscriber closed), after which nothing can send on in and stopping need
// not wait for it.
func deliver(ctx context.Context, in <-chan *message.Message, out chan<- *message.Message) (ended bool) {
	for {
		var m *message.Message
		select {
		case msg, ok := <-in:
			if !ok {
				return false
			}
			m = msg
		case <-ctx.Done():
			t := time.NewTimer(settle)
			defer t.Stop()
			select {
			case <-in: // held, or closed
			case <-t.C:
			}
			return true
		}
		proxy := message.NewMessage(m.UUID, m.Payload)
		proxy.Metadata = m.Metadata
		proxy.SetContext(m.Context())
		select {
		case out <- proxy:
		case <-ctx.Done():
			return true
		}
		select {
		case <-proxy.Acked():
			m.Ack()
		case <-proxy.Nacked():
			m.Nack()
		case <-ctx.Done():
			// Unacked at the server still: stop before a late ack of the
			// consumer's could let the next message be delivered.
			return true
		}
	}
}
