// Package tlsfile serves a TLS certificate and key kept in files, reading
// them again when they change, so that a renewal (certbot, an ACME client)
// that replaces the files takes effect without a restart.
//
// It is an internal package rather than part of listener because the
// configuration's check (hookd check) loads pairs too, and config must not
// import listener.
package tlsfile

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultInterval is how often, at most, a handshake looks at the files'
// modification times and sizes.
const DefaultInterval = 10 * time.Second

// RenewWithin is how close to its expiry a certificate is warned of.
const RenewWithin = 14 * 24 * time.Hour

// Load reads the certificate (PEM, leaf first, then its chain) and the
// private key (PEM) of a pair and checks that they match and that the
// certificate has not expired at now. Its errors are *Error values, which
// say which file is at fault; they never hold key material.
func Load(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &Error{Err: err}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, &Error{Key: true, Err: err}
	}
	// The certificate alone first, so that a problem of the pair is the
	// key's.
	if err := parseLeaf(certPEM); err != nil {
		return nil, &Error{Err: fmt.Errorf("%s: %w", certFile, err)}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// Its errors say what failed ("failed to find any PEM data in
		// key input", "private key does not match public key"), never
		// the bytes.
		return nil, &Error{Key: true, Err: fmt.Errorf("%s with certificate %s: %w", keyFile, certFile, err)}
	}
	if cert.Leaf == nil { // GODEBUG x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, &Error{Err: fmt.Errorf("%s: %w", certFile, err)}
		}
	}
	if now.After(cert.Leaf.NotAfter) {
		return nil, &Error{Err: fmt.Errorf("%s: certificate expired on %s", certFile, cert.Leaf.NotAfter.UTC().Format(time.DateTime+" MST"))}
	}
	return &cert, nil
}

// parseLeaf checks that the first PEM block of b is a certificate that
// parses.
func parseLeaf(b []byte) error {
	block, _ := pem.Decode(b)
	switch {
	case block == nil:
		return errors.New("no PEM data")
	case block.Type != "CERTIFICATE":
		return fmt.Errorf("want a CERTIFICATE PEM block first, found %s", block.Type)
	}
	_, err := x509.ParseCertificate(block.Bytes)
	return err
}

// Error is a pair that does not load.
type Error struct {
	// Key is true when the key file is at fault (unreadable, not a key,
	// or not the certificate's), false when the certificate file is.
	Key bool
	Err error
}

func (e *Error) Error() string { return e.Err.Error() }

// At returns "key" when err, from Load or New, is the key file's fault,
// else "cert": the part of a configuration's tls setting to name.
func At(err error) string {
	if e, ok := errors.AsType[*Error](err); ok && e.Key {
		return "key"
	}
	return "cert"
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// Config configures a Reloader.
type Config struct {
	// Cert and Key are the files of the certificate (with its chain) and
	// of the private key, PEM. Both required.
	Cert, Key string
	// Interval is how often, at most, a handshake looks whether the files
	// changed. Default DefaultInterval.
	Interval time.Duration
	// Logger receives the error of a changed pair that does not load;
	// nil discards it.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Reloader holds the certificate of a pair of files and serves it to TLS
// handshakes through GetCertificate. It is safe for concurrent use.
type Reloader struct {
	cfg  Config
	cert atomic.Pointer[tls.Certificate]
	// next is when a handshake looks at the files again (UnixNano);
	// whoever moves it on does the looking.
	next atomic.Int64
	mu   sync.Mutex // guards seen, and serializes reloads
	// seen is the state of the files last looked at, loaded or not: a
	// pair that failed is tried again, and logged again, only when it
	// changes again.
	seen stamp
}

// stamp is what tells that a file changed: its modification time and
// size, for each file of the pair.
type stamp [2]struct {
	mod  int64 // UnixNano
	size int64
}

// New loads the pair of cfg and returns a Reloader serving it. A pair
// that does not load is an error.
func New(cfg Config) (*Reloader, error) {
	if cfg.Cert == "" || cfg.Key == "" {
		return nil, errors.New("tlsfile: both a certificate and a key file are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Reloader{cfg: cfg}
	st, _ := r.stat()
	cert, err := Load(cfg.Cert, cfg.Key, cfg.Now())
	if err != nil {
		return nil, err
	}
	r.cert.Store(cert)
	r.seen = st
	r.next.Store(cfg.Now().Add(cfg.Interval).UnixNano())
	return r, nil
}

// Certificate returns the certificate served now.
func (r *Reloader) Certificate() *tls.Certificate { return r.cert.Load() }

// GetCertificate serves tls.Config.GetCertificate. At most once an
// Interval, it looks at the files' modification times and sizes and, when
// either changed, loads the pair again: a pair that loads is served from
// this handshake on; one that does not leaves the previous certificate in
// place and is logged once, until the files change again.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := r.cfg.Now()
	next := r.next.Load()
	if now.UnixNano() >= next && r.next.CompareAndSwap(next, now.Add(r.cfg.Interval).UnixNano()) {
		r.mu.Lock()
		if st, _ := r.stat(); st != r.seen {
			r.seen = st
			_ = r.load("certificate files changed")
		}
		r.mu.Unlock()
	}
	return r.cert.Load(), nil
}

// Reload loads the pair again whether or not the files changed, as on
// SIGHUP. A pair that does not load leaves the previous certificate in
// place; the error is logged and returned.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen, _ = r.stat()
	return r.load("reload")
}

// load loads the pair and serves it, or logs why not; r.mu is held.
func (r *Reloader) load(why string) error {
	cert, err := Load(r.cfg.Cert, r.cfg.Key, r.cfg.Now())
	if err != nil {
		r.cfg.Logger.Error("TLS certificate not reloaded: serving the previous one", "cert", r.cfg.Cert, "key", r.cfg.Key, "cause", why, "err", err)
		return err
	}
	r.cert.Store(cert)
	r.cfg.Logger.Info("TLS certificate reloaded", "cert", r.cfg.Cert, "cause", why,
		"serial", cert.Leaf.SerialNumber.String(), "not_after", cert.Leaf.NotAfter.UTC())
	// Served all the same, as at the start: it is this machine's clock
	// that may be behind the clients'.
	if now := r.cfg.Now(); now.Before(cert.Leaf.NotBefore) {
		r.cfg.Logger.Warn("TLS certificate reloaded is not valid yet: clients refuse it until then, unless this machine's clock is behind", "cert", r.cfg.Cert,
			"not_before", cert.Leaf.NotBefore.UTC())
	}
	return nil
}

// stat returns the stamp of the pair's files; a file that cannot be
// looked at leaves its part zero, with the error.
func (r *Reloader) stat() (stamp, error) {
	var st stamp
	var errs []error
	for i, f := range []string{r.cfg.Cert, r.cfg.Key} {
		fi, err := os.Stat(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st[i].mod, st[i].size = fi.ModTime().UnixNano(), fi.Size()
	}
	return st, errors.Join(errs...)
}

// ServerConfig returns the TLS configuration of a listener serving r's
// certificate: TLS 1.2 at least, Go's defaults otherwise.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}
