// Package standardwebhooks accepts webhooks signed as the Standard Webhooks
// specification says: an HMAC-SHA256 of "id.timestamp.body" under a
// "whsec_" secret, sent as "v1,<base64>" in webhook-signature (several,
// space-separated, during a key rotation). The specification grew out of
// Svix's scheme, which signs the same way under the headers svix-id,
// svix-timestamp and svix-signature; senders built on Svix (Resend among
// them) send those, and they are accepted too. It registers itself as the
// "standardwebhooks" provider; import it for that side effect.
package standardwebhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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

// secretPrefix starts every secret.
const secretPrefix = "whsec_"

// StandardWebhooks is the Provider.
type StandardWebhooks struct{}

var (
	_ listener.Provider = StandardWebhooks{}
	_ listener.Adapter  = (*Adapter)(nil)
)

func init() { listener.Register(Provider, StandardWebhooks{}) }

// New implements listener.Provider: verify.secret is required
// ("whsec_" and base64); verify.tolerance defaults to 5 minutes; map may
// override the fields Decode reads.
func (StandardWebhooks) New(src config.Source, env listener.Env) (listener.Adapter, error) {
	v := src.Verify
	errs := v.Unused("standardwebhooks", "secret", "tolerance")
	key, err := ParseSecret(v.Secret)
	if err != nil {
		errs = append(errs, &config.Error{Field: "verify.secret", Err: err})
	}
	m, err := mapping.Compile(src.Map)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := &Adapter{key: key, now: env.Clock(), tol: v.Tolerance, mapping: m}
	if a.tol == 0 {
		a.tol = listener.DefaultTolerance
	}
	return a, nil
}

// ParseSecret returns the key of a "whsec_<base64>" secret. Its errors
// never quote the secret.
func ParseSecret(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("required: the endpoint's secret, whsec_ and base64")
	}
	b64, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, errors.New(`want "whsec_" followed by base64`)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(key) < 16 {
		return nil, errors.New(`want "whsec_" followed by the base64 of at least 16 bytes`)
	}
	return key, nil
}

// Adapter verifies and decodes one source.
type Adapter struct {
	key     []byte
	now     func() time.Time
	tol     time.Duration
	mapping *mapping.Mapping
}

// Verify implements listener.Adapter: the three headers must be present
// (webhook-id, webhook-timestamp and webhook-signature, or svix-id,
// svix-timestamp and svix-signature), the timestamp within the tolerance,
// and one of the "v1," signatures the HMAC-SHA256 of "id.timestamp.body";
// signatures of other versions are ignored.
func (a *Adapter) Verify(_ context.Context, r *http.Request, body []byte) error {
	return Verify(a.key, r.Header, body, a.now(), a.tol)
}

// Verify checks the Standard Webhooks signature of a delivery with key.
func Verify(key []byte, h http.Header, body []byte, now time.Time, tol time.Duration) error {
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
	want := Sign(key, id, ts, body)
	for sig := range strings.FieldsSeq(sigs) {
		b64, ok := strings.CutPrefix(sig, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err == nil && listener.Equal(got, want) {
			return nil
		}
	}
	return listener.Unauthorized(strings.ToLower(n.signature) + ": no matching v1 signature")
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

// Decode implements listener.Adapter: one event per delivery, with ID the
// webhook-id header, or svix-id (so a retry is a duplicate), Type the
// payload's "type", Time its "timestamp", else its "created_at" (Resend's
// name; both RFC 3339; neither: the time of receipt), Category from the
// type's last word
// ("email.bounced" is bounce), and, for email platforms that follow the
// specification (Resend), Email from data.email, data.to (the first) or
// data.recipient, MessageID from data.email_id or data.message_id and
// BounceClass hard for a data.bounce.type "Permanent" ("hard"), soft for
// "Transient" ("soft"). The source's map overrides any of them; a mapped id
// or type that gives nothing is an error.
func (a *Adapter) Decode(h http.Header, body []byte) ([]event.Event, error) {
	return Decode(a.mapping, h, body)
}

// payload is the specification's envelope.
type payload struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

type emailData struct {
	Email     string          `json:"email"`
	To        json.RawMessage `json:"to"`
	Recipient string          `json:"recipient"`
	EmailID   string          `json:"email_id"`
	MessageID string          `json:"message_id"`
	Bounce    struct {
		Type string `json:"type"`
	} `json:"bounce"`
}

// Decode is Adapter.Decode with the mapping m (nil maps nothing).
func Decode(m *mapping.Mapping, h http.Header, body []byte) ([]event.Event, error) {
	id := h.Get(headers(h).id)
	if id == "" {
		return nil, errors.New("decode standard webhook: missing webhook-id (or svix-id)")
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("decode standard webhook: %w", jsonerr.Want("a JSON object", err))
	}
	e := event.Event{ID: Provider + ":" + id, Provider: Provider, Type: p.Type, Data: json.RawMessage(append([]byte(nil), body...))}
	if p.Type == "" {
		return nil, errors.New(`decode standard webhook: "type": missing or empty`)
	}
	at, field := p.Timestamp, "timestamp"
	if at == "" {
		at, field = p.CreatedAt, "created_at"
	}
	if at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return nil, fmt.Errorf(`decode standard webhook: %q: not RFC 3339`, field)
		}
		e.Time = t.UTC()
	}
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
	e.MessageID = d.EmailID
	if e.MessageID == "" {
		e.MessageID = d.MessageID
	}
	e.Category = event.ParseCategory(p.Type)
	if e.Category == event.Bounce {
		switch strings.ToLower(d.Bounce.Type) {
		case "permanent", "hard":
			e.BounceClass = event.Hard
		case "transient", "soft":
			e.BounceClass = event.Soft
		}
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
	return []event.Event{e}, nil
}
