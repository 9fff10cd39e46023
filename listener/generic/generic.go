// Package generic accepts any JSON sender: it verifies an HMAC signature in
// a header, configured the way the sender signs (GitHub's "sha256=" hex of
// the body, Stripe's "t=...,v1=..." over "timestamp.body", ...), and maps the
// payload to events with expr expressions. It registers itself as the
// "generic" provider; import it for that side effect.
package generic

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/internal/mapping"
)

// Provider is the registered name and the Provider of every event.
const Provider = "generic"

// Generic is the generic Provider.
type Generic struct{}

var (
	_ listener.Provider = Generic{}
	_ listener.Adapter  = (*Adapter)(nil)
)

func init() { listener.Register(Provider, Generic{}) }

// New implements listener.Provider. verify takes hmac, header and
// tolerance; map any of its keys. A source with neither hmac nor header
// relies on auth.
func (Generic) New(src config.Source, env listener.Env) (listener.Adapter, error) {
	v := src.Verify
	errs := v.Unused("the generic provider", "hmac", "header", "tolerance")
	a := &Adapter{now: env.Clock(), tol: v.Tolerance, name: src.Name}
	if a.tol == 0 {
		a.tol = listener.DefaultTolerance
	}
	var err error
	if a.header, err = listener.NewHeaderSecret(v.Header); err != nil {
		errs = append(errs, err)
	}
	if v.HMAC != nil {
		if a.sig, err = newSigner(*v.HMAC); err != nil {
			errs = append(errs, err)
		}
	}
	if a.mapping, err = mapping.Compile(src.Map); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a, nil
}

// Adapter verifies and decodes one generic source.
type Adapter struct {
	name    string // the source's, which scopes mapped ids
	now     func() time.Time
	tol     time.Duration
	header  *listener.HeaderSecret // nil: none
	sig     *signer                // nil: none
	mapping *mapping.Mapping
}

// signer is a compiled config.HMAC.
type signer struct {
	header, prefix, tsHeader string
	newHash                  func() hash.Hash
	base64, timestamped      bool
	stripe                   bool
	secret                   []byte
}

func newSigner(h config.HMAC) (*signer, error) {
	s := &signer{header: http.CanonicalHeaderKey(h.Header), prefix: h.Prefix, secret: []byte(h.Secret),
		tsHeader: http.CanonicalHeaderKey(h.TimestampHeader)}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &config.Error{Field: "verify.hmac." + key, Err: fmt.Errorf(format, args...)})
	}
	if h.Header == "" {
		bad("header", "required")
	}
	if len(h.Secret) < 8 {
		bad("secret", "required, at least 8 bytes")
	}
	switch h.Algorithm {
	case "sha256", "":
		s.newHash = sha256.New
	case "sha1":
		s.newHash = sha1.New
	case "sha512":
		s.newHash = sha512.New
	default:
		bad("algorithm", "unknown algorithm %q (want sha1, sha256 or sha512)", h.Algorithm)
	}
	switch h.Encoding {
	case "hex", "":
	case "base64":
		s.base64 = true
	default:
		bad("encoding", "unknown encoding %q (want hex or base64)", h.Encoding)
	}
	switch h.Format {
	case "":
	case "stripe":
		s.stripe, s.timestamped = true, true
		if h.Payload != "" && h.Payload != "timestamp.body" {
			bad("payload", "format stripe signs timestamp.body")
		}
		if h.TimestampHeader != "" {
			bad("timestamp_header", "format stripe takes the timestamp from the signature header")
		}
	default:
		bad("format", "unknown format %q (want stripe, or leave it out)", h.Format)
	}
	switch h.Payload {
	case "body", "":
	case "timestamp.body":
		s.timestamped = true
		if !s.stripe && h.TimestampHeader == "" {
			bad("timestamp_header", "required with payload timestamp.body")
		}
	default:
		bad("payload", "unknown payload %q (want body or timestamp.body)", h.Payload)
	}
	if !s.timestamped && h.TimestampHeader != "" {
		bad("timestamp_header", "only used with payload timestamp.body")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Verify implements listener.Adapter: the header secret, then the HMAC.
// With a timestamped payload the timestamp must be within the tolerance.
func (a *Adapter) Verify(_ context.Context, r *http.Request, body []byte) error {
	if a.header != nil {
		if err := a.header.Check(r); err != nil {
			return err
		}
	}
	if a.sig == nil {
		return nil
	}
	return a.sig.verify(r.Header, body, a.now(), a.tol)
}

func (s *signer) verify(h http.Header, body []byte, now time.Time, tol time.Duration) error {
	raw := h.Get(s.header)
	if raw == "" {
		return listener.Unauthorized("missing header " + s.header)
	}
	var ts string
	var sigs []string
	if s.stripe {
		for part := range strings.SplitSeq(raw, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "t":
				ts = v
			case "v1":
				sigs = append(sigs, v)
			}
		}
		if ts == "" || len(sigs) == 0 {
			return listener.Unauthorized(s.header + ": want t=TIMESTAMP,v1=SIGNATURE")
		}
	} else {
		sig, ok := strings.CutPrefix(raw, s.prefix)
		if !ok {
			return listener.Unauthorized(fmt.Sprintf("%s: want the prefix %q", s.header, s.prefix))
		}
		sigs = []string{sig}
		if s.timestamped {
			if ts = h.Get(s.tsHeader); ts == "" {
				return listener.Unauthorized("missing header " + s.tsHeader)
			}
		}
	}
	mac := hmac.New(s.newHash, s.secret)
	if s.timestamped {
		what := s.tsHeader
		if s.stripe {
			what = s.header + " t"
		}
		if _, err := listener.CheckTimestamp(what, ts, now, tol); err != nil {
			return err
		}
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
	}
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range sigs {
		var got []byte
		var err error
		if s.base64 {
			got, err = base64.StdEncoding.DecodeString(sig)
		} else {
			got, err = hex.DecodeString(sig)
		}
		if err == nil && listener.Equal(got, want) {
			return nil
		}
	}
	return listener.Unauthorized(s.header + ": no matching signature")
}

// Decode implements listener.Adapter. A body that is a JSON object is one
// event; an array gives one event per element, each an object. The map's
// expressions set the fields; map.id and map.type, when given, must give a
// value for every element, or the delivery is an error (refused and
// quarantined, not stored with no type or under a hash that another
// delivery of the same bytes would share), and two different elements may
// not share one (a map.id that reads a header gives every element of an
// array the id, and all but the first would be dropped as duplicates;
// identical elements are a duplicate). An id from map.id is prefixed with
// "generic:SOURCE:", so that two senders' ids never collide; without map.id
// the id is a hash of the source's name, the item's bytes and its time, so a
// retried delivery has the same ids and two sources that receive the same
// bytes keep both; without map.category the category is read from the type's last word ("opened",
// "email.bounced"); without map.time the listener uses the time it received
// the request. Data is the item's bytes.
func (a *Adapter) Decode(h http.Header, body []byte) ([]event.Event, error) {
	return Decode(a.name, a.mapping, h, body)
}

// Decode is Adapter.Decode for source with the mapping m.
func Decode(source string, m *mapping.Mapping, h http.Header, body []byte) ([]event.Event, error) {
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	switch {
	case len(body) == 0:
		return nil, errors.New("decode generic delivery: empty body")
	case body[0] == '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, fmt.Errorf("decode generic delivery: not JSON: %w", err)
		}
	case body[0] == '{':
		if !json.Valid(body) {
			var v any
			return nil, fmt.Errorf("decode generic delivery: not JSON: %w", json.Unmarshal(body, &v))
		}
		raws = []json.RawMessage{bytes.Clone(body)}
	default:
		return nil, errors.New("decode generic delivery: want a JSON object or array")
	}
	events := make([]event.Event, 0, len(raws))
	// mapped holds the element each map.id value came from: a different
	// item of the same delivery with the same id (an id read from a
	// header, say) would be dropped as its duplicate.
	var mapped map[string]int
	for i, raw := range raws {
		item, err := mapping.Unmarshal(raw)
		if err != nil {
			return nil, fmt.Errorf("decode generic delivery: element %d: %w", i, err)
		}
		if _, ok := item.(map[string]any); !ok {
			return nil, fmt.Errorf("decode generic delivery: element %d: not an object", i)
		}
		e := event.Event{Provider: Provider, Data: raw}
		if err := m.Apply(&e, item, h); err != nil {
			return nil, fmt.Errorf("decode generic delivery: element %d: %w", i, err)
		}
		if e.Category == "" {
			e.Category = event.ParseCategory(e.Type)
		}
		if e.ID == "" {
			e.ID = event.Hash(Provider, e.Time, source, string(raw))
		} else {
			if j, ok := mapped[e.ID]; ok && !bytes.Equal(raws[j], raw) {
				return nil, fmt.Errorf("decode generic delivery: element %d: map.id gave %q, the id of element %d, to a different item, which would be dropped as its duplicate: map the id from each item, not from the request", i, e.ID, j)
			}
			if mapped == nil {
				mapped = make(map[string]int, len(raws))
			}
			mapped[e.ID] = i
			e.ID = Provider + ":" + source + ":" + e.ID
		}
		events = append(events, e)
	}
	return events, nil
}
