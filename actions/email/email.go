// Package email is the "email" action: it sends one message through the
// SMTP server of the configuration's smtp section, with github.com/wneessen/go-mail.
// Import it for its side effect; it registers itself with the actions
// package.
//
// Parameters:
//
//	to       required; one address or a comma-separated list (templates
//	         allowed, e.g. "{{ .email }}").
//	subject  required (templates allowed).
//	text     the plain-text body; html  the HTML body. At least one. Each
//	         is a template file named relative to the rule file (one line
//	         ending in .txt, .html, .htm, .tmpl or .tpl) or an inline
//	         template; html is an html/template, so what it prints from
//	         the event is escaped. With both, the message is
//	         multipart/alternative.
//	from     the sender, default smtp.from.
//	timeout  how long one delivery may take, default 30s.
//
// Recipients on hookd's suppression list are left out; when all of them
// are, nothing is sent and the job is done with the note "skipped:
// recipient ... is suppressed" (see actions.Skip).
//
// The subject and the X-Hookd-Rule and X-Hookd-Event headers (the rule
// and the event's id) are folded into lines of at most 78 characters,
// written as RFC 2047 encoded-words where a word is too long to fold, so
// that no value from the event makes a line that the server refuses.
//
// The message's Message-ID is derived from the job's idempotency key, the
// same on every attempt, so that a message sent twice (a crash after the
// server accepted it) carries one id. A message the server accepted (a
// 2xx answer to the end of its data) is sent: a failure after that, such
// as a connection dropped before the QUIT, is logged, and the job is done
// rather than retried, which would send the message again. A 5xx answer
// to MAIL FROM, RCPT TO or DATA is permanent and dead-letters the job,
// except 530 (authentication required, the server's policy for every
// message, which the configuration fixes): at MAIL FROM or RCPT TO it
// also suspends the target, the recipient; at DATA it refuses this
// message alone (actions.Refused), as parameters that do not render do; a refused connection, a failed
// TLS handshake or authentication, a 530, a 4xx answer and a timeout are
// retried by the job's policy. With starttls and tls, the server's
// certificate must be valid for smtp.host and chain to the system's roots,
// or to smtp.ca_file when set; an untrusted certificate fails before the
// credentials are sent, and is retried (the relay's certificate or the
// CA file may be fixed meanwhile). The job's target is "email ADDRESS" (the
// first recipient), so a recipient whose job is dead-lettered holds back
// only that recipient's mail. Errors never hold the SMTP password.
package email

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/internal/param"
)

// Name is the name the action is registered under.
const Name = "email"

// DefaultTimeout bounds one delivery when the rule gives no timeout.
const DefaultTimeout = 30 * time.Second

func init() { actions.Register(Name, kind{}) }

// Interface guards.
var (
	_ actions.Kind     = kind{}
	_ actions.Requirer = kind{}
	_ actions.Bodies   = kind{}
	_ actions.Action   = action{}
)

// params are an email action's parameters, read and checked.
type params struct {
	to            []string // as written or rendered, not yet parsed
	subject       string
	text, html    string
	from          string
	timeout       time.Duration
	hasText, hasH bool
}

func parse(ps map[string]any) (*params, error) {
	if err := param.Known(ps, "to", "subject", "text", "html", "from", "timeout"); err != nil {
		return nil, err
	}
	var p params
	to, ok, err := param.Text(ps, "to")
	if err != nil {
		return nil, err
	}
	if !ok || strings.TrimSpace(to) == "" {
		return nil, param.Errorf("to", "required")
	}
	p.to = param.SplitAddresses(to)
	if p.subject, ok, err = param.Text(ps, "subject"); err != nil {
		return nil, err
	} else if !ok {
		return nil, param.Errorf("subject", "required")
	}
	if p.text, p.hasText, err = param.Text(ps, "text"); err != nil {
		return nil, err
	}
	if p.html, p.hasH, err = param.Text(ps, "html"); err != nil {
		return nil, err
	}
	if !p.hasText && !p.hasH {
		return nil, param.Errorf("text", "want text, html or both")
	}
	if p.from, _, err = param.Text(ps, "from"); err != nil {
		return nil, err
	}
	if p.timeout, err = param.Duration(ps, "timeout", DefaultTimeout); err != nil {
		return nil, err
	}
	return &p, nil
}

// recipients parses p.to, rendered.
func (p *params) recipients() ([]*mail.Address, error) {
	var out []*mail.Address
	for i, s := range p.to {
		if s == "" {
			continue
		}
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, param.Errorf("to", "recipient %d %q is not an address: %v", i+1, s, err)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, param.Errorf("to", "no recipient")
	}
	return out, nil
}

// kind is the registered Kind.
type kind struct{}

// Validate checks the parameters as a rule writes them: a to or from
// without a template must be an address.
func (kind) Validate(ps map[string]any) error {
	p, err := parse(ps)
	if err != nil {
		return err
	}
	return param.Addresses(p.to, p.from)
}

var _ actions.WrittenChecker = kind{}

// Check checks the rendered addresses as Validate checks those written,
// and refuses an event's email that is more than one address
// (param.OneRecipient).
func (k kind) Check(ps map[string]any, email string) error {
	if err := k.Validate(ps); err != nil {
		return err
	}
	to, _, _ := param.Text(ps, "to")
	return param.OneRecipient(to, email)
}

// CheckWritten checks as Check does, and refuses a rendered to of more
// recipients than the list written has items (param.Recipients): a
// template, of the event's data say, renders one address at most.
func (k kind) CheckWritten(written, ps map[string]any, email string) error {
	if err := param.Recipients(written, ps, email); err != nil {
		return err
	}
	return k.Check(ps, email)
}

// Require wants an smtp section.
func (kind) Require(s actions.Settings) error {
	if s.SMTP == nil {
		return errors.New("the email action needs smtp (host, from) in the configuration")
	}
	return nil
}

// Bodies names text and html.
func (kind) Bodies() map[string]bool { return map[string]bool{"text": false, "html": true} }

// Target is "email ADDRESS", the first recipient, lower-cased.
func (kind) Target(ps map[string]any) string {
	p, err := parse(ps)
	if err != nil {
		return "email (invalid parameters)"
	}
	rcpts, err := p.recipients()
	if err != nil {
		return "email (invalid parameters)"
	}
	return "email " + strings.ToLower(rcpts[0].Address)
}

// Action returns the action that sends the messages.
func (kind) Action() actions.Action { return action{} }

type action struct{}

// Do sends the message.
func (action) Do(ctx context.Context, call actions.Call) error {
	s := call.Settings.SMTP
	if s == nil {
		return actions.Permanent(errors.New("email: no smtp in the configuration"))
	}
	p, err := parse(call.Params)
	if err != nil {
		return actions.Refused(fmt.Errorf("email: %w", err))
	}
	rcpts, err := p.recipients()
	if err != nil {
		return actions.Refused(fmt.Errorf("email: %w", err))
	}
	kept, skipped, err := actions.Unsuppressed(ctx, call.Settings.Suppressions, rcpts)
	if err != nil {
		if _, skip := actions.SkipNote(err); skip {
			return err
		}
		return fmt.Errorf("email: %w", err)
	}
	to := make([]string, len(kept))
	for i, a := range kept {
		to[i] = a.String()
	}
	if len(skipped) > 0 && call.Logger != nil {
		call.Logger.Info("email: suppressed recipients left out", "rule", call.Rule, "skipped", skipped)
	}

	from := p.from
	if from == "" {
		from = s.From
	}
	m := gomail.NewMsg()
	if err := m.From(from); err != nil {
		return actions.Refused(fmt.Errorf("email: from: %w", err))
	}
	if err := m.To(to...); err != nil {
		return actions.Refused(fmt.Errorf("email: to: %w", err))
	}
	m.Subject(foldable(p.subject))
	m.SetMessageIDWithValue(messageID(call.Key, from))
	m.SetDate()
	m.SetGenHeader("X-Hookd-Rule", foldable(call.Rule))
	m.SetGenHeader("X-Hookd-Event", foldable(call.EventID))
	switch {
	case p.hasText && p.hasH:
		m.SetBodyString(gomail.TypeTextPlain, p.text)
		m.AddAlternativeString(gomail.TypeTextHTML, p.html)
	case p.hasH:
		m.SetBodyString(gomail.TypeTextHTML, p.html)
	default:
		m.SetBodyString(gomail.TypeTextPlain, p.text)
	}

	tlsConfig, err := tlsConfig(s)
	if err != nil {
		// The file was checked when the configuration loaded: it may be
		// back by the next attempt.
		return fmt.Errorf("email: %w", err)
	}
	client, err := newClient(s, tlsConfig, p.timeout)
	if err != nil {
		return actions.Permanent(fmt.Errorf("email: %w", redact(err, s.Password)))
	}
	sendCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	accepted, err := send(sendCtx, client, m)
	if accepted {
		if err != nil && call.Logger != nil {
			call.Logger.Warn("email: the server accepted the message, then the connection failed; the message is not sent again",
				"rule", call.Rule, "key", call.Key, "error", redact(err, s.Password))
		}
		return nil
	}
	err = fmt.Errorf("email via %s:%d: %w", s.Host, s.Port, redact(err, s.Password))
	if cve := (*tls.CertificateVerificationError)(nil); errors.As(err, &cve) {
		hint := "set smtp.ca_file to the PEM file of the CA that signed it"
		if s.CAFile != "" {
			hint = "it does not chain to a certificate of smtp.ca_file " + s.CAFile
		}
		err = fmt.Errorf("%w (the server's certificate is not trusted: %s)", err, hint)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	// By the clock: go-mail's own deadline on the connection, no earlier
	// than sendCtx's, may end the wait before sendCtx's timer has fired,
	// and its errors do not unwrap.
	if deadline, _ := sendCtx.Deadline(); !time.Now().Before(deadline) || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: no answer within the timeout (%s)", err, p.timeout)
	}
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() == codeAuthRequired {
		// The server's policy, not the message: fixed in the
		// configuration as a refused password is, and retried as it is.
		return fmt.Errorf("%w (the server wants authentication: check smtp.username, smtp.password and smtp.tls)", err)
	}
	if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() <= 599 {
		// The recipient is the target: one it refuses is suspended. A
		// message refused at its data is refused for its own sake (its
		// size, its content): the recipient's other mail goes on.
		switch se.Reason {
		case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo:
			return actions.Permanent(err)
		case gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
			return actions.Refused(err)
		}
	}
	return err
}

// codeAuthRequired is the SMTP reply "530 5.7.0 Authentication required"
// (RFC 4954, section 6), which a server that relays only for its users
// gives to MAIL FROM or RCPT TO when the client did not authenticate
// (and, per RFC 3207, "530 Must issue a STARTTLS command first").
const codeAuthRequired = 530

// send delivers m over a connection of client's and closes it, as go-mail's
// DialAndSendWithContext does, and tells whether the server accepted the
// message: its answer to the end of the data was 2xx. The error of what
// fails after that (the RSET go-mail sends after each message, the QUIT)
// is returned with accepted true, since the message is on its way and
// must not be sent again.
//
// go-mail heeds ctx only while it dials the server: send returns as soon
// as ctx ends, in whatever step the server keeps it waiting, and closes
// the connection, so that the server drops a message whose data it had
// not answered (or, when its answer was on its way, accepts it while
// the job is recorded as failed: the Message-ID of its next attempt is
// the same).
func send(ctx context.Context, client *gomail.Client, m *gomail.Msg) (accepted bool, err error) {
	c, err := dial(ctx, client)
	if err != nil {
		return false, fmt.Errorf("dial failed: %w", err)
	}
	// Closing the connection ends the command waiting for its answer;
	// smtp.Client.Close would wait for that command, whose lock it takes.
	stop := context.AfterFunc(ctx, func() { _ = c.Text.Close() })
	defer stop()
	err = client.SendWithSMTPClient(c, m)
	// go-mail marks the message delivered once the server accepted its
	// data, before the RSET.
	accepted = m.IsDelivered()
	if ctx.Err() != nil && !accepted {
		return false, errStopped
	}
	if err != nil {
		err = fmt.Errorf("send failed: %w", err)
	}
	if cerr := client.CloseWithSMTPClient(c); cerr != nil {
		// QUIT failed: the connection may still be open. After a failed
		// send that says nothing more: the connection failed already.
		_ = c.Close()
		if err == nil {
			err = fmt.Errorf("failed to close connection: %w", cerr)
		}
	}
	return accepted, err
}

// dial connects client to its server, greets it, and starts TLS and
// authenticates as configured, or returns errStopped as soon as ctx ends
// (go-mail heeds ctx only while it makes the TCP connection); a
// connection made after that is closed.
func dial(ctx context.Context, client *gomail.Client) (*smtp.Client, error) {
	type dialed struct {
		c   *smtp.Client
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := client.DialToSMTPClientWithContext(ctx)
		ch <- dialed{c, err}
	}()
	select {
	case d := <-ch:
		return d.c, d.err
	case <-ctx.Done():
		go func() {
			if d := <-ch; d.c != nil {
				_ = d.c.Close()
			}
		}()
		return nil, errStopped
	}
}

// errStopped is the error of a delivery whose ctx ended while it waited
// for the server.
var errStopped = errors.New("gave up waiting for the server")

// tlsConfig returns the TLS configuration for s: the server's certificate
// must be valid for s.Host and chain to the system's roots, or to the
// certificates of s.CAFile when set. Verification is never skipped.
func tlsConfig(s *actions.SMTP) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	if s.CAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("smtp.ca_file: %w", err)
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("smtp.ca_file: no PEM certificate in %s", s.CAFile)
	}
	return cfg, nil
}

// newClient returns a go-mail client for s, with tlsConfig for STARTTLS or
// implicit TLS.
func newClient(s *actions.SMTP, tlsConfig *tls.Config, timeout time.Duration) (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithTimeout(timeout), gomail.WithoutNoop(), gomail.WithTLSConfig(tlsConfig)}
	switch s.TLS {
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case "tls":
		opts = append(opts, gomail.WithSSL())
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	// The port last: the TLS options above may set their own.
	opts = append(opts, gomail.WithPort(s.Port))
	if s.Username != "" {
		// Without TLS, the password travels in clear text: the
		// configuration chose that (tls: none, for a local relay).
		mech := gomail.SMTPAuthAutoDiscover
		if s.TLS == "none" {
			mech = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(mech),
			gomail.WithUsername(s.Username), gomail.WithPassword(s.Password))
	}
	return gomail.NewClient(s.Host, opts...)
}

// maxWord is the longest word, in bytes, that a header value may hold as
// it is: go-mail folds a header's lines at its spaces into lines of at
// most its MaxHeaderLength, within RFC 5322's 78 characters, so a longer
// word cannot be folded.
const maxWord = gomail.MaxHeaderLength

// encodedWordBytes is how many bytes of text one RFC 2047 encoded-word
// carries: "=?UTF-8?B?", 60 characters of base64 and "?=" make 72, within
// the 75 an encoded-word may have.
const encodedWordBytes = 45

// foldable returns the header value s as go-mail can fold into lines of
// at most 78 characters: as it is when each of its words (what lies
// between spaces) fits in a line, and otherwise as RFC 2047 encoded-words
// separated by spaces, which a reader decodes back into s. A value from
// event data (a subject holding a long URL, an event's id of a thousand
// bytes) would otherwise make a line longer than the 998 characters RFC
// 5322 allows, which servers refuse with a 5xx, dead-lettering the job.
// go-mail encodes a value that holds other than printable ASCII itself,
// in encoded-words short enough; this handles the long run of printable
// ASCII, which go-mail writes as it is.
func foldable(s string) string {
	long := false
	for w := range strings.SplitSeq(s, " ") {
		if len(w) > maxWord {
			long = true
			break
		}
	}
	if !long {
		return s
	}
	var b strings.Builder
	for s != "" {
		n := 0
		for n < len(s) {
			_, size := utf8.DecodeRuneInString(s[n:])
			if n+size > encodedWordBytes {
				break
			}
			n += size
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(s[:n])) + "?=")
		s = s[n:]
	}
	return b.String()
}

// messageID derives a Message-ID from the job's key: the same on every
// attempt of one job, different between jobs.
func messageID(key, from string) string {
	sum := sha256.Sum256([]byte(key))
	domain := "hookd.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
			domain = a.Address[at+1:]
		}
	}
	return hex.EncodeToString(sum[:16]) + "@" + domain
}

// redacted is an error whose text has the password blanked; errors.Is and
// errors.As still see the cause.
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

func redact(err error, secret string) error {
	if len(secret) < 4 || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), secret, "[redacted]"), err: err}
}
