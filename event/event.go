// Package event defines the normalized envelope that every other hookd package
// shares: provider adapters produce it, the event log carries it, the store and
// the rules engine read it. It depends on the standard library only.
package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/jsonenc"
)

// Event is one thing that happened to one message, as a provider reported it.
//
// The normalized fields are filled by the provider adapter; Data keeps the
// provider's own object byte for byte, so nothing the provider sent is lost.
// The JSON form is the one the event log stores and the API returns.
type Event struct {
	// ID is the stable id used for deduplication: the provider's own event id
	// where it has one, otherwise a hash of the canonical event (see Hash).
	ID string `json:"id"`
	// Source is the configured source name, e.g. "mailjet".
	Source string `json:"source"`
	// Provider is the adapter that decoded the event, e.g. "mailjet".
	Provider string `json:"provider"`
	// Type is the provider's event type: sent, open, click, bounce, ...
	Type string `json:"type"`
	// Time is when the event happened, by the provider's clock.
	Time time.Time `json:"time"`
	// Received is when hookd accepted the request that carried the event.
	Received time.Time `json:"received"`
	// Email is the recipient address, lower-cased.
	Email string `json:"email"`
	// Domain is the part of Email after the last '@'.
	Domain string `json:"domain"`
	// MessageID is the provider's message id as a string. Mailjet's exceed
	// 2^53, so they must never pass through a float64.
	MessageID string `json:"message_id"`
	// Campaign is the provider's campaign id or name, if any.
	Campaign string `json:"campaign"`
	// Category is Type in the vocabulary shared by every provider (see
	// Category); "" when the provider's type has no counterpart.
	Category Category `json:"category"`
	// BounceClass is hard or soft for a bounce whose class the provider
	// tells, "" otherwise.
	BounceClass BounceClass `json:"bounce_class"`
	// Data is the provider's object, untouched.
	Data json.RawMessage `json:"data"`
}

// Marshal returns the JSON form of e as the event log stores it: what
// encoding/json writes for e, except that Data is only compacted, not
// HTML-escaped (a "<" inside it stays "<"), which decodes to the same value.
// It fails, as encoding/json does, when a time's year is outside 0 to 9999
// or Data is not valid JSON.
//
// It is written out rather than left to encoding/json because every event
// passes through it on the way to the log: encoding/json took about 5 µs an
// event there, most of it scanning Data twice.
func (e *Event) Marshal() ([]byte, error) {
	// The keys, quotes and two times take under 256 bytes; only escapes
	// in the strings can make it grow.
	n := len(e.ID) + len(e.Source) + len(e.Provider) + len(e.Type) + len(e.Email) + len(e.Domain) +
		len(e.MessageID) + len(e.Campaign) + len(e.Category) + len(e.BounceClass) + len(e.Data)
	b := make([]byte, 0, 256+n)
	b = append(b, `{"id":`...)
	b = jsonenc.AppendString(b, e.ID)
	b = append(b, `,"source":`...)
	b = jsonenc.AppendString(b, e.Source)
	b = append(b, `,"provider":`...)
	b = jsonenc.AppendString(b, e.Provider)
	b = append(b, `,"type":`...)
	b = jsonenc.AppendString(b, e.Type)
	var err error
	b = append(b, `,"time":"`...)
	if b, err = e.Time.AppendText(b); err != nil {
		return nil, fmt.Errorf("marshal event %s: time: %w", e.ID, err)
	}
	b = append(b, `","received":"`...)
	if b, err = e.Received.AppendText(b); err != nil {
		return nil, fmt.Errorf("marshal event %s: received: %w", e.ID, err)
	}
	b = append(b, `","email":`...)
	b = jsonenc.AppendString(b, e.Email)
	b = append(b, `,"domain":`...)
	b = jsonenc.AppendString(b, e.Domain)
	b = append(b, `,"message_id":`...)
	b = jsonenc.AppendString(b, e.MessageID)
	b = append(b, `,"campaign":`...)
	b = jsonenc.AppendString(b, e.Campaign)
	b = append(b, `,"category":`...)
	b = jsonenc.AppendString(b, string(e.Category))
	b = append(b, `,"bounce_class":`...)
	b = jsonenc.AppendString(b, string(e.BounceClass))
	b = append(b, `,"data":`...)
	switch {
	case e.Data == nil:
		b = append(b, "null"...)
	case !bytes.ContainsAny(e.Data, " \t\r\n") && json.Valid(e.Data):
		// Compact already, as providers send it: validating is cheaper
		// than compacting.
		b = append(b, e.Data...)
	default:
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, e.Data); err != nil {
			return nil, fmt.Errorf("marshal event %s: data: %w", e.ID, err)
		}
		b = buf.Bytes()
	}
	return append(b, '}'), nil
}

// MinYear and MaxYear bound the years of the times hookd keeps: the store
// holds a time as int64 nanoseconds since 1970, which reach from 1677 to
// 2262, and a year is kept only when all of it fits.
const (
	MinYear = 1678
	MaxYear = 2261
)

// MaxText is the most bytes hookd keeps in each of an event's normalized
// text fields (ID, Type, Email, MessageID, Campaign); an adapter's event
// with a longer one is a malformed body. The store indexes these fields, in
// pairs (email and type, say), and PostgreSQL refuses an index entry over
// about 2,700 bytes: one longer value would stop the store's projection for
// good. No provider's own value comes near it (an address is at most 254
// bytes).
const MaxText = 1000

// NormalizeEmail lower-cases and trims an address and returns it with its
// domain (the part after the last '@', empty when there is none). An
// address written with a display name, as in a header (`Joe <joe@x.com>`),
// gives the address between its angle brackets, so that the domain is
// "x.com" and not "x.com>".
func NormalizeEmail(addr string) (email, domain string) {
	addr = strings.TrimSpace(addr)
	if strings.HasSuffix(addr, ">") {
		if a, err := mail.ParseAddress(addr); err == nil {
			addr = a.Address
		} else if i := strings.LastIndexByte(addr, '<'); i >= 0 {
			// A name net/mail refuses (unquoted dots or commas, as
			// senders write them): the brackets still mark the address.
			addr = strings.TrimSpace(addr[i+1 : len(addr)-1])
		}
	}
	email = strings.ToLower(addr)
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		domain = email[i+1:]
	}
	return email, domain
}

// Hash returns a stable id for an event that carries none of its own, such
// as a Mailjet event: the provider name, then the event's time as at least 8
// hex digits of unix seconds (more from 2106-02-07 on), then 24 hex digits
// of the SHA-256 of the length-prefixed parts (so no choice of separator
// inside a part can make two events collide). A time before 1970 is written
// as 00000000 and its seconds are hashed with the parts instead, so the
// time tells events apart at every second. The same inputs always give the
// same id, which is what lets a provider's retried delivery be recognised;
// the provider prefix keeps ids of different providers apart.
//
// The time prefix makes ids of events that arrive together sort together, so
// the unique indexes of the log and the store grow at their right edge
// instead of touching a random page for every event.
func Hash(provider string, at time.Time, parts ...string) string {
	buf := make([]byte, 0, 256)
	buf = appendPart(buf, provider)
	for _, p := range parts {
		buf = appendPart(buf, p)
	}
	sec := at.Unix()
	if sec < 0 {
		buf = appendPart(buf, strconv.FormatInt(sec, 10))
		sec = 0
	}
	sum := sha256.Sum256(buf)
	id := make([]byte, 0, len(provider)+1+10+24)
	id = append(id, provider...)
	id = append(id, ':')
	id = fmt.Appendf(id, "%08x", sec)
	id = hex.AppendEncode(id, sum[:12])
	return string(id)
}

func appendPart(buf []byte, p string) []byte {
	buf = strconv.AppendInt(buf, int64(len(p)), 10)
	buf = append(buf, ':')
	return append(buf, p...)
}
