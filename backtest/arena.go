package backtest

import (
	"encoding/binary"
	"encoding/json"
	"time"
	"unsafe"

	"github.com/hookd/hookd/event"
)

// arena keeps events that last may return, encoded in large byte slices
// that hold no pointers: the garbage collector marks a chunk without
// reading it, where a million events as structs of strings are tens of
// millions of objects to follow on every cycle. Chunks are only appended
// to, so the strings of a decoded event can point into them.
type arena struct {
	chunks [][]byte
}

// ref is where an event is in an arena: chunk index and offset.
type ref struct{ chunk, off uint32 }

// chunkSize is the size of a chunk, unless an event needs more.
const chunkSize = 1 << 20

// put appends e and returns where it is.
func (a *arena) put(e *event.Event) ref {
	strs := [...]string{e.ID, e.Source, e.Provider, e.Type, e.Email, e.Domain, e.MessageID, e.Campaign,
		string(e.Category), string(e.BounceClass)}
	n := 2*binary.MaxVarintLen64 + (len(strs)+1)*binary.MaxVarintLen64 + len(e.Data)
	for _, s := range strs {
		n += len(s)
	}
	last := len(a.chunks) - 1
	if last < 0 || cap(a.chunks[last])-len(a.chunks[last]) < n {
		a.chunks = append(a.chunks, make([]byte, 0, max(chunkSize, n)))
		last++
	}
	b := a.chunks[last]
	r := ref{uint32(last), uint32(len(b))}
	b = binary.AppendVarint(b, encodeTime(e.Time))
	b = binary.AppendVarint(b, encodeTime(e.Received))
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Data)))
	b = append(b, e.Data...)
	a.chunks[last] = b
	return r
}

// get returns the event at r, as put was given it. Its strings and Data
// share the arena's memory, which no one modifies.
func (a *arena) get(r ref) *event.Event {
	b := a.chunks[r.chunk][r.off:]
	next := func() []byte {
		n, k := binary.Uvarint(b)
		s := b[k : k+int(n) : k+int(n)]
		b = b[k+int(n):]
		return s
	}
	str := func() string {
		s := next()
		if len(s) == 0 {
			return ""
		}
		return unsafe.String(&s[0], len(s))
	}
	t, k := binary.Varint(b)
	b = b[k:]
	recv, k := binary.Varint(b)
	b = b[k:]
	e := &event.Event{Time: decodeTime(t), Received: decodeTime(recv)}
	e.ID, e.Source, e.Provider, e.Type = str(), str(), str(), str()
	e.Email, e.Domain, e.MessageID, e.Campaign = str(), str(), str(), str()
	e.Category, e.BounceClass = event.Category(str()), event.BounceClass(str())
	if d := next(); len(d) > 0 {
		e.Data = json.RawMessage(d)
	}
	return e
}

// decodeTime is the store's: the inverse of encodeTime for the times it
// stores.
func decodeTime(ns int64) time.Time {
	if ns == minInt64 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
