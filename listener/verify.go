package listener

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hookd/hookd/config"
)

// DefaultTolerance is how far a signed timestamp may be from hookd's clock
// when a source does not set verify.tolerance.
const DefaultTolerance = 5 * time.Minute

// CheckTimestamp parses a unix-seconds timestamp and checks it is within tol
// of now, either way. Its errors are Unauthorized and name the header or
// field what.
func CheckTimestamp(what, ts string, now time.Time, tol time.Duration) (time.Time, error) {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 || sec > 253402300799 {
		return time.Time{}, Unauthorized(fmt.Sprintf("%s: not a unix timestamp", what))
	}
	at := time.Unix(sec, 0)
	if d := now.Sub(at); d > tol || d < -tol {
		return time.Time{}, Unauthorized(fmt.Sprintf("%s: timestamp outside the tolerance of %s", what, tol))
	}
	return at, nil
}

// Equal compares two MACs in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// HeaderSecret checks that a request carries a shared secret in a header
// (config.HeaderSecret), compared in constant time.
type HeaderSecret struct {
	name string
	want [32]byte
}

// NewHeaderSecret checks h (its errors are *config.Error under
// "verify.header") and returns its checker; nil for a nil h.
func NewHeaderSecret(h *config.HeaderSecret) (*HeaderSecret, error) {
	if h == nil {
		return nil, nil
	}
	var errs []error
	if h.Name == "" {
		errs = append(errs, &config.Error{Field: "verify.header.name", Err: errors.New("required")})
	}
	if len(h.Value) < 16 {
		errs = append(errs, &config.Error{Field: "verify.header.value", Err: errors.New("required, at least 16 bytes")})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &HeaderSecret{name: http.CanonicalHeaderKey(h.Name), want: digest(h.Value)}, nil
}

// Check returns nil when r carries the secret, an Unauthorized error
// otherwise.
func (s *HeaderSecret) Check(r *http.Request) error {
	got := r.Header.Values(s.name)
	if len(got) == 0 {
		return Unauthorized("missing header " + s.name)
	}
	if len(got) > 1 || !equal(digest(got[0]), s.want) {
		return Unauthorized("wrong " + s.name)
	}
	return nil
}
