// Package http is the "http" action: it sends an event, or a body rendered
// from it, as one POST or PUT request to a URL fixed in the rule. Import it
// for its side effect; it registers itself with the actions package.
//
// Parameters:
//
//	url           required; an absolute http:// or https:// URL, written
//	              literally: a template is refused, because where a request
//	              goes comes from configuration, never from event data
//	              (${VAR} is expanded when the rules load). Userinfo is
//	              sent as basic authentication.
//	method        POST (default) or PUT.
//	headers       a mapping of header names to values (templates allowed).
//	              Host, Content-Length, Transfer-Encoding, Connection,
//	              Content-Type and Idempotency-Key are hookd's to set.
//	body          text sent as rendered; or a mapping or list, sent as
//	              its JSON. Absent: the event's JSON. Text must be valid
//	              JSON after rendering unless content_type names another
//	              type. When it is JSON, what its templates print is
//	              escaped for where it stands: inside a string, as the
//	              string's contents ('{"text":"{{ .data.agent }}"}' keeps
//	              a quote in the agent inside the text); outside one, as a
//	              JSON value ('{"n":{{ .data.count }}}' writes a number, a
//	              string quoted, nil as null). A template whose branches
//	              leave a string open in one and not in another does not
//	              load. Other text is sent as rendered.
//	content_type  the Content-Type, default application/json.
//	timeout       how long to wait for the answer, default 10s.
//	ca_file       with an https:// url, the absolute path of a PEM file
//	              of CA certificates trusted beside the system's, written
//	              literally (see below).
//
// Every request carries Idempotency-Key (the job's key, the same on every
// attempt, percent-escaped should it hold a control character, and hashed
// beyond MaxIdempotencyKey bytes) and User-Agent: hookd (headers may
// replace the latter). A header value that renders with a line break, or
// a header line longer than MaxHeaderLine, fails the rule on its event (no
// job is made).
//
// A 2xx answer is success. 408, 409, 429, 5xx and failures to get an
// answer at all (a refused connection, a timeout, a connection closed or
// reset, a certificate not trusted) are retried by the job's policy. An
// https:// server's certificate must chain to the system's store of CAs,
// which SSL_CERT_FILE or SSL_CERT_DIR replace when set. 409 Conflict is
// what a server that honours Idempotency-Key answers while the request of
// an earlier attempt with the same key is
// still in progress (draft-ietf-httpapi-idempotency-key-header, "Error
// Scenarios", which asks no correction of the client before it retries):
// an attempt that timed out here while the server went on with it meets
// one on its retry. A retried answer's Retry-After (seconds or a date)
// puts the next attempt off for that long, up to actions.MaxRetryAfter,
// where the policy would try sooner.
// Any other answer is permanent and dead-letters the job: another 4xx
// would come back the same, and a 3xx is not followed, to any host, since a
// redirect could send the event where the rule did not say; point url at
// the final address instead, which the error shows (its Location, with
// the userinfo, path, query values and fragment redacted as url's are).
// A 3xx, 401, 403, 404, 405, 407 or 410 says the target is wrong (its
// address, credentials or method) and also suspends the target until
// resumed; another 4xx (400, 413, 422, ...), like parameters that do not
// render, refuses this job's request alone (actions.Refused): one event
// whose body the endpoint will not take does not stop the other events'
// jobs to that URL.
//
// An https target behind a private CA takes ca_file, the absolute path of
// a PEM file of CA certificates trusted beside the system's (where
// SSL_CERT_FILE would replace them all). Validate reads it, so that a
// file that is missing or holds no certificate is a rule error; the
// action reads it again when its modification time or size changes (a
// CA renewed), and an attempt that cannot read it is retried.
//
// The URL's path is kept secret like its userinfo and query: Slack,
// Discord, Teams, Mattermost, Zapier and other "secret URL" endpoints take
// their token there, and a url written as ${VAR} may hold one anywhere.
// hookd cannot tell such a path from a plain one, so it shows none.
//
// The job's target is "http METHOD SCHEME://HOST/[redacted] (path F)":
// the URL's scheme, host and port, and in place of its path F, the first
// 8 hex digits of the SHA-256 of the URL without its userinfo, query and
// fragment, so that two URLs on one host remain two targets (suspended
// and resumed apart) while neither shows its path. A URL whose path is
// empty or "/" is shown as it is ("http POST https://alerts.example.com/").
// The fingerprint reveals nothing of a random token; it would confirm a
// guess of a short, guessable path, which is no secret. Errors name the
// request as the target does, never hold header values, userinfo, the
// query or the path, and a snippet of the answer quoted in an error has
// them blanked: the userinfo also in base64, as the Authorization header
// carries it (an answer may quote the request's headers), and the start
// of one that the end of the snippet cut. Where hookd shows a job's
// parameters (the API, the dashboard, hookd test, hookd deadletters),
// each header value, the URL's userinfo, its path, each of its query
// values and its fragment read "[redacted]".
package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/internal/param"
	"github.com/hookd/hookd/internal/netfail"
)

// Name is the name the action is registered under.
const Name = "http"

// DefaultTimeout is how long a request waits for its answer when the rule
// gives no timeout.
const DefaultTimeout = 10 * time.Second

func init() {
	actions.Register(Name, kind{action: newAction()})
}

// Interface guards.
var (
	_ actions.Kind     = kind{}
	_ actions.Redacter = kind{}
	_ actions.Action   = (*action)(nil)
)

// params are an http action's parameters, read and checked.
type params struct {
	url         *url.URL
	method      string
	headers     map[string]string
	body        any // nil: the event; string; or a value sent as JSON
	hasBody     bool
	contentType string
	timeout     time.Duration
	// caFile is the PEM file of CA certificates trusted beside the
	// system's, "" for the system's alone.
	caFile string
}

// MaxHeaderLine is the longest header line, name, ": " and value, in
// bytes, that a header may make: Apache's LimitRequestFieldSize, 8190 by
// default, and within the 8 KiB buffer nginx reads a header line into.
// A longer one, which a value rendered from event data can make, is
// answered 400 or 431 by such a server, a permanent failure that would
// dead-letter the job and suspend the target the jobs of every other
// event share; it fails the rule on its event instead (actions.Checker).
const MaxHeaderLine = 8190

// MaxIdempotencyKey is the longest Idempotency-Key sent, in bytes: the
// longest that Stripe takes, as do idempotency middlewares that follow
// it; a longer one is refused with a 400, which would dead-letter the
// job. A job's key is longer when its event's id is (a generic source's
// map.id) or its rule's once key is (once: data.url, a click's URL).
const MaxIdempotencyKey = 255

// idempotencyKey returns the Idempotency-Key of the job with key, the
// same on every attempt: the key, percent-escaped should it hold a
// control character, or, when that is longer than MaxIdempotencyKey,
// "sha256:" and the 64 hex digits of the key's SHA-256, as a once key
// longer than 1024 bytes is kept.
func idempotencyKey(key string) string {
	if k := param.Escaped(key); len(k) <= MaxIdempotencyKey {
		return k
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// reserved are the headers a rule may not set, canonical, with why.
var reserved = map[string]string{
	"Host":              "the host comes from url",
	"Content-Length":    "hookd sets it",
	"Transfer-Encoding": "hookd sets it",
	"Connection":        "hookd manages connections",
	"Content-Type":      "set content_type instead",
	"Idempotency-Key":   "hookd sets it to the job's key",
}

// parse reads and checks ps, as written (templates allowed where they
// are) or rendered.
func parse(ps map[string]any) (*params, error) {
	if err := param.Known(ps, "url", "method", "headers", "body", "content_type", "timeout", "ca_file"); err != nil {
		return nil, err
	}
	var p params
	raw, ok, err := param.Literal(ps, "url", "the URL comes from configuration, never from event data")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, param.Errorf("url", "required")
	}
	// The URL's text is left out of every error: it may hold a password or
	// a token.
	if p.url, ok = parseURL(raw); !ok {
		return nil, param.Errorf("url", "want an absolute http:// or https:// URL")
	}
	p.method, ok, err = param.Literal(ps, "method", "the method is fixed in the rule")
	if err != nil {
		return nil, err
	}
	p.method = strings.ToUpper(p.method)
	switch {
	case !ok:
		p.method = http.MethodPost
	case p.method != http.MethodPost && p.method != http.MethodPut:
		return nil, param.Errorf("method", "want POST or PUT")
	}
	if p.headers, err = param.TextMap(ps, "headers"); err != nil {
		return nil, err
	}
	for name, v := range p.headers {
		if !httpguts.ValidHeaderFieldName(name) {
			return nil, param.Errorf("headers."+name, "not a valid header name")
		}
		if why, ok := reserved[http.CanonicalHeaderKey(name)]; ok {
			return nil, param.Errorf("headers."+name, "not settable: %s", why)
		}
		// Rendered from event data, a line break would otherwise fail
		// every attempt in the transport, or worse.
		if strings.ContainsFunc(v, param.IsCTL) {
			return nil, param.Errorf("headers."+name, "holds a line break or another control character")
		}
		if n := len(name) + len(": ") + len(v); n > MaxHeaderLine {
			return nil, param.Errorf("headers."+name, "a header line of %d bytes, longer than servers take (%d)", n, MaxHeaderLine)
		}
	}
	p.contentType, ok, err = param.Literal(ps, "content_type", "the content type is fixed in the rule")
	if err != nil {
		return nil, err
	}
	if !ok {
		p.contentType = "application/json"
	} else if _, _, err := mime.ParseMediaType(p.contentType); err != nil {
		return nil, param.Errorf("content_type", "want a media type such as application/json: %v", err)
	}
	p.body, p.hasBody = ps["body"], ps["body"] != nil
	if p.timeout, err = param.Duration(ps, "timeout", DefaultTimeout); err != nil {
		return nil, err
	}
	p.caFile, ok, err = param.Literal(ps, "ca_file", "the CA file is fixed in the rule")
	switch {
	case err != nil:
		return nil, err
	case !ok:
	case p.url.Scheme != "https":
		return nil, param.Errorf("ca_file", "only with an https:// url")
	case !filepath.IsAbs(p.caFile):
		// Jobs keep their parameters: a relative path would be read
		// from wherever hookd runs, not beside the rule file.
		return nil, param.Errorf("ca_file", "want an absolute path (%s is not)", p.caFile)
	}
	return &p, nil
}

// caPool returns the system's pool of trusted CA certificates, or an
// empty one where the system has none, with those of the PEM file file
// added.
func caPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("no PEM certificate in %s", file)
	}
	return pool, nil
}

// parseURL parses raw as a url parameter: an absolute http:// or https://
// URL.
func parseURL(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	return u, true
}

// isJSON reports whether the media type ct is JSON.
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// payload returns the body to send for p and the event's JSON.
func (p *params) payload(event json.RawMessage) ([]byte, error) {
	switch b := p.body.(type) {
	case nil:
		return event, nil
	case string:
		if isJSON(p.contentType) && !json.Valid([]byte(b)) {
			return nil, param.Errorf("body", "not valid JSON (write body as a mapping, which is encoded whatever the event holds, or set content_type to send other text)")
		}
		return []byte(b), nil
	default:
		out, err := json.Marshal(b)
		if err != nil {
			return nil, param.Errorf("body", "cannot be written as JSON: %v", err)
		}
		return out, nil
	}
}

// target is the job's target for p (see the package's doc).
func (p *params) target() string {
	return "http " + p.method + " " + shownURL(p.url)
}

// hasPath reports whether u has a path that is more than "/": one that
// hookd keeps secret.
func hasPath(u *url.URL) bool {
	path := u.EscapedPath()
	return path != "" && path != "/"
}

// shownURL returns u as a job's target shows it: its scheme and host, and
// for a path that is more than "/", [redacted] and a fingerprint of the
// URL without its userinfo, query and fragment, which was the whole
// target before paths were kept secret. The fingerprint is what keeps the
// targets of two paths on one host apart.
func shownURL(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	if !hasPath(u) {
		return c.String()
	}
	sum := sha256.Sum256([]byte(c.String()))
	return u.Scheme + "://" + u.Host + "/" + actions.Redacted + " (path " + hex.EncodeToString(sum[:4]) + ")"
}

// secrets lists what must not appear in an error: header values, the
// URL's userinfo, its path (whole, as written and decoded, then each of
// its segments), its query values and its fragment.
func (p *params) secrets() []string {
	var s []string
	for _, v := range p.headers {
		s = append(s, v)
	}
	if p.url.User != nil {
		s = append(s, p.url.User.Username())
		pw, ok := p.url.User.Password()
		if ok {
			s = append(s, pw)
		}
		// As the Authorization header carries them, which an answer that
		// quotes the request's headers holds.
		s = append(s, base64.StdEncoding.EncodeToString([]byte(p.url.User.Username()+":"+pw)))
	}
	if hasPath(p.url) {
		s = append(s, p.url.EscapedPath(), p.url.Path)
		s = append(s, strings.Split(p.url.EscapedPath(), "/")...)
		s = append(s, strings.Split(p.url.Path, "/")...)
	}
	for _, vs := range p.url.Query() {
		s = append(s, vs...)
	}
	return append(s, p.url.EscapedFragment(), p.url.Fragment)
}

// redactedURL returns u with what secrets lists of it replaced by
// actions.Redacted: the userinfo, the path, each query value and the
// fragment. The replacement works on the URL's parts, not on its text as
// blank does: a secret of fewer than four bytes, or one percent-encoded
// in the URL, is replaced too. A query part without "=" is replaced
// whole, as some services take a bare token there.
func redactedURL(u *url.URL) string {
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		b.WriteString(actions.Redacted + "@")
	}
	b.WriteString(u.Host)
	if hasPath(u) {
		b.WriteString("/" + actions.Redacted)
	} else {
		b.WriteString(u.EscapedPath())
	}
	if u.RawQuery != "" || u.ForceQuery {
		parts := strings.Split(u.RawQuery, "&")
		for i, part := range parts {
			if name, _, ok := strings.Cut(part, "="); ok {
				parts[i] = name + "=" + actions.Redacted
			} else if part != "" {
				parts[i] = actions.Redacted
			}
		}
		b.WriteString("?" + strings.Join(parts, "&"))
	}
	if u.Fragment != "" || u.RawFragment != "" {
		b.WriteString("#" + actions.Redacted)
	}
	return b.String()
}

// kind is the registered Kind.
type kind struct{ action *action }

// Validate checks the parameters as a rule writes them; a body written
// as text without a template must already be valid JSON, unless
// content_type says otherwise, and a body written as a mapping or a list
// must be writable as JSON.
func (kind) Validate(ps map[string]any) error {
	p, err := parse(ps)
	if err != nil {
		return err
	}
	if p.caFile != "" {
		if _, err := caPool(p.caFile); err != nil {
			return param.Errorf("ca_file", "%v", err)
		}
	}
	if b, ok := p.body.(string); !ok || !param.IsTemplate(b) {
		_, err = p.payload(nil)
	}
	return err
}

var (
	_ actions.Checker   = kind{}
	_ actions.JSONTexts = kind{}
)

// JSONTexts returns body, whose templates rules escape for JSON, unless
// content_type names a type other than JSON.
func (kind) JSONTexts(ps map[string]any) []string {
	p, err := parse(ps)
	if err != nil || !isJSON(p.contentType) {
		return nil
	}
	return []string{"body"}
}

// Check checks the rendered parameters: the headers and, unless
// content_type says otherwise, a body written as text must be valid JSON
// once rendered. What its templates print from the event is escaped for
// JSON (see JSONTexts), so only the template itself can make it invalid,
// as in '{"n": -{{ .email }}}'. A body written as a mapping is not
// encoded here: rendered, it holds only text, numbers and booleans.
func (kind) Check(ps map[string]any, _ string) error {
	p, err := parse(ps)
	if err != nil {
		return err
	}
	if _, ok := p.body.(string); ok {
		_, err = p.payload(nil)
	}
	return err
}

// Target returns "http METHOD URL" with the URL shown without its
// userinfo, query and fragment, and its path in the form of a fingerprint
// (see the package's doc).
func (kind) Target(ps map[string]any) string {
	p, err := parse(ps)
	if err != nil {
		return "http (invalid parameters)"
	}
	return p.target()
}

// Redact replaces each header value, and the URL's userinfo, path, query
// values and fragment, with actions.Redacted: the secrets errors leave
// out. A url that
// is not an absolute http:// or https:// URL is replaced whole.
func (kind) Redact(ps map[string]any) map[string]any {
	out := maps.Clone(ps)
	if raw, ok := ps["url"]; ok && raw != nil {
		out["url"] = actions.Redacted
		if s, ok := raw.(string); ok {
			if u, ok := parseURL(s); ok {
				out["url"] = redactedURL(u)
			}
		}
	}
	param.Blank(out, "headers")
	return out
}

// Action returns the action that sends the requests.
func (k kind) Action() actions.Action { return k.action }

// action sends requests with one client, so connections are reused, and
// those to a target with a ca_file with one client per file.
type action struct {
	client *http.Client

	mu   sync.Mutex
	byCA map[string]*caClient
}

// caClient is the client of the targets with one ca_file, and the
// modification time and size of the file when it was read.
type caClient struct {
	mod    time.Time
	size   int64
	client *http.Client
}

// clientFor returns the client for requests that trust caFile beside the
// system's CAs (a.client when caFile is ""), made anew when the file
// changed since it was read last (a CA renewed).
func (a *action) clientFor(caFile string) (*http.Client, error) {
	if caFile == "" {
		return a.client, nil
	}
	fi, err := os.Stat(caFile)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.byCA[caFile]
	if c != nil && c.mod.Equal(fi.ModTime()) && c.size == fi.Size() {
		return c.client, nil
	}
	pool, err := caPool(caFile)
	if err != nil {
		return nil, err
	}
	t := a.client.Transport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if c != nil {
		c.client.CloseIdleConnections()
	}
	if a.byCA == nil {
		a.byCA = map[string]*caClient{}
	}
	a.byCA[caFile] = &caClient{mod: fi.ModTime(), size: fi.Size(),
		client: &http.Client{Transport: t, CheckRedirect: a.client.CheckRedirect}}
	return a.byCA[caFile].client, nil
}

func newAction() *action {
	return &action{client: &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// snippetLen bounds how much of an answer's body an error quotes.
const snippetLen = 256

// drainLen bounds how much of an answer's body is read and thrown away so
// that the connection can be reused.
const drainLen = 64 << 10

// Do sends the request. Its errors name the method and the URL as the
// target shows them, and hold no header value.
func (a *action) Do(ctx context.Context, call actions.Call) error {
	p, err := parse(call.Params)
	if err != nil {
		return actions.Refused(fmt.Errorf("http: %w", err))
	}
	target := strings.TrimPrefix(p.target(), "http ")
	body, err := p.payload(call.Event)
	if err != nil {
		return actions.Refused(fmt.Errorf("%s: %w", target, err))
	}
	client, err := a.clientFor(p.caFile)
	if err != nil {
		// The file was checked when the rule loaded: it may be back by
		// the next attempt.
		return fmt.Errorf("%s: ca_file: %w", target, err)
	}
	reqCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, p.method, p.url.String(), bytes.NewReader(body))
	if err != nil {
		return actions.Refused(fmt.Errorf("%s: make request: %w", target, redact(err, p.secrets())))
	}
	req.Header.Set("Content-Type", p.contentType)
	req.Header.Set("User-Agent", "hookd")
	for k, v := range p.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Idempotency-Key", idempotencyKey(call.Key))

	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", target, ctx.Err())
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s: no answer within %s", target, p.timeout)
		}
		// url.Error holds the whole URL, query included: keep only the
		// cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if unknown := (x509.UnknownAuthorityError{}); p.caFile != "" && errors.As(err, &unknown) {
			return fmt.Errorf("%s: %w (the server's certificate is not trusted: it chains neither to a certificate of ca_file %s nor to the system's store)",
				target, redact(err, p.secrets()), p.caFile)
		}
		return fmt.Errorf("%s: %w", target, netfail.Explain(redact(err, p.secrets())))
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, snippetLen+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLen))

	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return nil
	}
	answer := fmt.Sprintf("%s: answered %s", target, resp.Status)
	if s := snippet(head, p.secrets()); s != "" {
		answer += fmt.Sprintf(": %q", s)
	}
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusConflict, code == http.StatusTooManyRequests, code >= 500:
		// 409 is how a server that honours Idempotency-Key answers the
		// retry of a request it is still processing (an attempt that
		// timed out here); the next retry gets its outcome.
		return actions.RetryAfter(errors.New(answer), resp.Header.Get("Retry-After"), time.Now())
	case code >= 300 && code <= 399:
		to := ""
		if loc, err := resp.Location(); err == nil {
			to = " to " + redactedURL(loc)
		}
		return actions.Permanent(fmt.Errorf("%s (a redirect%s, which hookd does not follow: set url to the final address)", answer, to))
	default:
		// 401, 403, 404, 405, 407 and 410 say the target is wrong, and
		// suspend it; another 4xx refuses this job's request alone.
		return actions.PermanentStatus(code, errors.New(answer))
	}
}

// snippet returns the start of an answer's body, b (snippetLen bytes of
// it, of snippetLen+1 read), as one line of valid text with every secret
// blanked, and the start of one that the cut at snippetLen left at its
// end.
func snippet(b []byte, secrets []string) string {
	cut := len(b) > snippetLen
	if cut {
		b = b[:snippetLen]
	}
	s := blank(string(b), secrets)
	if cut {
		s = blankCut(s, secrets)
	}
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// blankCut replaces with actions.Redacted the end of s, cut from a longer
// text, when it is the start of a secret, 4 bytes of it or more.
func blankCut(s string, secrets []string) string {
	for _, sec := range secrets {
		for n := len(sec) - 1; n >= 4; n-- {
			if rest, ok := strings.CutSuffix(s, sec[:n]); ok {
				return rest + actions.Redacted
			}
		}
	}
	return s
}

// blank replaces every secret in s with actions.Redacted. Secrets
// shorter than four bytes are left: blanking them would garble the text
// for nothing.
func blank(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, actions.Redacted)
		}
	}
	return s
}

// redacted is an error whose text has the secrets blanked; errors.Is and
// errors.As still see the cause.
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// redact returns err with secrets blanked from its text.
func redact(err error, secrets []string) error {
	return &redacted{msg: blank(err.Error(), secrets), err: err}
}
