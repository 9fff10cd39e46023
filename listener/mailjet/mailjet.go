// Package mailjet decodes Mailjet Event API deliveries into hookd events. It
// registers itself as the "mailjet" provider; import it for that side effect.
//
// Mailjet signs nothing and sends no event id: authentication is the
// user:pass@ in the registered callback URL (the listener checks it), and the
// event id is a hash of the canonical event (see Decode), so that Mailjet's
// retries of a delivery are recognised as duplicates.
package mailjet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/internal/jsonerr"
)

// Provider is the name the decoder is registered under and the value of
// event.Event.Provider for every event it decodes.
const Provider = "mailjet"

func init() {
	listener.Register(Provider, listener.Unsigned{Name: Provider, Decoder: listener.DecoderFunc(Decode), Fields: DataFields})
}

// DataFields are the top-level fields of the objects of Mailjet's Event
// API, over its seven types as its guide documents them: what a rule can
// read as data.X of a Mailjet event.
var DataFields = []string{
	"event", "time", "MessageID", "Message_GUID", "email", "mj_campaign_id", "mj_contact_id",
	"customcampaign", "mj_message_id", "smtp_reply", "CustomID", "Payload", // every type; smtp_reply of sent
	"ip", "geo", "agent", // open, click, unsub
	"url",                                                            // click
	"blocked", "hard_bounce", "error_related_to", "error", "comment", // bounce, blocked
	"source",     // spam
	"mj_list_id", // unsub
}

// maxUnix is the last second of year 9999, the latest time an event's JSON
// form can hold.
const maxUnix = 253402300799

// Decode turns the body of one Mailjet delivery into events: a bare object
// (Version 1) gives one event, an array (Version 2, types may be mixed) gives
// one event per element, in order; an empty array gives none. Whitespace
// around the body is allowed.
//
// Every event gets Provider "mailjet", Type from "event" in lower case, as
// Mailjet sends its seven types (another type is kept, lower-cased, so that
// "OPEN" and "open" are one type and one event), Category from the type (sent is
// delivered, spam complaint, unsub unsubscribe; "" for an unknown type),
// BounceClass of a bounce from "hard_bounce", Time from "time" (unix seconds, in
// UTC), Email lower-cased and its Domain, MessageID, Campaign, ID and Data;
// Source and Received are left to the listener.
//
// Numeric ids ("time", "MessageID", "mj_campaign_id") are accepted as JSON
// numbers or, as older payloads send them, as strings of digits; they never
// pass through a float64, and MessageID is kept as its decimal digits without
// leading zeros. A null MessageID counts as absent. Without one, MessageID is
// the deprecated "mj_message_id", which older payloads (and the grouped
// sample of Mailjet's guide) carry alone: events of two messages to one
// recipient in one second must not share an id.
//
// Campaign is "customcampaign" when it is a non-empty string, else the
// decimal "mj_campaign_id" when it is a non-zero integer, else "". Values of
// either field that do not fit are ignored here and stay in Data.
//
// Data is a copy of the exact bytes of the event's object in body, not a
// re-encoding, so fields hookd does not know are kept.
//
// ID is event.Hash("mailjet", time, type, MessageID, email) with email
// normalized; for clicks the "url" string is appended as a fourth part, so clicks on two links of one message differ
// while a retried delivery gives the same ids. Two events of the same type,
// message and recipient within the same second (and, for clicks, on the same
// link) therefore share an id and are stored once.
//
// The whole body is rejected when any part of it is malformed: not JSON, not
// an object or array, an element that is not an object, a missing or empty
// "event", a missing or invalid "time" (a positive integer up to the year
// 9999), a missing or empty "email", or a "MessageID" (or, without one, an
// "mj_message_id") that is present but not a non-negative integer. The error says what and where, e.g.
// `element 3: "time": not a unix timestamp`, where elements count from 0 as
// in jq's .[3].
func Decode(body []byte) ([]event.Event, error) {
	// Only JSON's own white space is trimmed, and offsets in syntax errors
	// count from the start of the body as sent.
	const space = " \t\r\n"
	lead := len(body) - len(bytes.TrimLeft(body, space))
	body = bytes.Trim(body, space)
	if len(body) == 0 {
		return nil, errors.New("decode mailjet delivery: empty body")
	}
	switch body[0] {
	case '{':
		if !json.Valid(body) {
			return nil, fmt.Errorf("decode mailjet delivery: %w", syntaxError(json.Unmarshal(body, new(json.RawMessage)), lead))
		}
		e, err := decodeWire(readWire(body), bytes.Clone(body))
		if err != nil {
			return nil, fmt.Errorf("decode mailjet delivery: %w", err)
		}
		return []event.Event{e}, nil
	case '[':
		// Each RawMessage is a copy of its element's exact bytes.
		var elems []json.RawMessage
		if err := json.Unmarshal(body, &elems); err != nil {
			return nil, fmt.Errorf("decode mailjet delivery: %w", syntaxError(err, lead))
		}
		events := make([]event.Event, 0, len(elems))
		for i, raw := range elems {
			e, err := decodeObject(raw)
			if err != nil {
				return nil, fmt.Errorf("decode mailjet delivery: element %d: %w", i, err)
			}
			events = append(events, e)
		}
		return events, nil
	default:
		var v json.RawMessage
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, fmt.Errorf("decode mailjet delivery: %w", syntaxError(err, lead))
		}
		return nil, fmt.Errorf("decode mailjet delivery: %s, not an object or array", jsonerr.Kind(body))
	}
}

// wire holds the fields Decode reads, each the JSON text of its value, so
// that each is checked with an error naming it and numbers are never decoded
// as float64.
type wire struct {
	Event          json.RawMessage `json:"event"`
	Time           json.RawMessage `json:"time"`
	Email          json.RawMessage `json:"email"`
	MessageID      json.RawMessage `json:"MessageID"`
	CampaignID     json.RawMessage `json:"mj_campaign_id"`
	CustomCampaign json.RawMessage `json:"customcampaign"`
	URL            json.RawMessage `json:"url"`
	HardBounce     json.RawMessage `json:"hard_bounce"`
	MjMessageID    json.RawMessage `json:"mj_message_id"`
}

// wireFields is the number of wire's fields.
const wireFields = 9

// fields returns wire's fields in their order.
func (w *wire) fields() [wireFields]*json.RawMessage {
	return [...]*json.RawMessage{&w.Event, &w.Time, &w.Email, &w.MessageID, &w.CampaignID, &w.CustomCampaign, &w.URL, &w.HardBounce, &w.MjMessageID}
}

// wireNames are the keys of wire's fields, from their tags, in their order.
var wireNames = func() (names [wireFields]string) {
	t := reflect.TypeFor[wire]()
	for i := range names {
		names[i] = t.Field(i).Tag.Get("json")
	}
	return names
}()

// parsers keep fastjson's parsers, and the memory they parse into, between
// deliveries.
var parsers fastjson.ParserPool

// readWire reads the fields of wire from obj, a valid JSON object: a key
// sets the field of its exact name, or else the one it matches
// case-insensitively, as with encoding/json, except that a key of the exact
// name always wins over one that differs only by case, wherever they stand.
// Mailjet sends its keys as named, so an "EMAIL" beside "email" is not
// Mailjet's and must not override what rules read as data.email. Of two
// keys of the same name, the later wins, as in encoding/json and in what
// rules read from Data.
//
// It parses with fastjson, which skips the fields hookd does not read
// without allocating: with it, Decode takes about a third less time than
// with encoding/json alone, and 40% less for a Version 2 array
// (BenchmarkDecode). An object nested deeper than fastjson parses
// (fastjson.MaxDepth) is read with encoding/json, into wire's tags.
func readWire(obj []byte) wire {
	var w wire
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(obj)
	if err != nil {
		// Unreachable but for the depth: every field of wire takes any
		// value of valid JSON.
		_ = json.Unmarshal(obj, &w)
		return w
	}
	fields := w.fields()
	// The fields' values go one after the other into text. A field keeps
	// its slice when text grows: append copies to a new array and leaves
	// the old one as it was.
	var (
		text  []byte
		exact [wireFields]bool
	)
	v.GetObject().Visit(func(key []byte, v *fastjson.Value) {
		i, ok := wireIndex(key)
		if i < 0 || (!ok && exact[i]) {
			return
		}
		exact[i] = exact[i] || ok
		start := len(text)
		text = v.MarshalTo(text)
		*fields[i] = text[start:len(text):len(text)]
	})
	return w
}

// wireIndex returns the index in wireNames of the field key sets, or -1,
// and whether key is that field's exact name.
func wireIndex(key []byte) (int, bool) {
	for i, name := range wireNames {
		if string(key) == name {
			return i, true
		}
	}
	for i, name := range wireNames {
		if bytes.EqualFold(key, []byte(name)) {
			return i, false
		}
	}
	return -1, false
}

// decodeObject decodes one event from raw, a valid JSON value that becomes
// its Data: the caller hands over a slice that nothing else refers to.
func decodeObject(raw json.RawMessage) (event.Event, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return event.Event{}, fmt.Errorf("%s, not an object", jsonerr.Kind(raw))
	}
	return decodeWire(readWire(raw), raw)
}

// decodeWire checks and normalizes the fields of one event whose object is raw.
func decodeWire(w wire, raw json.RawMessage) (event.Event, error) {
	typ, err := requiredString("event", w.Event)
	if err != nil {
		return event.Event{}, err
	}
	typ = strings.ToLower(typ)
	if w.Time == nil {
		return event.Event{}, errors.New(`"time": missing`)
	}
	sec, ok := unixSeconds(w.Time)
	if !ok {
		return event.Event{}, errors.New(`"time": not a unix timestamp`)
	}
	addr, err := requiredString("email", w.Email)
	if err != nil {
		return event.Event{}, err
	}
	email, domain := event.NormalizeEmail(addr)
	if email == "" {
		return event.Event{}, errors.New(`"email": empty`)
	}
	var messageID string
	switch {
	case w.MessageID != nil && !isNull(w.MessageID):
		if messageID, ok = digits(w.MessageID); !ok {
			return event.Event{}, errors.New(`"MessageID": not a non-negative integer`)
		}
	case w.MjMessageID != nil && !isNull(w.MjMessageID):
		if messageID, ok = digits(w.MjMessageID); !ok {
			return event.Event{}, errors.New(`"mj_message_id": not a non-negative integer`)
		}
	}

	at := time.Unix(sec, 0).UTC()
	var id string
	if typ == "click" {
		url, _ := jsonString(w.URL)
		id = event.Hash(Provider, at, typ, messageID, email, url)
	} else {
		id = event.Hash(Provider, at, typ, messageID, email)
	}
	return event.Event{
		ID:          id,
		Provider:    Provider,
		Type:        typ,
		Time:        at,
		Email:       email,
		Domain:      domain,
		MessageID:   messageID,
		Campaign:    campaign(w),
		Category:    categories[typ],
		BounceClass: bounceClass(typ, w.HardBounce),
		Data:        raw,
	}, nil
}

// categories maps Mailjet's event types to the shared vocabulary. Mailjet's
// "sent" means the recipient's server accepted the message, hence
// delivered.
var categories = map[string]event.Category{
	"sent":    event.Delivered,
	"open":    event.Open,
	"click":   event.Click,
	"bounce":  event.Bounce,
	"blocked": event.Blocked,
	"spam":    event.Complaint,
	"unsub":   event.Unsubscribe,
}

// bounceClass is hard or soft from a bounce's "hard_bounce" boolean; ""
// for other types or when it is absent.
func bounceClass(typ string, hard json.RawMessage) event.BounceClass {
	if typ != "bounce" {
		return ""
	}
	switch string(hard) {
	case "true":
		return event.Hard
	case "false":
		return event.Soft
	}
	return ""
}

// campaign implements the Campaign rule documented on Decode.
func campaign(w wire) string {
	if s, ok := jsonString(w.CustomCampaign); ok && s != "" {
		return s
	}
	if id, ok := digits(w.CampaignID); ok && id != "0" {
		return id
	}
	return ""
}

// requiredString returns the non-empty string value of the named field.
func requiredString(name string, raw json.RawMessage) (string, error) {
	if raw == nil {
		return "", fmt.Errorf("%q: missing", name)
	}
	s, ok := jsonString(raw)
	if !ok {
		return "", fmt.Errorf("%q: %s, not a string", name, jsonerr.Kind(raw))
	}
	if s == "" {
		return "", fmt.Errorf("%q: empty", name)
	}
	return s, nil
}

// jsonString returns the value of raw when it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// digits returns the decimal digits of a non-negative integer given as a
// JSON number or as a JSON string of digits, without leading zeros.
func digits(raw json.RawMessage) (string, bool) {
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var ok bool
		if s, ok = jsonString(raw); !ok {
			return "", false
		}
	}
	if s == "" {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	if t := strings.TrimLeft(s, "0"); t != "" {
		return t, true
	}
	return "0", true
}

// unixSeconds returns the positive unix time in raw, at most maxUnix.
func unixSeconds(raw json.RawMessage) (int64, bool) {
	d, ok := digits(raw)
	if !ok {
		return 0, false
	}
	sec, err := strconv.ParseInt(d, 10, 64)
	if err != nil || sec <= 0 || sec > maxUnix {
		return 0, false
	}
	return sec, true
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// syntaxError words a JSON syntax error with where it was found: after how
// many bytes of the body, of which the first lead (white space) were not
// given to the parser.
func syntaxError(err error, lead int) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("not JSON: %w (after %d bytes)", se, se.Offset+int64(lead))
	}
	return fmt.Errorf("not JSON: %w", err)
}
