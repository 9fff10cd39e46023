package send

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/hookd/hookd/internal/jsonenc"
)

// Source is what Run sends: Len requests, numbered from 0.
//
// AppendRequest appends the body of request i to dst and returns the
// extended slice with the number of events the body carries. Run calls it
// from several goroutines at once, each with its own dst, so it must be safe
// for concurrent use and must not keep dst.
type Source interface {
	Len() int
	AppendRequest(dst []byte, i int) (body []byte, events int)
}

// Events returns a Source that delivers events the way Mailjet does: each
// event as its own Version 1 request (the bare object) when group is 0 or
// less, or Version 2 requests, JSON arrays of group events (the last one
// may hold fewer). The events are sent as they are, so a file can also
// exercise a receiver's answer to malformed events.
func Events(events []json.RawMessage, group int) Source {
	return grouped{n: len(events), group: group, appendEvent: func(dst []byte, i int) []byte {
		return append(dst, events[i]...)
	}}
}

// Generated returns a Source of the n events 0..n-1 of g, grouped as in
// Events.
func Generated(g Generator, n, group int) Source {
	return grouped{n: n, group: group, appendEvent: g.Append}
}

// grouped numbers requests over n events, group at a time.
type grouped struct {
	n, group    int
	appendEvent func(dst []byte, i int) []byte
}

func (s grouped) Len() int {
	if s.group <= 0 {
		return s.n
	}
	return (s.n + s.group - 1) / s.group
}

func (s grouped) AppendRequest(dst []byte, i int) ([]byte, int) {
	if s.group <= 0 {
		return s.appendEvent(dst, i), 1
	}
	first, end := i*s.group, min((i+1)*s.group, s.n)
	dst = append(dst, '[')
	for j := first; j < end; j++ {
		if j > first {
			dst = append(dst, ',')
		}
		dst = s.appendEvent(dst, j)
	}
	return append(dst, ']'), end - first
}

// ReadEvents reads a file of events for Events: one JSON object (a Version 1
// delivery) or an array of them (a Version 2 delivery, or any list of
// events). Each event keeps its exact bytes.
func ReadEvents(r io.Reader) ([]json.RawMessage, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	b = bytes.Trim(b, " \t\r\n")
	switch {
	case len(b) == 0:
		return nil, errors.New("read events: empty input")
	case b[0] == '[':
		var events []json.RawMessage
		if err := json.Unmarshal(b, &events); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		return events, nil
	case b[0] == '{':
		if !json.Valid(b) {
			var v json.RawMessage
			return nil, fmt.Errorf("read events: %w", json.Unmarshal(b, &v))
		}
		return []json.RawMessage{b}, nil
	default:
		return nil, errors.New("read events: want a JSON object or an array of them")
	}
}

// Generator makes distinct Mailjet events for tries and load tests. Event i
// has its own MessageID (odd and above 2^53, so a receiver that reads it
// through a float64 corrupts it visibly), recipient and time, so no two
// events of a generator are duplicates and deduplication cannot shortcut a
// benchmark. The recipient's domain cycles through d0.example..d9.example.
//
// Its methods are safe for concurrent use and cost one append of a few
// hundred bytes per event.
type Generator struct {
	// Type is the event type: sent, open (the default when empty), click,
	// bounce, blocked, spam or unsub, each with the fields Mailjet sends
	// for it; any other type gets only the fields common to all.
	Type string
	// Run is part of every recipient address and MessageID, so
	// generators with different runs never make the same event or
	// message: a second run against the same receiver is not taken for a
	// retry of the first, nor linked to it by message_id. Event numbers
	// repeat their MessageIDs after 2^30 events in a run.
	Run uint32
	// Start is the unix time of event 0; event i happens i seconds later.
	// Zero means 1700000000 (2023-11-14).
	Start int64
}

// Generate returns event i of Generator{Type: typ} as a Version 1 body.
func Generate(i int, typ string) []byte {
	return Generator{Type: typ}.Append(nil, i)
}

// firstMessageID is 2^53+1, the first integer a float64 cannot hold.
const firstMessageID = 1<<53 + 1

// runShift places a generator's Run above the event number in its
// MessageIDs, 2^30 events a run: Run<<runShift|n is below 2^62, so twice
// it plus firstMessageID stays below 2^64.
const runShift = 30

// Append appends event i as one JSON object to dst and returns the extended
// slice.
func (g Generator) Append(dst []byte, i int) []byte {
	typ := g.Type
	if typ == "" {
		typ = "open"
	}
	start := g.Start
	if start == 0 {
		start = 1700000000
	}
	n := uint64(i)
	id := firstMessageID + 2*(uint64(g.Run)<<runShift|n%(1<<runShift))

	dst = append(dst, `{"event":`...)
	dst = jsonenc.AppendString(dst, typ)
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, start+int64(i), 10)
	dst = append(dst, `,"MessageID":`...)
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, `,"Message_GUID":"00000000-0000-4000-8000-`...)
	dst = appendHex12(dst, n)
	dst = append(dst, `","email":"u`...)
	dst = strconv.AppendUint(dst, n, 10)
	dst = append(dst, ".r"...)
	dst = strconv.AppendUint(dst, uint64(g.Run), 10)
	dst = append(dst, "@d"...)
	dst = strconv.AppendUint(dst, n%10, 10)
	dst = append(dst, `.example","mj_campaign_id":7173,"mj_contact_id":`...)
	dst = strconv.AppendUint(dst, n+1, 10)
	dst = append(dst, `,"customcampaign":"hookd-send","CustomID":"","Payload":""`...)
	switch typ {
	case "sent":
		dst = append(dst, `,"mj_message_id":"`...)
		dst = strconv.AppendUint(dst, id, 10)
		dst = append(dst, `","smtp_reply":"sent (250 2.0.0 OK)"`...)
	case "open":
		dst = append(dst, `,"ip":"127.0.0.1","geo":"US","agent":"hookd-send"`...)
	case "click":
		dst = append(dst, `,"url":"https://example.com/p/`...)
		dst = strconv.AppendUint(dst, n%100, 10)
		dst = append(dst, `","ip":"127.0.0.1","geo":"US","agent":"hookd-send"`...)
	case "bounce":
		dst = append(dst, `,"blocked":false,"hard_bounce":`...)
		dst = strconv.AppendBool(dst, n%2 == 0)
		dst = append(dst, `,"error_related_to":"recipient","error":"user unknown","comment":""`...)
	case "blocked":
		dst = append(dst, `,"error_related_to":"recipient","error":"user unknown"`...)
	case "spam":
		dst = append(dst, `,"source":"JMRPP"`...)
	case "unsub":
		dst = append(dst, `,"mj_list_id":1,"ip":"127.0.0.1","geo":"US","agent":"hookd-send"`...)
	}
	return append(dst, '}')
}

// appendHex12 appends the low 48 bits of n as 12 hex digits.
func appendHex12(dst []byte, n uint64) []byte {
	const hex = "0123456789abcdef"
	for shift := 44; shift >= 0; shift -= 4 {
		dst = append(dst, hex[(n>>shift)&0xf])
	}
	return dst
}
