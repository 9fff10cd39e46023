package eventlog

import "context"

// Lag is how far one consumer group is behind the end of one topic.
type Lag struct {
	Topic, Group string
	// Messages is the number of messages appended after the last one the
	// group acknowledged.
	Messages int64
	// Acked is the offset of the last message the group acknowledged, 0
	// when none.
	Acked int64
}

// Lagger is implemented by logs that can tell how far each consumer group
// is behind; /metrics exports it as hookd_consumer_lag.
type Lagger interface {
	// Lag returns the lag of every consumer group that has acknowledged
	// a message, in this process or another, or subscribed in this
	// process, in no particular order. It covers the Topics and every
	// other topic this process has used (a backend may report more): a
	// process that has not used a topic yet, such as hookd serve at
	// start-up, learns where the groups of another process, or of an
	// earlier run, stand.
	Lag(ctx context.Context) ([]Lag, error)
}
