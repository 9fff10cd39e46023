// Package redact hides the secrets a URL's path may carry, a hook's token
// as its last segment (/hooks/mailjet/SECRET), where hookd prints or logs
// a URL: hookd mailjet's callback URLs, the listener's account of a
// callback URL that no source takes.
package redact

import (
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// Mask is what stands for a hidden secret.
const Mask = "xxxxx"

// minSecret is the length from which a path segment may be a token: the
// shortest token hookd accepts (config's minSecret).
const minSecret = 16

// Path returns escaped, a URL's escaped path, with each segment that may
// be a secret replaced by Mask, the other segments as they were: a segment
// that is one of tokens (percent-encoded or not), or that looks like a
// token, which matters for a token that is no longer configured (rotated,
// or of a source since removed): at least 16 bytes, mixing letters with
// digits or upper with lower case, as generated secrets do and the words
// of a route do not.
func Path(escaped string, tokens []string) string {
	segs := strings.Split(escaped, "/")
	for i, seg := range segs {
		s, err := url.PathUnescape(seg)
		if err != nil {
			s = seg
		}
		if s != "" && (slices.Contains(tokens, s) || looksSecret(s)) {
			segs[i] = Mask
		}
	}
	return strings.Join(segs, "/")
}

// looksSecret reports whether s is long enough to be a token and mixes
// kinds of characters as a random one does.
func looksSecret(s string) bool {
	if len(s) < minSecret {
		return false
	}
	var digit, upper, lower bool
	for _, r := range s {
		switch {
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		}
	}
	return digit && (upper || lower) || upper && lower
}
