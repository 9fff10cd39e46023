package listener

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/hookd/hookd/event"
)

// Decoder turns the raw body of one delivery into events.
//
// Decode must not keep body after it returns, must never panic on any input,
// and must fill every normalized field it can (ID, Provider, Type, Time,
// Email, Domain, MessageID, Campaign, Data); the listener fills Source and
// Received. An error means the body is malformed: the listener answers 400
// and quarantines the body. Implementations are safe for concurrent use.
type Decoder interface {
	Decode(body []byte) ([]event.Event, error)
}

// DecoderFunc adapts a function to Decoder.
type DecoderFunc func(body []byte) ([]event.Event, error)

// Decode calls f.
func (f DecoderFunc) Decode(body []byte) ([]event.Event, error) { return f(body) }

// ErrUnknownProvider is returned for a provider no package registered.
var ErrUnknownProvider = errors.New("unknown provider")

var (
	mu        sync.RWMutex
	providers = map[string]Decoder{}
)

// Register makes a provider's decoder available under name. Provider
// packages call it from init; it panics on a name registered twice.
func Register(name string, d Decoder) {
	mu.Lock()
	defer mu.Unlock()
	if _, ok := providers[name]; ok {
		panic("listener: provider registered twice: " + name)
	}
	providers[name] = d
}

// Providers lists the registered provider names, sorted.
func Providers() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(providers))
	for n := range providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the decoder registered under name.
func Lookup(name string) (Decoder, error) {
	mu.RLock()
	d, ok := providers[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("provider %q: %w (registered: %v)", name, ErrUnknownProvider, Providers())
	}
	return d, nil
}
