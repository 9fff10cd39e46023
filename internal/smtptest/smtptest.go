// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp)
// on loopback for tests, and records the messages it accepts, decoded:
// sender, recipients, subject, and the plain and HTML parts. The server
// can speak plain SMTP, offer STARTTLS, or speak TLS from the first byte,
// with a certificate for 127.0.0.1 and localhost generated when it starts.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	// From is the envelope sender (MAIL FROM), To the envelope recipients.
	From string
	To   []string
	// Header is the message's header; Subject its decoded Subject.
	Header  mail.Header
	Subject string
	// Text and HTML are the decoded plain-text and HTML parts ("" when
	// absent), without the line break that ends their last line.
	Text, HTML string
	// Raw is the message as received.
	Raw []byte
	// User is who authenticated with AUTH PLAIN; "" without.
	User string
	// TLS reports whether the message came over TLS.
	TLS bool
}

// Auth is one AUTH attempt the server saw.
type Auth struct {
	// User is the user name the client sent.
	User string
	// TLS reports whether the connection was TLS when the client sent
	// its credentials.
	TLS bool
	// OK reports whether the credentials were accepted.
	OK bool
}

// TLSMode is what TLS a server speaks.
type TLSMode int

// TLS modes.
const (
	// NoTLS is plain SMTP, without STARTTLS.
	NoTLS TLSMode = iota
	// StartTLS offers STARTTLS, and AUTH only once the connection is TLS.
	StartTLS
	// ImplicitTLS speaks TLS from the first byte (SMTPS, "tls: tls").
	ImplicitTLS
)

// Server is a running SMTP server.
type Server struct {
	// Addr is "127.0.0.1:PORT".
	Addr string
	// Host and Port are Addr's parts.
	Host string
	Port int

	// CAFile, with TLS, is a PEM file holding the server's self-signed
	// certificate: what a client names as smtp.ca_file to trust it. ""
	// without TLS.
	CAFile string

	mu    sync.Mutex
	msgs  []Message
	auths []Auth
	// Reject, when set, answers RCPT TO for rcpt with its error (an
	// *smtp.SMTPError such as 550), nil accepting it.
	Reject func(rcpt string) error
	// HangUp, when set, makes the server close the connection right after
	// it accepted a message (its 250 to the end of the data), as a relay
	// that drops the connection, or a network that fails, may do then: the
	// client's next command (RSET, QUIT) finds it closed.
	HangUp bool
	// Stall, when set, is called with each message's data read, before
	// the server answers it, as a relay that takes its time (a content
	// scan) does; when it returns an error (an *smtp.SMTPError such as
	// 451), the server answers that, and the message is not accepted.
	Stall func() error
	got   chan struct{}
}

// Options configure Start.
type Options struct {
	// Username and Password, when set, are required with AUTH PLAIN
	// before MAIL FROM.
	Username, Password string
	// TLS is what TLS the server speaks, default NoTLS.
	TLS TLSMode
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{got: make(chan struct{}, 1)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, opts: opts, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = opts.TLS == NoTLS
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.TLS != NoTLS {
		cert, certPEM, err := selfSigned()
		if err != nil {
			t.Fatal(err)
		}
		s.CAFile = filepath.Join(t.TempDir(), "smtptest-ca.pem")
		if err := os.WriteFile(s.CAFile, certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if opts.TLS == ImplicitTLS {
			ln = tls.NewListener(ln, cfg)
		} else {
			srv.TLSConfig = cfg
		}
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.Addr = ln.Addr().String()
	s.Host = "127.0.0.1"
	s.Port = ln.Addr().(*net.TCPAddr).Port
	return s
}

// Messages returns the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Auths returns the AUTH attempts seen so far, in order.
func (s *Server) Auths() []Auth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Auth(nil), s.auths...)
}

// Wait waits until at least n messages were accepted or d passed, and
// returns the messages accepted.
func (s *Server) Wait(n int, d time.Duration) []Message {
	deadline := time.After(d)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.got:
		case <-deadline:
			return s.Messages()
		}
	}
}

type session struct {
	s    *Server
	opts Options
	conn *smtp.Conn
	user string
	from string
	to   []string
	// accepted tells that Data accepted a message with HangUp set.
	accepted bool
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		_, isTLS := ss.conn.TLSConnectionState()
		ok := user == ss.opts.Username && pass == ss.opts.Password
		ss.s.mu.Lock()
		ss.s.auths = append(ss.s.auths, Auth{User: user, TLS: isTLS, OK: ok})
		ss.s.mu.Unlock()
		if !ok {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.opts.Username != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if r := ss.s.Reject; r != nil {
		if err := r(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := decode(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "cannot parse message: " + err.Error()}
	}
	if ss.s.Stall != nil {
		if err := ss.s.Stall(); err != nil {
			return err
		}
	}
	m.From, m.To, m.User = ss.from, ss.to, ss.user
	_, m.TLS = ss.conn.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, m)
	ss.accepted = ss.s.HangUp
	ss.s.mu.Unlock()
	select {
	case ss.s.got <- struct{}{}:
	default:
	}
	return nil
}

// Reset is called once the answer to the data is written, among other
// times: with HangUp, the connection is closed then.
func (ss *session) Reset() {
	ss.from, ss.to = "", nil
	if ss.accepted {
		ss.accepted = false
		// The net.Conn, not the smtp.Conn, whose lock the server holds.
		ss.conn.Conn().Close()
	}
}

func (ss *session) Logout() error { return nil }

// selfSigned makes a self-signed certificate for 127.0.0.1, ::1 and
// localhost, valid for a day, and returns it with its PEM encoding.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "hookd smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("create certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}

// decode parses a message and its text and HTML parts.
func decode(raw []byte) (Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	m := Message{Raw: raw, Header: msg.Header}
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Message{}, fmt.Errorf("subject: %w", err)
	}
	err = m.part(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return m, err
}

// part reads one MIME part (recursively for multiparts).
func (m *Message) part(contentType, encoding string, body io.Reader) error {
	mt, ps, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, ps["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := m.part(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	// The line break that ends a message's last line is not part of a
	// single-part body.
	text := strings.TrimSuffix(string(b), "\r\n")
	switch mt {
	case "text/plain":
		m.Text = text
	case "text/html":
		m.HTML = text
	}
	return nil
}
