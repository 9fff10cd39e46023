// Package standardwebhooks accepts webhooks signed as the Standard Webhooks
// specification says, over the signed content "id.timestamp.body": with a
// shared secret, an HMAC-SHA256 sent as "v1,<base64>" in
// webhook-signature; with an Ed25519 key pair, the sender's signature sent
// as "v1a,<base64>" and checked with its public key ("whpk_"). The header
// may hold several, space-separated, during a key rotation. The
// specification grew out of Svix's scheme, which signs the same way under
// the headers svix-id, svix-timestamp and svix-signature; senders built on
// Svix (Resend among them) send those, and they are accepted too. It
// registers itself as the "standardwebhooks" provider; import it for that
// side effect.
package standardwebhooks

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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
	"github.com/hookd/hookd/listener/internal/mapping"
)

// Provider is the registered name and the Provider of every event.
const Provider = "standardwebhooks"

// The headers of the specification.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// The same headers as Svix names them.
const (
	SvixHeaderID        = "Svix-Id"
	SvixHeaderTimestamp = "Svix-Timestamp"
	SvixHeaderSignature = "Svix-Signature"
)

// headerSet is the names of a delivery's three headers.
type headerSet struct{ id, timestamp, signature string }

// headers returns the names h uses: Svix's when it has svix-id and no
// webhook-id, else the specification's. The three are never taken from
// different sets.
func headers(h http.Header) headerSet {
	if h.Get(HeaderID) == "" && h.Get(SvixHeaderID) != "" {
		return headerSet{SvixHeaderID, SvixHeaderTimestamp, SvixHeaderSignature}
	}
	return headerSet{HeaderID, HeaderTimestamp, HeaderSignature}
}

// The prefixes the specification gives serialized keys: a symmetric
// secret, an Ed25519 public key and an Ed25519 private (signing) key.
const (
	secretPrefix     = "whsec_"
	publicKeyPrefix  = "whpk_"
	privateKeyPrefix = "whsk_"
)

// MaxAsymmetric is how many "v1a" signatures Verify checks in one
// delivery. Each costs an Ed25519 verification, far more than comparing
// an HMAC, so a header crammed with them could otherwise make every
// unauthenticated request expensive; a sender rotating keys sends two or
// three. A delivery with more is refused.
const MaxAsymmetric = 8

// StandardWebhooks is the Provider.
type StandardWebhooks struct{}

var (
	_ listener.Provider = StandardWebhooks{}
	_ listener.Warner   = StandardWebhooks{}
	_ listener.Adapter  = (*Adapter)(nil)
)

// MinSecret is the length, in bytes, under which Warnings calls a secret
// short: the specification asks for secrets of 24 to 64 random bytes.
// ParseSecret accepts 16, so that endpoints set up with shorter secrets
// keep working.
const MinSecret = 24

// Warnings implements listener.Warner: a verify.secret that ParseSecret
// accepts but is shorter than MinSecret. A longer secret than 64 bytes is
// no weaker, and is not named.
func (StandardWebhooks) Warnings(src config.Source) []string {
	if src.Verify.Secret == "" {
		return nil
	}
	key, err := ParseSecret(src.Verify.Secret)
	if err != nil || len(key) >= MinSecret {
		return nil
	}
	return []string{fmt.Sprintf("verify.secret is %d bytes, shorter than the %d the Standard Webhooks specification asks for: have the sender issue a new secret", len(key), MinSecret)}
}

func init() { listener.Register(Provider, StandardWebhooks{}) }

// New implements listener.Provider: verify.secret (base64, after "whsec_"
// or without it; see ParseSecret) verifies "v1" signatures,
// verify.public_key ("whpk_" and base64; see ParsePublicKey) verifies
// "v1a" signatures, and at least one of them is required. With both, a
// delivery with either kind of signature verifies; configure only the
// public key to refuse HMAC-signed deliveries. verify.tolerance defaults
// to 5 minutes; map may override the fields Decode reads.
func (StandardWebhooks) New(src config.Source, env listener.Env) (listener.Adapter, error) {
	v := src.Verify
	errs := v.Unused("standardwebhooks", "secret", "public_key", "tolerance")
	var keys Keys
	if v.Secret != "" || v.PublicKey == "" {
		key, err := ParseSecret(v.Secret)
		if err != nil {
			if v.Secret == "" {
				err = errors.New(`required: the endpoint's secret ("whsec_" and base64), or verify.public_key ("whpk_" and base64) for asymmetric signatures`)
			}
			errs = append(errs, &config.Error{Field: "verify.secret", Err: err})
		}
		keys.Secret = key
	}
	if v.PublicKey != "" {
		pub, err := ParsePublicKey(v.PublicKey)
		if err != nil {
			errs = append(errs, &config.Error{Field: "verify.public_key", Err: err})
		}
		keys.PublicKey = pub
	}
	m, err := mapping.Compile(src.Map)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := &Adapter{name: src.Name, keys: keys, now: env.Clock(), tol: v.Tolerance, mapping: m}
	if a.tol == 0 {
		a.tol = listener.DefaultTolerance
	}
	return a, nil
}

// ParseSecret returns the key of a secret: "whsec_" and base64, as the
// specification serializes it, or the base64 alone, which its libraries
// accept too. The key must be at least 16 bytes. Its errors never quote
// the secret.
func ParseSecret(s string) ([]byte, error) {
	const want = `want the base64 of at least 16 bytes, after "whsec_" or without it`
	switch {
	case s == "":
		return nil, errors.New(`required: the endpoint's secret, "whsec_" and base64`)
	case strings.HasPrefix(s, publicKeyPrefix):
		return nil, errors.New(`a "whpk_" key is a public key: it verifies asymmetric signatures and belongs in verify.public_key`)
	case strings.HasPrefix(s, privateKeyPrefix):
		return nil, errors.New(`a "whsk_" key is the sender's private signing key, which a receiver never needs: give its public key, "whpk_", as verify.public_key`)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(strings.TrimPrefix(s, secretPrefix))
	if err != nil || len(key) < 16 {
		return nil, errors.New(want)
	}
	return key, nil
}

// ParsePublicKey returns the Ed25519 public key of "whpk_" and the base64
// of its 32 bytes. The prefix is required: it is how the specification
// serializes public keys, and it tells one apart from a secret. Its errors
// never quote the key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	const want = `want "whpk_" and the base64 of a 32-byte Ed25519 public key`
	switch {
	case s == "":
		return nil, errors.New("required: " + want)
	case strings.HasPrefix(s, privateKeyPrefix):
		return nil, errors.New(`a "whsk_" key is the sender's private signing key, which a receiver never needs: ` + want)
	case strings.HasPrefix(s, secretPrefix):
		return nil, errors.New(`a "whsec_" key is a shared secret: it belongs in verify.secret`)
	}
	b64, ok := strings.CutPrefix(s, publicKeyPrefix)
	if !ok {
		return nil, errors.New(want)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, errors.New(want)
	}
	return ed25519.PublicKey(key), nil
}

// Keys are what a source verifies deliveries with. A nil key verifies
// nothing: a "v1" signature is checked only under Secret, never under the
// public key (which anyone may know), and a "v1a" signature only under
// PublicKey.
type Keys struct {
	// Secret is the HMAC-SHA256 key of "v1" signatures.
	Secret []byte
	// PublicKey is the Ed25519 key of "v1a" signatures.
	PublicKey ed25519.PublicKey
}

// versions names the signature versions k verifies, for error messages.
func (k Keys) versions() string {
	switch {
	case k.Secret != nil && k.PublicKey != nil:
		return "v1 or v1a"
	case k.PublicKey != nil:
		return "v1a"
	default:
		return "v1"
	}
}

// Adapter verifies and decodes one source.
type Adapter struct {
	name    string // the source's, which scopes ids
	keys    Keys
	now     func() time.Time
	tol     time.Duration
	mapping *mapping.Mapping
}

// Verify implements listener.Adapter with Verify and the source's keys.
func (a *Adapter) Verify(_ context.Context, r *http.Request, body []byte) error {
	return Verify(a.keys, r.Header, body, a.now(), a.tol)
}

// Verify checks the Standard Webhooks signature of a delivery with k: the
// three headers must be present (webhook-id, webhook-timestamp and
// webhook-signature, or svix-id, svix-timestamp and svix-signature), the
// timestamp within tol of now, and one of the signatures valid over
// "id.timestamp.body": a "v1," HMAC-SHA256 under k.Secret or a "v1a,"
// Ed25519 signature under k.PublicKey. Signatures of a version k has no
// key for, and of other versions, are ignored; more than MaxAsymmetric
// "v1a" ones to check are refused.
func Verify(k Keys, h http.Header, body []byte, now time.Time, tol time.Duration) error {
	n := headers(h)
	id, ts, sigs := h.Get(n.id), h.Get(n.timestamp), h.Get(n.signature)
	if id == "" {
		return listener.Unauthorized("missing header webhook-id (or svix-id)")
	}
	for _, m := range []struct{ name, v string }{{n.timestamp, ts}, {n.signature, sigs}} {
		if m.v == "" {
			return listener.Unauthorized("missing header " + strings.ToLower(m.name))
		}
	}
	if _, err := listener.CheckTimestamp(strings.ToLower(n.timestamp), ts, now, tol); err != nil {
		return err
	}
	var mac, content []byte // computed on first use
	asymmetric := 0
	for sig := range strings.FieldsSeq(sigs) {
		version, b64, _ := strings.Cut(sig, ",")
		switch {
		case version == "v1" && k.Secret != nil:
			if mac == nil {
				mac = Sign(k.Secret, id, ts, body)
			}
			got, err := base64.StdEncoding.Strict().DecodeString(b64)
			if err == nil && listener.Equal(got, mac) {
				return nil
			}
		case version == "v1a" && k.PublicKey != nil:
			if asymmetric++; asymmetric > MaxAsymmetric {
				return listener.Unauthorized(fmt.Sprintf("%s: more than %d v1a signatures", strings.ToLower(n.signature), MaxAsymmetric))
			}
			if content == nil {
				content = signedContent(id, ts, body)
			}
			got, err := base64.StdEncoding.Strict().DecodeString(b64)
			if err == nil && len(got) == ed25519.SignatureSize && ed25519.Verify(k.PublicKey, content, got) {
				return nil
			}
		}
	}
	return listener.Unauthorized(strings.ToLower(n.signature) + ": no matching " + k.versions() + " signature")
}

// Sign returns the HMAC-SHA256 of "id.timestamp.body" under key.
func Sign(key []byte, id, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// signedContent returns "id.timestamp.body", what a v1a signature signs:
// Ed25519 signs the message itself, not a digest of it.
func signedContent(id, ts string, body []byte) []byte {
	b := make([]byte, 0, len(id)+len(ts)+len(body)+2)
	b = append(b, id...)
	b = append(b, '.')
	b = append(b, ts...)
	b = append(b, '.')
	return append(b, body...)
}

// Decode implements listener.Adapter: one event per delivery, with ID
// "standardwebhooks:SOURCE:" and the webhook-id header, or svix-id (so a
// retry to the source is a duplicate, while two senders, each promising
// ids unique only among its own, never share one), Type the payload's
// "type", Time its "timestamp", else its "created_at" (Resend's name;
// either RFC 3339 text or whole unix seconds as a number, see payloadTime;
// neither: the time of receipt), Category from the type's last word
// ("email.bounced" is bounce), and, for email platforms that follow
// the specification (Resend), Email from data.email, data.to (the first)
// or data.recipient, MessageID from data.email_id or data.message_id (a
// string, or an integer's digits as written; see idText) and
// BounceClass hard for a data.bounce.type "Permanent" ("hard"), soft for
// "Transient" ("soft"); a bounce whose data.bounce.subType is Suppressed
// or OnAccountSuppressionList (SES's, which Resend passes on: the address
// was on a suppression list and nothing was sent) is blocked, with no
// class. The source's map overrides any of them; a mapped
// id or type that gives nothing is an error, and a mapped id is scoped by
// the source as the webhook-id is. A payload without a string "type" is
// an error, whose message says to set map.type, unless map.type gives one;
// a time Decode cannot read is an error unless map.time gives one.
func (a *Adapter) Decode(h http.Header, body []byte) ([]event.Event, error) {
	return Decode(a.name, a.mapping, h, body)
}

// payload is the specification's envelope. Type and the times are read
// raw, so that a map can stand for one the payload has in another shape.
type payload struct {
	Type      json.RawMessage `json:"type"`
	Timestamp json.RawMessage `json:"timestamp"`
	CreatedAt json.RawMessage `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

type emailData struct {
	Email     string          `json:"email"`
	To        json.RawMessage `json:"to"`
	Recipient string          `json:"recipient"`
	EmailID   json.RawMessage `json:"email_id"`
	MessageID json.RawMessage `json:"message_id"`
	Bounce    struct {
		Type    string `json:"type"`
		SubType string `json:"subType"`
	} `json:"bounce"`
}

// Decode is Adapter.Decode for source with the mapping m (nil maps
// nothing).
func Decode(source string, m *mapping.Mapping, h http.Header, body []byte) ([]event.Event, error) {
	id := h.Get(headers(h).id)
	if id == "" {
		return nil, errors.New("decode standard webhook: missing webhook-id (or svix-id)")
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("decode standard webhook: %w", jsonerr.Want("a JSON object", err))
	}
	// A type or time in a shape Decode cannot read is an error only if
	// the map does not stand for it.
	typ, typeErr := payloadType(p.Type)
	at, ok, timeErr := payloadTime("timestamp", p.Timestamp)
	if !ok && timeErr == nil {
		at, _, timeErr = payloadTime("created_at", p.CreatedAt)
	}
	e := event.Event{ID: id, Provider: Provider, Type: typ, Time: at, Data: json.RawMessage(append([]byte(nil), body...))}
	var d emailData
	if len(p.Data) > 0 && p.Data[0] == '{' {
		_ = json.Unmarshal(p.Data, &d) // fields of the wrong type are left empty
	}
	addr := d.Email
	if addr == "" {
		var to []string
		var one string
		if json.Unmarshal(d.To, &to) == nil && len(to) > 0 {
			addr = to[0]
		} else if json.Unmarshal(d.To, &one) == nil {
			addr = one
		}
	}
	if addr == "" {
		addr = d.Recipient
	}
	e.Email, e.Domain = event.NormalizeEmail(addr)
	e.MessageID = idText(d.EmailID)
	if e.MessageID == "" {
		e.MessageID = idText(d.MessageID)
	}
	if !m.Empty() {
		item, err := mapping.Unmarshal(body)
		if err != nil {
			return nil, fmt.Errorf("decode standard webhook: %w", err)
		}
		if err := m.Apply(&e, item, h); err != nil {
			return nil, fmt.Errorf("decode standard webhook: %w", err)
		}
	}
	// A mapped type stands for the payload's, which may then be absent;
	// the category and bounce class follow the type unless mapped too.
	if e.Type == "" {
		if typeErr == nil {
			typeErr = errors.New(`"type": missing or empty`)
		}
		return nil, fmt.Errorf("decode standard webhook: %w; if the sender puts the event's type elsewhere, set the source's map.type to an expression that reads it", typeErr)
	}
	if timeErr != nil && e.Time.IsZero() {
		return nil, fmt.Errorf("decode standard webhook: %w", timeErr)
	}
	// The specification promises a webhook-id unique per sender only.
	e.ID = Provider + ":" + source + ":" + e.ID
	if e.Category == "" {
		e.Category = event.ParseCategory(e.Type)
		// Resend sends through SES and passes on its bounce: one whose
		// subType says that the address was on a suppression list was
		// never sent, and is blocked, as the ses provider has it.
		if e.Category == event.Bounce && (d.Bounce.SubType == "Suppressed" || d.Bounce.SubType == "OnAccountSuppressionList") {
			e.Category = event.Blocked
		}
	}
	if e.Category == event.Bounce && e.BounceClass == "" {
		switch strings.ToLower(d.Bounce.Type) {
		case "permanent", "hard":
			e.BounceClass = event.Hard
		case "transient", "soft":
			e.BounceClass = event.Soft
		}
	}
	return []event.Event{e}, nil
}

// idText returns a message id as the sender wrote it: a JSON string's
// text, or a JSON integer's digits, every one of them (an id beyond 2^53
// must not pass through a float64); "" for anything else.
func idText(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	digits := bytes.TrimPrefix(raw, []byte("-"))
	if len(digits) == 0 {
		return ""
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return string(raw)
}

// payloadType returns the payload's "type", raw: "" when it is absent or
// null, an error when it is not a string.
func payloadType(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf(`"type": want a string, got %s`, jsonerr.Kind(raw))
	}
	return s, nil
}

// maxUnix is the last second of event.MaxYear, the latest time hookd
// stores.
var maxUnix = time.Date(event.MaxYear+1, time.January, 1, 0, 0, 0, 0, time.UTC).Unix() - 1

// payloadTime reads the payload's time field, raw: RFC 3339 text, or a
// JSON number of whole unix seconds from 1 to maxUnix, which senders
// commonly put there (the specification leaves the payload's shape to
// them). It reports ok false, with no error, when raw is absent, null or
// "". Its errors name field and never quote the value.
func payloadTime(field string, raw json.RawMessage) (t time.Time, ok bool, err error) {
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
		return time.Time{}, false, nil
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t.UTC(), true, nil
			}
		}
		return time.Time{}, false, fmt.Errorf("%q: not RFC 3339", field)
	case c == '-' || c >= '0' && c <= '9':
		sec, err := strconv.ParseInt(string(raw), 10, 64)
		switch {
		case errors.Is(err, strconv.ErrSyntax):
			return time.Time{}, false, fmt.Errorf("%q: want whole unix seconds, a number without a fraction or an exponent", field)
		case err != nil || sec < 1 || sec > maxUnix:
			return time.Time{}, false, fmt.Errorf("%q: unix seconds out of range: want 1 to %d (%s); for unix milliseconds, set the source's map.time to %s",
				field, maxUnix, time.Unix(maxUnix, 0).UTC().Format(time.RFC3339), field)
		}
		return time.Unix(sec, 0).UTC(), true, nil
	}
	return time.Time{}, false, fmt.Errorf("%q: want RFC 3339 text or unix seconds, got %s", field, jsonerr.Kind(raw))
}
