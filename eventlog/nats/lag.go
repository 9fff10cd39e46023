package nats

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	natsgo "github.com/nats-io/nats.go"

	"github.com/hookd/hookd/eventlog"
)

var _ eventlog.Lagger = (*Log)(nil)

// Lag returns, for every group's durable consumer of the stream of each of
// eventlog.Topics and each other topic this Log has used, the messages
// JetStream has not delivered to it and those delivered and not acked yet;
// Acked is the stream sequence below which all are acked. A group is named
// as its consumer is, after sanitize. A topic whose stream does not exist
// (no process has used it) has no groups.
func (l *Log) Lag(ctx context.Context) ([]eventlog.Lag, error) {
	l.mu.Lock()
	topics := slices.Collect(maps.Keys(l.streams))
	l.mu.Unlock()
	topics = slices.Compact(slices.Sorted(slices.Values(append(topics, eventlog.Topics()...))))
	var out []eventlog.Lag
	for _, topic := range topics {
		stream := l.stream(topic)
		// The listing below ends quietly on an error: ask for the stream
		// first, so that a server that does not answer is an error.
		_, err := l.js.StreamInfo(stream, natsgo.Context(ctx))
		if errors.Is(err, natsgo.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("consumer lag of %s: %w", topic, err)
		}
		for ci := range l.js.ConsumersInfo(stream, natsgo.Context(ctx)) {
			group, ok := strings.CutSuffix(ci.Name, "_"+stream)
			if !ok {
				continue // not one of ours
			}
			out = append(out, eventlog.Lag{Topic: topic, Group: group,
				Messages: int64(ci.NumPending) + int64(ci.NumAckPending), Acked: int64(ci.AckFloor.Stream)})
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("consumer lag of %s: %w", topic, err)
		}
	}
	return out, nil
}
