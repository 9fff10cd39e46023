package listener

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/config"
)

// authenticator checks that a request comes from its source. It never
// reveals the expected secret, and compares in constant time.
type authenticator interface {
	check(c echo.Context) error
}

func newAuth(src config.Source) (authenticator, error) {
	a := src.Auth
	switch {
	case a.Basic != nil && a.Token != nil:
		return nil, fmt.Errorf("source %q: auth: basic and token are exclusive", src.Name)
	case a.Basic != nil:
		return basicAuth{user: digest(a.Basic.User), pass: digest(a.Basic.Password)}, nil
	case a.Token != nil:
		param := a.Token.Param
		if param == "" {
			param = "token"
		}
		return tokenAuth{value: digest(a.Token.Value), param: param}, nil
	}
	return nil, nil
}

// digest hashes a secret so that comparisons take the same time whatever
// the lengths involved.
func digest(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func equal(a, b [32]byte) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }

var errUnauthorized = echo.NewHTTPError(http.StatusUnauthorized, "missing or wrong credentials")

type basicAuth struct{ user, pass [32]byte }

func (b basicAuth) check(c echo.Context) error {
	u, p, ok := c.Request().BasicAuth()
	// Evaluate both comparisons so timing does not tell which one failed.
	uok, pok := equal(digest(u), b.user), equal(digest(p), b.pass)
	if !ok || !uok || !pok {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="hookd"`)
		return errUnauthorized
	}
	return nil
}

type tokenAuth struct {
	value [32]byte
	param string
}

func (t tokenAuth) check(c echo.Context) error {
	// echo gives the path segment as sent, percent-encoding and all (the
	// query parameter comes decoded): a token with "+" or "=" in it is
	// often registered encoded.
	got, err := url.PathUnescape(c.Param("token"))
	if err != nil {
		return errUnauthorized
	}
	if got != "" {
		if !equal(digest(got), t.value) {
			return errUnauthorized
		}
		return nil
	}
	// In a query "+" stands for a space, but a secret with "+" in it (as
	// base64 has) is often pasted into the callback URL as it is: either
	// reading matches.
	got = c.QueryParam(t.param)
	if got == "" || !equal(digest(got), t.value) && !equal(digest(rawQueryParam(c.Request().URL.RawQuery, t.param)), t.value) {
		return errUnauthorized
	}
	return nil
}

// rawQueryParam returns the first value of key in the raw query, with its
// percent-encoding undone but "+" kept as "+"; "" when there is none.
func rawQueryParam(raw, key string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k, err := url.QueryUnescape(k); err != nil || k != key {
			continue
		}
		if v, err := url.PathUnescape(v); err == nil {
			return v
		}
		return ""
	}
	return ""
}
