// Package mjapi is a small client for the parts of Mailjet's REST API that
// hookd calls: the Send API v3.1, contact list subscriptions, contacts and
// event callback URLs. It is shared by the mailjet_* actions and the
// `hookd mailjet` commands. Errors never hold the API secret.
package mjapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/internal/netfail"
)

// DefaultTimeout bounds one request when the client has no Timeout.
const DefaultTimeout = 30 * time.Second

// Client calls Mailjet's API at BaseURL with an API key pair.
type Client struct {
	// BaseURL is the API's root, e.g. "https://api.mailjet.com"; a
	// trailing slash, as a URL copied from a browser has, is left out.
	BaseURL string
	// Key and Secret are the API key pair, sent as basic authentication.
	Key, Secret string
	// HTTP is the client requests go through; nil uses a default one.
	HTTP *http.Client
	// Timeout bounds each request, its answer read whole; zero is
	// DefaultTimeout.
	Timeout time.Duration
}

var defaultHTTP = &http.Client{}

// StatusError is an answer other than 2xx.
type StatusError struct {
	// Method and Path are the request's, e.g. "POST /v3.1/send".
	Method, Path string
	// Code is the HTTP status code.
	Code int
	// Body is the start of the answer, one line, the secret blanked.
	Body string
	// RetryAfter is the answer's Retry-After header, as it came ("" when
	// it had none).
	RetryAfter string
}

// Error returns "POST /v3.1/send: Mailjet answered 401: ...".
func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s: Mailjet answered %d %s", e.Method, e.Path, e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// Retryable reports whether the same request may succeed later: 408, 429
// and 5xx. Any other 4xx (401 and 403 for bad keys, 400 for a bad request)
// comes back the same.
func (e *StatusError) Retryable() bool {
	return e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// snippetLen bounds how much of an answer an error quotes.
const snippetLen = 512

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 4 << 20

// Do sends method path with in as its JSON body (nil: none) and decodes a
// 2xx answer's JSON into out (nil: ignored). The body of a 2xx answer that
// is also wanted raw is returned. A non-2xx answer is a *StatusError.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		// HTML parts go as they are, not with <, > and & escaped.
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(in); err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		b.Truncate(b.Len() - 1) // Encode's newline
		body = &b
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: make request: %w", method, path, c.redact(err))
	}
	req.SetBasicAuth(c.Key, c.Secret)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "hookd")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		if parent.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, parent.Err())
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: no answer within %s: %w", method, path, timeout, ctx.Err())
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, netfail.Explain(c.redact(err)))
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		err = fmt.Errorf("read answer: %w", c.redact(err))
		if ok {
			return nil, &AnswerError{Method: method, Path: path, Code: resp.StatusCode, Err: err}
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if !ok {
		return nil, &StatusError{Method: method, Path: path, Code: resp.StatusCode, Body: c.snippet(raw),
			RetryAfter: resp.Header.Get("Retry-After")}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, &AnswerError{Method: method, Path: path, Code: resp.StatusCode, Err: fmt.Errorf("decode answer: %w", err)}
		}
	}
	return raw, nil
}

// AnswerError is a 2xx answer whose body could not be read or decoded:
// Mailjet says it did what was asked, and hookd cannot tell more. It is
// retryable for IsRetryable, as reads are; a caller whose request must not
// be repeated (a send) takes the status at its word.
type AnswerError struct {
	// Method and Path are the request's, e.g. "POST /v3.1/send".
	Method, Path string
	// Code is the HTTP status code, 2xx.
	Code int
	// Err is why the answer could not be read.
	Err error
}

// Error returns "POST /v3.1/send: Mailjet answered 200: decode answer: ...".
func (e *AnswerError) Error() string {
	return fmt.Sprintf("%s %s: Mailjet answered %d: %v", e.Method, e.Path, e.Code, e.Err)
}

func (e *AnswerError) Unwrap() error { return e.Err }

// snippet returns the start of b as one line with the secret blanked,
// and the start of a secret that the cut at snippetLen left at its end.
func (c *Client) snippet(b []byte) string {
	cut := len(b) > snippetLen
	if cut {
		b = b[:snippetLen]
	}
	s := c.blank(strings.ToValidUTF8(string(b), "?"))
	if cut {
		for _, sec := range c.secrets() {
			for n := len(sec) - 1; n >= minSecret; n-- {
				if rest, ok := strings.CutSuffix(s, sec[:n]); ok {
					s = rest + actions.Redacted
					break
				}
			}
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// minSecret is the length of the shortest secret blank blanks: one
// shorter is a test's, and blanking it would garble the text for nothing.
const minSecret = 4

// secrets are what blank replaces: the secret, and the key pair as the
// Authorization header carries it, in base64, which an answer that quotes
// the request's headers (a proxy's error page, say) holds.
func (c *Client) secrets() []string {
	if len(c.Secret) < minSecret {
		return nil
	}
	return []string{c.Secret, base64.StdEncoding.EncodeToString([]byte(c.Key + ":" + c.Secret))}
}

func (c *Client) blank(s string) string {
	for _, sec := range c.secrets() {
		s = strings.ReplaceAll(s, sec, actions.Redacted)
	}
	return s
}

// redact returns err with the secret blanked from its text.
func (c *Client) redact(err error) error {
	return &redacted{msg: c.blank(err.Error()), err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// IsRetryable reports whether err, from Do, may go away on a later try:
// a retryable *StatusError or no answer at all; not a permanent answer.
func IsRetryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Retryable()
	}
	return true
}

// ActionError returns err, from Do, as a mailjet_* action returns it: a
// permanent answer (not IsRetryable) through actions.PermanentStatus,
// which takes bad keys and a path that is not there (401, 403, 404) for
// the target's fault and another 4xx for a refusal of this request alone;
// a retryable one with its Retry-After, should it have one (a 429 of
// Mailjet's rate limits), which the runner waits for (actions.RetryAfter);
// no answer as it is.
func ActionError(err error) error {
	var se *StatusError
	switch {
	case !errors.As(err, &se):
		return err
	case !se.Retryable():
		return actions.PermanentStatus(se.Code, err)
	default:
		return actions.RetryAfter(err, se.RetryAfter, time.Now())
	}
}
