// Package sendgrid accepts Twilio SendGrid's Event Webhook: a JSON array of
// events, signed with ECDSA P-256 over SHA-256 of the timestamp header's
// bytes followed by the raw body. It registers itself as the "sendgrid"
// provider; import it for that side effect.
package sendgrid

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/internal/jsonerr"
)

// Provider is the registered name and the Provider of every event.
const Provider = "sendgrid"

// The headers of a signed delivery.
const (
	HeaderSignature = "X-Twilio-Email-Event-Webhook-Signature"
	HeaderTimestamp = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// DefaultTolerance is how far the timestamp header may be from hookd's clock
// when a source does not set verify.tolerance: SendGrid's 24 hours of
// retries and two hours' margin. SendGrid retries a delivery that was not
// answered 2xx "for up to 24 hours" and does not say that a retry is
// signed anew; were its timestamp the first attempt's, a tolerance of
// minutes would refuse every retry after an outage longer than that, with
// a 401 that SendGrid retries until it gives up, and the events would be
// lost. The wider window lets no forgery in: the signature covers the
// timestamp and the body, so a delivery replayed inside it carries the
// same events, the same sg_event_id, and is stored as a duplicate.
const DefaultTolerance = 26 * time.Hour

// SendGrid is the Provider.
type SendGrid struct{}

var (
	_ listener.Provider = SendGrid{}
	_ listener.Adapter  = (*Adapter)(nil)
)

func init() { listener.Register(Provider, SendGrid{}) }

// New implements listener.Provider: verify.public_key (base64 DER, as
// SendGrid's settings page shows it, or PEM, as its libraries write it) is
// required; verify.tolerance bounds the age of the timestamp header
// (default 26 hours, DefaultTolerance).
func (SendGrid) New(src config.Source, env listener.Env) (listener.Adapter, error) {
	v := src.Verify
	errs := v.Unused("sendgrid", "public_key", "tolerance")
	if err := src.Map.Unused(); err != nil {
		errs = append(errs, err)
	}
	key, err := ParsePublicKey(v.PublicKey)
	if err != nil {
		errs = append(errs, &config.Error{Field: "verify.public_key", Err: err})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := &Adapter{key: key, now: env.Clock(), tol: v.Tolerance}
	if a.tol == 0 {
		a.tol = DefaultTolerance
	}
	return a, nil
}

// ParsePublicKey reads SendGrid's verification key, an ECDSA P-256 public
// key in its DER (PKIX) encoding: as base64, as SendGrid's Event Webhook
// settings show it, or as a PEM "PUBLIC KEY" block, as SendGrid's
// libraries write it.
func ParsePublicKey(s string) (*ecdsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	var der []byte
	switch {
	case s == "":
		return nil, errors.New("required: the verification key from SendGrid's Event Webhook settings (base64)")
	case strings.HasPrefix(s, "-----BEGIN"):
		block, rest := pem.Decode([]byte(s))
		switch {
		case block == nil:
			return nil, errors.New("not PEM: want -----BEGIN PUBLIC KEY-----, the base64 on lines of its own, then -----END PUBLIC KEY-----")
		case block.Type != "PUBLIC KEY":
			return nil, fmt.Errorf("PEM block %q: want PUBLIC KEY", block.Type)
		case len(bytes.TrimSpace(rest)) > 0:
			return nil, errors.New("PEM: want one PUBLIC KEY block and nothing after it")
		}
		der = block.Bytes
	default:
		var err error
		if der, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, errors.New("neither base64 nor PEM: want the verification key as SendGrid's settings show it (base64), or as PEM (-----BEGIN PUBLIC KEY-----)")
		}
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("not a DER public key")
	}
	ec, ok := k.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 public key")
	}
	return ec, nil
}

// Adapter verifies and decodes one source.
type Adapter struct {
	key *ecdsa.PublicKey
	now func() time.Time
	tol time.Duration
}

// Verify implements listener.Adapter.
func (a *Adapter) Verify(_ context.Context, r *http.Request, body []byte) error {
	return Verify(a.key, r.Header, body, a.now(), a.tol)
}

// Verify checks a delivery's signature: both headers present, the
// timestamp within tol of now, and the signature (base64 ASN.1 DER) valid
// for SHA-256 of the timestamp header's bytes followed by body.
func Verify(key *ecdsa.PublicKey, h http.Header, body []byte, now time.Time, tol time.Duration) error {
	sig, ts := h.Get(HeaderSignature), h.Get(HeaderTimestamp)
	if sig == "" {
		return listener.Unauthorized("missing header " + HeaderSignature)
	}
	if ts == "" {
		return listener.Unauthorized("missing header " + HeaderTimestamp)
	}
	if _, err := listener.CheckTimestamp(HeaderTimestamp, ts, now, tol); err != nil {
		return err
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return listener.Unauthorized(HeaderSignature + ": not base64")
	}
	d := sha256.New()
	d.Write([]byte(ts))
	d.Write(body)
	if !ecdsa.VerifyASN1(key, d.Sum(nil), der) {
		return listener.Unauthorized(HeaderSignature + ": signature does not match")
	}
	return nil
}

// wire holds the fields Decode reads.
type wire struct {
	Email        string
	Timestamp    json.RawMessage
	Event        string
	EventID      string
	MessageID    string
	Type         string
	Category     json.RawMessage
	CampaignName string
	CampaignID   json.RawMessage
	// SingleSendName names the Single Send (Marketing Campaigns) that
	// sent the message.
	SingleSendName string
}

// read fills w from an event object. Its keys are matched exactly, not in
// any case as encoding/json matches a struct's: SendGrid posts a message's
// custom arguments beside its own fields, and an argument named "Event",
// "Timestamp" or "SG_EVENT_ID" is the sender's, which must neither change
// the event (its type, time, id) nor refuse its batch.
func (w *wire) read(raw json.RawMessage) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return jsonerr.Explain("", err)
	}
	for _, f := range []struct {
		name string
		into *string
	}{
		{"email", &w.Email}, {"event", &w.Event}, {"sg_event_id", &w.EventID}, {"sg_message_id", &w.MessageID},
		{"type", &w.Type}, {"marketing_campaign_name", &w.CampaignName}, {"singlesend_name", &w.SingleSendName},
	} {
		if v, ok := obj[f.name]; ok {
			if err := json.Unmarshal(v, f.into); err != nil {
				return jsonerr.Explain(f.name, err)
			}
		}
	}
	w.Timestamp, w.Category, w.CampaignID = obj["timestamp"], obj["category"], obj["marketing_campaign_id"]
	return nil
}

// maxUnix and maxUnixMilli are the last second of year 9999 in unix seconds
// and in milliseconds.
const (
	maxUnix      = 253402300799
	maxUnixMilli = maxUnix*1000 + 999
)

// categories maps SendGrid's event types to the shared vocabulary.
var categories = map[string]event.Category{
	"processed":         event.Sent,
	"delivered":         event.Delivered,
	"deferred":          event.Deferred,
	"open":              event.Open,
	"click":             event.Click,
	"bounce":            event.Bounce,
	"dropped":           event.Blocked,
	"spamreport":        event.Complaint,
	"unsubscribe":       event.Unsubscribe,
	"group_unsubscribe": event.Unsubscribe,
}

// Decode implements listener.Adapter.
func (a *Adapter) Decode(_ http.Header, body []byte) ([]event.Event, error) { return Decode(body) }

// Decode turns a delivery (a JSON array of event objects) into events. ID
// is "sendgrid:" and sg_event_id (a hash of the event's bytes when it has
// none), Type "event" in lower case (SendGrid's reserved-keys example
// sends "Processed", which is "processed", a sent event), Time
// "timestamp" (unix seconds, or milliseconds when the number is too large
// for seconds, as in SendGrid's Single Send example), Email "email"
// (empty, with Domain, for an event about the account rather than a
// message, such as "account_status_change", which has none), MessageID
// sg_message_id, Campaign marketing_campaign_name, else singlesend_name,
// else marketing_campaign_id, else the first of "category"; these names are
// matched exactly, so a custom argument named in another case ("Event")
// is only Data. A bounce of type "bounce" is hard, of type
// "blocked" (a temporary refusal) soft; dropped is blocked. Any element
// that is not an event object with "event" and a valid "timestamp", or
// whose "email" is there but not a string (null counts as absent), fails
// the whole body.
func Decode(body []byte) ([]event.Event, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, fmt.Errorf("decode sendgrid delivery: %w", jsonerr.Want("a JSON array of events", err))
	}
	events := make([]event.Event, 0, len(raws))
	for i, raw := range raws {
		e, err := decodeOne(raw)
		if err != nil {
			return nil, fmt.Errorf("decode sendgrid delivery: element %d: %w", i, err)
		}
		events = append(events, e)
	}
	return events, nil
}

func decodeOne(raw json.RawMessage) (event.Event, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return event.Event{}, errors.New("not an object")
	}
	var w wire
	if err := w.read(raw); err != nil {
		return event.Event{}, err
	}
	if w.Event == "" {
		return event.Event{}, errors.New(`"event": missing or empty`)
	}
	// SendGrid documents "Processed" as well as "processed": one type.
	typ := strings.ToLower(w.Event)
	// A number, or a string holding one: unix seconds, or, beyond the
	// seconds of year 9999, milliseconds, as SendGrid's Single Send
	// example writes them (1591726752372).
	n, err := strconv.ParseInt(strings.Trim(string(w.Timestamp), `"`), 10, 64)
	var at time.Time
	switch {
	case err != nil || n <= 0 || n > maxUnixMilli:
		return event.Event{}, errors.New(`"timestamp": not a unix timestamp`)
	case n > maxUnix:
		at = time.UnixMilli(n).UTC()
	default:
		at = time.Unix(n, 0).UTC()
	}
	e := event.Event{
		Provider:  Provider,
		Type:      typ,
		Time:      at,
		MessageID: w.MessageID,
		Campaign:  campaign(w),
		Category:  categories[typ],
		Data:      raw,
	}
	e.Email, e.Domain = event.NormalizeEmail(w.Email)
	if typ == "bounce" {
		switch w.Type {
		case "blocked":
			e.BounceClass = event.Soft
		default:
			e.BounceClass = event.Hard
		}
	}
	if w.EventID != "" {
		e.ID = Provider + ":" + w.EventID
	} else {
		e.ID = event.Hash(Provider, at, string(raw))
	}
	return e, nil
}

func campaign(w wire) string {
	if w.CampaignName != "" {
		return w.CampaignName
	}
	if w.SingleSendName != "" {
		return w.SingleSendName
	}
	var s string
	var n json.Number
	if json.Unmarshal(w.CampaignID, &s) == nil && s != "" {
		return s
	}
	if json.Unmarshal(w.CampaignID, &n) == nil && n != "" {
		return n.String()
	}
	if json.Unmarshal(w.Category, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(w.Category, &list) == nil && len(list) > 0 {
		return list[0]
	}
	return ""
}
