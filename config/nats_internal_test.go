package config

import (
	"testing"

	"github.com/hookd/hookd/store"
)

// TestNATSGroup checks that the longest nats log.prefix is reckoned with
// the consumer group hookd serve subscribes with.
func TestNATSGroup(t *testing.T) {
	if natsGroup != store.Group {
		t.Errorf("natsGroup = %q, the store's projector subscribes as %q", natsGroup, store.Group)
	}
}
