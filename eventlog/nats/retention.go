package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Trim implements eventlog.Log by purging the start of topic's stream up to
// a sequence, which JetStream does in one step: the messages below the
// lowest ack floor of the stream's consumers (those that ack: every
// group's durable consumer, and any an operator added) that are older than
// before, by the time JetStream stored them, at most limit of them and
// never the last one. It is not the stream's MaxAge on purpose: JetStream
// drops a message older than MaxAge whether the consumers acked it or not,
// so a group that fell behind would lose events it never received.
//
// Deduplication does not change: JetStream recognises a retried message
// by its Nats-Msg-Id for the stream's duplicates window (Config.Duplicates,
// 24h by default), whether its message was purged or not (nats-server
// keeps the window's ids through a purge to a sequence). Purging to the
// same sequence twice purges nothing the second time, so several replicas
// may trim at once; the count is the server's.
func (l *Log) Trim(ctx context.Context, topic string, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	n, err := l.trim(ctx, l.stream(topic), before, uint64(limit))
	if err != nil {
		return 0, fmt.Errorf("trim %s: %w", topic, err)
	}
	return n, nil
}

func (l *Log) trim(ctx context.Context, stream string, before time.Time, limit uint64) (int, error) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return 0, ErrClosed
	}
	si, err := l.js.StreamInfo(stream, natsgo.Context(ctx))
	if errors.Is(err, natsgo.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	first, last := si.State.FirstSeq, si.State.LastSeq
	if si.State.Msgs < 2 {
		return 0, nil
	}
	floor, err := l.ackFloor(ctx, stream)
	if err != nil {
		return 0, err
	}
	hi := min(floor, last-1, first+limit-1) // the last sequence Trim may purge
	if hi < first {
		return 0, nil
	}
	// The first message of [first, hi] stored at or after before: stored
	// times grow with the sequence, so a binary search finds it, with at
	// most log2(limit)+1 reads.
	lo, keep := first, hi+1
	for lo < keep {
		mid := lo + (keep-lo)/2
		old, err := l.storedBefore(ctx, stream, mid, before)
		if err != nil {
			return 0, err
		}
		if old {
			lo = mid + 1
		} else {
			keep = mid
		}
	}
	if keep == first {
		return 0, nil
	}
	var resp struct {
		Error  *natsgo.APIError `json:"error"`
		Purged uint64           `json:"purged"`
	}
	if err := l.api(ctx, "STREAM.PURGE."+stream, natsgo.StreamPurgeRequest{Sequence: keep}, &resp); err != nil {
		return 0, fmt.Errorf("purge below %d: %w", keep, err)
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("purge below %d: %w", keep, resp.Error)
	}
	return int(resp.Purged), nil
}

// ackFloor returns the lowest stream sequence at or below which each
// consumer of stream that acks has acked every message, and 0 when there
// is no such consumer. It lists the consumers with JetStream's API itself,
// since nats.go's listing ends quietly on an error, and a consumer left out
// would let Trim purge what it has not acked; a listing whose total
// changes from a page to the next is an error, for the same reason.
func (l *Log) ackFloor(ctx context.Context, stream string) (uint64, error) {
	var (
		floor uint64
		seen  bool
		total = -1
		n     int
	)
	for total < 0 || n < total {
		var resp struct {
			Error     *natsgo.APIError       `json:"error"`
			Total     int                    `json:"total"`
			Consumers []*natsgo.ConsumerInfo `json:"consumers"`
		}
		if err := l.api(ctx, "CONSUMER.LIST."+stream, map[string]int{"offset": n}, &resp); err != nil {
			return 0, fmt.Errorf("list consumers: %w", err)
		}
		if resp.Error != nil {
			return 0, fmt.Errorf("list consumers: %w", resp.Error)
		}
		if total >= 0 && resp.Total != total || len(resp.Consumers) == 0 && n < resp.Total {
			return 0, errors.New("list consumers: the consumers changed while listing them")
		}
		total = resp.Total
		for _, ci := range resp.Consumers {
			if ci.Config.AckPolicy == natsgo.AckNonePolicy {
				continue
			}
			if !seen || ci.AckFloor.Stream < floor {
				floor = ci.AckFloor.Stream
			}
			seen = true
		}
		n += len(resp.Consumers)
	}
	return floor, nil
}

// storedBefore tells whether the message at seq in stream was stored
// before t. A sequence without a message (deleted on its own) counts as
// not before, which only makes Trim keep more.
func (l *Log) storedBefore(ctx context.Context, stream string, seq uint64, t time.Time) (bool, error) {
	m, err := l.js.GetMsg(stream, seq, natsgo.Context(ctx))
	if errors.Is(err, natsgo.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read message %d: %w", seq, err)
	}
	return m.Time.Before(t), nil
}

// api sends req as JSON to JetStream's API subject $JS.API.<subject> and
// decodes the answer into resp, within ctx and Config.Timeout.
func (l *Log) api(ctx context.Context, subject string, req, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	m, err := l.conn.RequestWithContext(ctx, "$JS.API."+subject, b)
	if err != nil {
		return err
	}
	return json.Unmarshal(m.Data, resp)
}
