// Package mailgun accepts Mailgun's JSON webhooks:
// {"signature":{"timestamp","token","signature"},"event-data":{...}}, where
// the signature is the hex HMAC-SHA256 of timestamp followed by token under
// the account's webhook signing key. A delivery for a subaccount's domain
// also carries signature.parent-signature, the same HMAC under the
// primary (parent) account's key, so that one endpoint of the primary
// account can verify the deliveries of all its subaccounts. It registers
// itself as the "mailgun" provider; import it for that side effect.
//
// Mailgun's signature covers the timestamp and the token, not the event, so
// a captured signature could be replayed with another event-data. Two checks
// close that: the timestamp must be within the tolerance, and a token is
// single-use. The tolerance defaults to 12 hours (DefaultTolerance), not
// minutes: Mailgun retries a delivery for up to 8 hours and does not promise
// to sign each retry anew, and refusing a genuine retry would lose its
// event. Replays inside the window are refused by the token check, so the
// window only bounds how long tokens are remembered. Each token is remembered, through
// listener.Nonces (an SQLite file in the data directory under hookd serve,
// so restarts and crashes do not forget it), with the SHA-256 of the body
// that first used it, until its timestamp leaves the tolerance. The same
// token with the same body is Mailgun retrying a delivery we did not answer
// 200, and is accepted (its event is then a duplicate); the same token with
// any other body is refused 401.
package mailgun

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
const Provider = "mailgun"

// DefaultTolerance is how old a signature's timestamp may be by default:
// longer than Mailgun's 8 hours of retries.
const DefaultTolerance = 12 * time.Hour

// Mailgun is the Provider.
type Mailgun struct{}

var (
	_ listener.Provider = Mailgun{}
	_ listener.Adapter  = (*Adapter)(nil)
)

func init() { listener.Register(Provider, Mailgun{}) }

// New implements listener.Provider: verify.signing_key is the account's
// HTTP webhook signing key, verify.parent_signing_key the primary
// account's (see Adapter.Verify); at least one is required, each at
// least 16 bytes. verify.tolerance bounds the timestamp's age (default 12
// hours).
func (Mailgun) New(src config.Source, env listener.Env) (listener.Adapter, error) {
	v := src.Verify
	errs := v.Unused("mailgun", "signing_key", "parent_signing_key", "tolerance")
	if err := src.Map.Unused(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case v.SigningKey == "" && v.ParentSigningKey == "":
		errs = append(errs, &config.Error{Field: "verify.signing_key", Err: errors.New("required: the HTTP webhook signing key from Mailgun's settings (or verify.parent_signing_key, the primary account's, for the deliveries of its subaccounts)")})
	case v.SigningKey != "" && len(v.SigningKey) < 16:
		errs = append(errs, &config.Error{Field: "verify.signing_key", Err: errors.New("too short: want at least 16 bytes, the HTTP webhook signing key from Mailgun's settings")})
	}
	if v.ParentSigningKey != "" && len(v.ParentSigningKey) < 16 {
		errs = append(errs, &config.Error{Field: "verify.parent_signing_key", Err: errors.New("too short: want at least 16 bytes, the primary account's HTTP webhook signing key from Mailgun's settings")})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := &Adapter{now: env.Clock(), tol: v.Tolerance, nonces: env.Nonces, scope: Provider + "/" + src.Name}
	if v.SigningKey != "" {
		a.key = []byte(v.SigningKey)
	}
	if v.ParentSigningKey != "" {
		a.parent = []byte(v.ParentSigningKey)
	}
	if a.tol == 0 {
		a.tol = DefaultTolerance
	}
	return a, nil
}

// Adapter verifies and decodes one source.
type Adapter struct {
	key    []byte // nil: signature is not checked under the account's key
	parent []byte // nil: no primary account's key
	now    func() time.Time
	tol    time.Duration
	nonces listener.Nonces
	scope  string
}

// signature is the part of the body Mailgun signs.
type signature struct {
	Timestamp json.RawMessage `json:"timestamp"`
	Token     string          `json:"token"`
	Signature string          `json:"signature"`
	// ParentSignature is set on a subaccount's deliveries.
	ParentSignature string `json:"parent-signature"`
}

// Verify implements listener.Adapter: the signature, the timestamp's age,
// then the token's single use (see the package comment). A body without a
// readable signature object is unauthenticated, hence 401.
//
// The signature verifies when signature.signature is the HMAC under
// verify.signing_key or under verify.parent_signing_key (a delivery for
// the primary account's own domains), or signature.parent-signature is
// the HMAC under verify.parent_signing_key (a delivery for one of its
// subaccounts). parent-signature is never checked under signing_key, so
// a source configured as before reads deliveries as before.
func (a *Adapter) Verify(ctx context.Context, _ *http.Request, body []byte) error {
	var w struct {
		Signature *signature `json:"signature"`
	}
	if err := json.Unmarshal(body, &w); err != nil || w.Signature == nil {
		return listener.Unauthorized(`missing "signature" object`)
	}
	s := w.Signature
	ts := strings.Trim(string(s.Timestamp), `"`)
	if ts == "" || s.Token == "" || s.Signature == "" {
		return listener.Unauthorized(`"signature": want timestamp, token and signature`)
	}
	if !a.matches(ts, s) {
		if a.parent != nil {
			return listener.Unauthorized(`"signature": neither signature nor parent-signature matches`)
		}
		return listener.Unauthorized(`"signature": does not match`)
	}
	at, err := listener.CheckTimestamp(`"signature.timestamp"`, ts, a.now(), a.tol)
	if err != nil {
		return err
	}
	if a.nonces == nil {
		return listener.Unavailable("token store unavailable", errors.New("mailgun: no nonce store"))
	}
	sum := sha256.Sum256(body)
	reused, err := a.nonces.Use(ctx, a.scope, s.Token, hex.EncodeToString(sum[:]), at.Add(a.tol))
	if err != nil {
		return listener.Unavailable("token store unavailable, retry later", err)
	}
	if reused {
		return listener.Unauthorized(`"signature.token": already used`)
	}
	return nil
}

// matches reports whether s is signed with one of a's keys (see Verify).
func (a *Adapter) matches(ts string, s *signature) bool {
	sig, sigErr := hex.DecodeString(s.Signature)
	if a.key != nil && sigErr == nil && listener.Equal(sig, Sign(a.key, ts, s.Token)) {
		return true
	}
	if a.parent == nil {
		return false
	}
	want := Sign(a.parent, ts, s.Token)
	if sigErr == nil && listener.Equal(sig, want) {
		return true
	}
	parent, err := hex.DecodeString(s.ParentSignature)
	return s.ParentSignature != "" && err == nil && listener.Equal(parent, want)
}

// Sign returns the HMAC-SHA256 of timestamp followed by token under key.
func Sign(key []byte, timestamp, token string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(timestamp))
	mac.Write([]byte(token))
	return mac.Sum(nil)
}

// Decode implements listener.Adapter.
func (a *Adapter) Decode(_ http.Header, body []byte) ([]event.Event, error) { return Decode(body) }

type eventData struct {
	Event     string          `json:"event"`
	ID        string          `json:"id"`
	Timestamp float64         `json:"timestamp"`
	Recipient string          `json:"recipient"`
	Severity  string          `json:"severity"`
	Reason    string          `json:"reason"`
	Campaigns []campaignRef   `json:"campaigns"`
	Tags      []string        `json:"tags"`
	Message   json.RawMessage `json:"message"`
	// Status is read by failure, leniently: a delivery-status of another
	// shape than Mailgun documents must not refuse the delivery.
	Status json.RawMessage `json:"delivery-status"`
}

type campaignRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// categories maps Mailgun's event types to the shared vocabulary; failed
// depends on its severity, reason and delivery-status (see failure).
var categories = map[string]event.Category{
	"accepted":     event.Sent,
	"delivered":    event.Delivered,
	"opened":       event.Open,
	"clicked":      event.Click,
	"complained":   event.Complaint,
	"unsubscribed": event.Unsubscribe,
	"rejected":     event.Blocked,
}

// Decode turns a delivery into its one event: ID "mailgun:", event-data.id,
// ":" and event-data.timestamp in unix microseconds, Type event-data.event, Time event-data.timestamp (unix
// seconds with a fraction), Email event-data.recipient, MessageID the
// message's Message-Id header, Campaign the first campaign's name (else
// the first tag), Data the event-data object. A "failed" event is deferred
// when its severity is temporary, blocked when Mailgun suppressed it, and
// otherwise a bounce, hard, soft or of no class as failure tells.
//
// The id alone is not the event's: Mailgun documents it as unique within a
// day, and reuses it for other events on other days. With the timestamp
// it is: a retried delivery carries the same event-data, so the same id
// and timestamp, and is a duplicate.
func Decode(body []byte) ([]event.Event, error) {
	var w struct {
		EventData json.RawMessage `json:"event-data"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decode mailgun delivery: %w", jsonerr.Want("a JSON object", err))
	}
	if len(w.EventData) == 0 || w.EventData[0] != '{' {
		return nil, errors.New(`decode mailgun delivery: "event-data": missing or not an object`)
	}
	var d eventData
	if err := json.Unmarshal(w.EventData, &d); err != nil {
		return nil, fmt.Errorf("decode mailgun delivery: %w", jsonerr.Explain("event-data", err))
	}
	switch {
	case d.Event == "":
		return nil, errors.New(`decode mailgun delivery: "event-data.event": missing or empty`)
	case d.ID == "":
		return nil, errors.New(`decode mailgun delivery: "event-data.id": missing or empty`)
	case d.Timestamp <= 0 || d.Timestamp > 253402300799 || math.IsNaN(d.Timestamp):
		return nil, errors.New(`decode mailgun delivery: "event-data.timestamp": not a unix timestamp`)
	}
	sec, frac := math.Modf(d.Timestamp)
	// Microseconds, as Mailgun writes them, without float noise.
	at := time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC()
	e := event.Event{
		ID:       Provider + ":" + d.ID + ":" + strconv.FormatInt(at.UnixMicro(), 10),
		Provider: Provider,
		Type:     d.Event,
		Time:     at,
		Category: categories[d.Event],
		Data:     w.EventData,
	}
	e.Email, e.Domain = event.NormalizeEmail(d.Recipient)
	var msg struct {
		Headers struct {
			MessageID string `json:"message-id"`
		} `json:"headers"`
	}
	if len(d.Message) > 0 && json.Unmarshal(d.Message, &msg) == nil {
		e.MessageID = msg.Headers.MessageID
	}
	if len(d.Campaigns) > 0 {
		e.Campaign = d.Campaigns[0].Name
	} else if len(d.Tags) > 0 {
		e.Campaign = d.Tags[0]
	}
	if d.Event == "failed" {
		e.Category, e.BounceClass = failure(&d)
	}
	return []event.Event{e}, nil
}

// failure returns the category and bounce class of a "failed" event.
// Mailgun's severity says whether it will retry the message (temporary) or
// has dropped it (permanent), not why; its events documentation gives, as
// permanent failures, "hard bounces, messages that reached their retry
// limit, previously unsubscribed/bounced/complained addresses, or addresses
// rejected by an ESP", and only the first is a hard bounce. The reason and
// the delivery-status tell them apart, in this order:
//
//   - reason suppress-bounce, suppress-unsubscribe or suppress-complaint
//     (Mailgun "stopped delivery to a previously bounced address", "to an
//     unsubscribed address", "to a recipient who reported messages as
//     spam"), or hardfail, the legacy webhooks' name for the same ("not
//     delivering to an address that previously bounced, unsubscribed, or
//     complained"): blocked, with no class. Mailgun sent nothing; what put
//     the address on its list was an event of its own.
//   - severity temporary, or none: deferred. Mailgun will retry the
//     message (for up to 8 hours), so it has not failed yet.
//   - reason old, "Mailgun tried to deliver the message unsuccessfully for
//     more than 8 hours" (it retries only immediate soft bounces): soft.
//   - reason espblock, "a soft bounce and the maximum number of attempts
//     was reached" (Mailgun's stats: "failed temporary due to ESP block,
//     will be retried"): soft, whatever the code. It is a bounce, not
//     blocked: Mailgun sent the message and the receiving provider refused
//     it, like SendGrid's bounces of type blocked and Postmark's Blocked,
//     both soft here.
//   - otherwise (bounce, "a hard or soft bounce", generic, "we're not able
//     to classify the error", or another) the delivery-status decides: an
//     enhanced code X.2.2, mailbox full, soft (RFC 3463 makes it a
//     persistent transient failure, and Mailgun counts a full mailbox among
//     soft bounces though it does not retry it); a 5xx code hard, as in the
//     permanent generic failure Mailgun documents (550, 5.1.1, "does not
//     exist"); a 4xx code soft, a temporary refusal Mailgun gave up on.
//   - with no such code, bounce stays hard, as hookd had it (Mailgun's
//     documentation gives nothing else to tell its hard bounces from its
//     soft ones), and any other reason is a bounce with no class: nothing
//     says that the address is bad, and a hard class would let a rule
//     unsubscribe it.
//
// attempt-no is not read: it counts the attempts, not why they failed.
// message and description are free text, for people.
func failure(d *eventData) (event.Category, event.BounceClass) {
	switch {
	case strings.HasPrefix(d.Reason, "suppress") || d.Reason == "hardfail":
		return event.Blocked, ""
	case d.Severity != "permanent":
		return event.Deferred, ""
	case d.Reason == "old" || d.Reason == "espblock":
		return event.Bounce, event.Soft
	}
	var st struct {
		Code         json.RawMessage `json:"code"`
		EnhancedCode string          `json:"enhanced-code"`
		BounceCode   string          `json:"bounce-code"`
	}
	_ = json.Unmarshal(d.Status, &st) // a field of another type stays empty
	code, _ := strconv.Atoi(strings.Trim(string(st.Code), `"`))
	_, detail, _ := strings.Cut(strings.TrimSpace(cmp.Or(st.EnhancedCode, st.BounceCode)), ".")
	switch {
	case detail == "2.2":
		return event.Bounce, event.Soft
	case code >= 500 && code < 600:
		return event.Bounce, event.Hard
	case code >= 400 && code < 500:
		return event.Bounce, event.Soft
	case d.Reason == "bounce":
		return event.Bounce, event.Hard
	}
	return event.Bounce, ""
}
