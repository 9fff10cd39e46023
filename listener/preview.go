package listener

import (
	"fmt"
	"net/http"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
)

// Preview decodes body as a delivery to src with the request headers h,
// the way serve decodes a request to src once it is verified: src's
// provider makes its adapter from src's settings (its map, for generic and
// Standard Webhooks sources), which decodes the body with a byte order
// mark trimmed, and the events must pass the checks every adapter's events
// pass in serve. Each event has Source src.Name, as serve gives it; Received
// and a Time the provider does not give are left for the caller, as is
// the source's max_events.
//
// Preview verifies nothing (no signature, header secret or credentials)
// and does not run a provider's control messages (an SNS subscription
// confirmation is not confirmed): such a message gives no events, as in
// serve. It is what hookd test decodes a file with; the listener's own
// requests do not go through it.
func Preview(src config.Source, h http.Header, body []byte) ([]event.Event, error) {
	p, err := Lookup(src.Provider)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	ad, err := p.New(src, Env{})
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	events, err := decode(ad, h, body)
	if err != nil {
		return nil, err
	}
	for i := range events {
		events[i].Source = src.Name
	}
	return events, nil
}
