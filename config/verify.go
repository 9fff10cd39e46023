package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Verify holds a source's signature settings, named as the providers name
// them. Each provider reads the keys it needs and rejects the others (see
// Known.Source); every key is empty by default.
type Verify struct {
	// PublicKey is a public verification key: SendGrid's, base64 DER of
	// an ECDSA P-256 public key as SendGrid shows it (or PEM); a Standard
	// Webhooks sender's, "whpk_" and the base64 of an Ed25519 public key.
	PublicKey string `yaml:"public_key"`
	// SigningKey is Mailgun's HTTP webhook signing key.
	SigningKey string `yaml:"signing_key"`
	// ParentSigningKey is the HTTP webhook signing key of a Mailgun
	// primary (parent) account, which also signs its subaccounts'
	// deliveries (their signature.parent-signature).
	ParentSigningKey string `yaml:"parent_signing_key"`
	// Secret is a Standard Webhooks secret: base64, after "whsec_" or
	// without it.
	Secret string `yaml:"secret"`
	// Tolerance is how far a signed timestamp may be from hookd's clock
	// (default 5m; SES 1h; Mailgun 12h).
	Tolerance time.Duration `yaml:"tolerance"`
	// TopicARNs are the SNS topics an ses source accepts.
	TopicARNs []string `yaml:"topic_arns"`
	// ConfirmSubscription makes an ses source confirm SNS subscriptions
	// by fetching their SubscribeURL. Default false: the URL is logged.
	ConfirmSubscription bool `yaml:"confirm_subscription"`
	// Header is a shared secret the sender puts in a request header
	// (Postmark's custom webhook headers).
	Header *HeaderSecret `yaml:"header"`
	// HMAC is the generic provider's signature scheme.
	HMAC *HMAC `yaml:"hmac"`
}

// Unused returns an error for each key of v that is set but not among use,
// the keys provider reads: a key meant for another provider never passes
// silently. The errors name the field; join them with the provider's own.
func (v Verify) Unused(provider string, use ...string) []error {
	var errs []error
	for _, f := range []struct {
		key string
		set bool
	}{
		{"public_key", v.PublicKey != ""}, {"signing_key", v.SigningKey != ""},
		{"parent_signing_key", v.ParentSigningKey != ""}, {"secret", v.Secret != ""},
		{"tolerance", v.Tolerance != 0}, {"topic_arns", len(v.TopicARNs) > 0},
		{"confirm_subscription", v.ConfirmSubscription}, {"header", v.Header != nil}, {"hmac", v.HMAC != nil},
	} {
		if f.set && !slices.Contains(use, f.key) {
			errs = append(errs, &Error{Field: "verify." + f.key,
				Err: fmt.Errorf("not used by %s (want %s)", provider, strings.Join(use, ", "))})
		}
	}
	return errs
}

// HeaderSecret is a header that must carry a shared secret. Both fields are
// required.
type HeaderSecret struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// HMAC describes an HMAC signature in a request header.
type HMAC struct {
	// Header is the header that carries the signature. Required.
	Header string `yaml:"header"`
	// Algorithm is sha1, sha256 (default) or sha512.
	Algorithm string `yaml:"algorithm"`
	// Encoding of the signature: hex (default) or base64.
	Encoding string `yaml:"encoding"`
	// Prefix precedes the signature in the header, e.g. "sha256=".
	Prefix string `yaml:"prefix"`
	// Secret is the shared key. Required.
	Secret string `yaml:"secret"`
	// Payload is what is signed: "body" (default) or "timestamp.body", the
	// timestamp, a '.', then the body.
	Payload string `yaml:"payload"`
	// TimestampHeader carries the timestamp (unix seconds) of a
	// "timestamp.body" payload; not used with format stripe.
	TimestampHeader string `yaml:"timestamp_header"`
	// Format of the header: "" (the prefix then one signature) or "stripe"
	// ("t=TIMESTAMP,v1=SIG[,v1=SIG...]", payload timestamp.body).
	Format string `yaml:"format"`
}

// Map holds expr expressions over a generic payload, each evaluated with
// the item's fields as variables plus "payload" (the item) and "headers"
// (the request's headers, canonical names). Empty ones are not mapped.
type Map struct {
	Type        string `yaml:"type"`
	Time        string `yaml:"time"`
	ID          string `yaml:"id"`
	Email       string `yaml:"email"`
	MessageID   string `yaml:"message_id"`
	Campaign    string `yaml:"campaign"`
	Category    string `yaml:"category"`
	BounceClass string `yaml:"bounce_class"`
}

// Unused returns an error when m is set, for the providers that take no
// map; nil otherwise.
func (m Map) Unused() error {
	if m == (Map{}) {
		return nil
	}
	return &Error{Field: "map", Err: errors.New("only the generic and standardwebhooks providers take a map")}
}

// RateLimit bounds a source's request rate. Zero Rate means unlimited.
type RateLimit struct {
	// Rate is the sustained requests per second: a finite number.
	Rate float64 `yaml:"rate"`
	// Burst is how many requests may come at once (default: Rate rounded
	// up, at least 1). Only with Rate.
	Burst int `yaml:"burst"`
}

// filePrefix marks a secret read from a file: "file:/run/secrets/x" is the
// content of that file without its trailing line break.
const filePrefix = "file:"

// resolveSecrets replaces every secret written as "file:PATH" with the
// content of the file; a relative PATH resolves against the directory of
// the configuration file. Fields need reports false for are left as they
// are. An unreadable file is an *Error at the field; its message names the
// path, never the content.
func resolveSecrets(c *Config, name string, idx *index, need func(field string) bool) []*Error {
	dir := "."
	if c.File != "" {
		dir = filepath.Dir(c.File)
	}
	fields := []secretField{{"admin.token", &c.Admin.Token}}
	for i := range c.Sources {
		s := &c.Sources[i]
		at := fmt.Sprintf("sources[%d].", i)
		if s.Auth.Basic != nil {
			fields = append(fields, secretField{at + "auth.basic.password", &s.Auth.Basic.Password})
		}
		if s.Auth.Token != nil {
			fields = append(fields, secretField{at + "auth.token.value", &s.Auth.Token.Value})
		}
		fields = append(fields,
			secretField{at + "verify.public_key", &s.Verify.PublicKey},
			secretField{at + "verify.signing_key", &s.Verify.SigningKey},
			secretField{at + "verify.parent_signing_key", &s.Verify.ParentSigningKey},
			secretField{at + "verify.secret", &s.Verify.Secret})
		if s.Verify.Header != nil {
			fields = append(fields, secretField{at + "verify.header.value", &s.Verify.Header.Value})
		}
		if s.Verify.HMAC != nil {
			fields = append(fields, secretField{at + "verify.hmac.secret", &s.Verify.HMAC.Secret})
		}
	}
	var errs []*Error
	for _, f := range fields {
		path, ok := strings.CutPrefix(*f.p, filePrefix)
		if !ok || !need(f.field) {
			continue
		}
		if path == "" {
			line, col := idx.locate(f.field)
			errs = append(errs, &Error{File: name, Line: line, Column: col, Field: f.field, Err: errors.New(`"file:" without a path`)})
			continue
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		b, err := readSecret(path)
		if err != nil {
			line, col := idx.locate(f.field)
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = fmt.Errorf("read secret file %s: %w", path, pe.Err)
			}
			errs = append(errs, &Error{File: name, Line: line, Column: col, Field: f.field, Err: err})
			continue
		}
		*f.p = strings.TrimRight(string(b), "\r\n")
	}
	return errs
}

// maxSecretFile bounds what a secret file may hold: far more than any key
// or token, and little enough that a path to the wrong file (a log, a
// device such as /dev/zero or /dev/urandom, which never ends) is refused
// at once, where reading it whole would hang or exhaust memory.
const maxSecretFile = 64 << 10

// readSecret reads the file at path, at most maxSecretFile bytes of it.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("read secret file %s: more than %d KiB, more than a secret holds: is it the right file?", path, maxSecretFile>>10)
	}
	return b, nil
}

// secretField is a secret's field path and where its value is.
type secretField struct {
	field string
	p     *string
}

// source checks the provider-specific parts of s with k.Source, placing
// its errors under the source's field path at.
func (v *validator) source(at string, s Source, k Known) {
	if s.MaxBody < 0 {
		v.add(at+"max_body", "must be positive")
	}
	if s.MaxEvents < 0 {
		v.add(at+"max_events", "must be positive")
	}
	// NaN is neither negative nor positive: the listener would take it,
	// and an infinite rate, for no limit at all.
	switch r := s.RateLimit.Rate; {
	case r < 0:
		v.add(at+"rate_limit.rate", "must not be negative")
	case math.IsNaN(r) || math.IsInf(r, 0):
		v.add(at+"rate_limit.rate", "want a number of requests per second, got %v", r)
	}
	if s.RateLimit.Burst < 0 {
		v.add(at+"rate_limit.burst", "must not be negative")
	} else if s.RateLimit.Burst > 0 && s.RateLimit.Rate == 0 {
		v.add(at+"rate_limit.burst", "only used with rate: without it the source is not limited")
	}
	if s.Verify.Tolerance < 0 {
		v.add(at+"verify.tolerance", "must not be negative")
	}
	if k.Source == nil || s.Provider == "" {
		return
	}
	err := k.Source(s)
	if err == nil {
		return
	}
	for _, e := range unjoin(err) {
		var ce *Error
		if errors.As(e, &ce) {
			*v = append(*v, &Error{Field: join(strings.TrimSuffix(at, "."), ce.Field), Err: ce.Err})
		} else {
			v.add(strings.TrimSuffix(at, "."), "%v", e)
		}
	}
}
