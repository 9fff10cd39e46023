package tlsfile_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/tlsfile"
	"github.com/hookd/hookd/internal/tlsfile/tlsfiletest"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := tlsfiletest.Write(t, mkdir(t, dir, "good"), tlsfiletest.Options{})
	other := tlsfiletest.Write(t, mkdir(t, dir, "other"), tlsfiletest.Options{})
	expired := tlsfiletest.Write(t, mkdir(t, dir, "expired"), tlsfiletest.Options{
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(good.Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cert, key, want string
		keyAtFault            bool
	}{
		{"ok", good.Cert, good.Key, "", false},
		{"no cert file", filepath.Join(dir, "none.pem"), good.Key, "none.pem: no such file", false},
		{"no key file", good.Cert, filepath.Join(dir, "none.pem"), "none.pem: no such file", true},
		{"mismatched", good.Cert, other.Key, "private key does not match public key", true},
		{"key not PEM", good.Cert, garbage, "failed to find any PEM data in key input", true},
		{"cert not PEM", garbage, good.Key, "no PEM data", false},
		{"key as cert", good.Key, good.Key, "want a CERTIFICATE PEM block first, found PRIVATE KEY", false},
		{"cert as key", good.Cert, good.Cert, "found a certificate rather than a key", true},
		{"expired", expired.Cert, expired.Key, "certificate expired on", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, err := tlsfile.Load(tc.cert, tc.key, time.Now())
			if tc.want == "" {
				if err != nil || cert.Leaf.SerialNumber.Cmp(good.Leaf.SerialNumber) != 0 {
					t.Fatalf("Load = %v, %v; want the good pair", cert, err)
				}
				return
			}
			var le *tlsfile.Error
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) || le.Key != tc.keyAtFault {
				t.Fatalf("Load: %v; want an *Error with %q, Key %v", err, tc.want, tc.keyAtFault)
			}
			// The error never quotes the key.
			for _, line := range strings.Split(string(keyPEM), "\n") {
				if len(line) > 20 && strings.Contains(err.Error(), line) {
					t.Fatalf("error %q quotes the key", err)
				}
			}
		})
	}
}

// clock is a settable time for a Reloader.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// serve starts an HTTPS server of r and returns a function that makes a
// new TLS handshake with it and returns the serial number of the leaf it
// presented.
func serve(t *testing.T, r *tlsfile.Reloader) func() *big.Int {
	t.Helper()
	addr := start(t, r)
	return func() *big.Int {
		t.Helper()
		// The test checks which certificate is presented, not whom
		// it chains to: each rotation makes a new self-signed one.
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // see above
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
}

// touch sets the modification time of the pair's files to at.
func touch(t *testing.T, p tlsfiletest.Pair, at time.Time) {
	t.Helper()
	for _, f := range []string{p.Cert, p.Key} {
		if err := os.Chtimes(f, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReloaderRotates(t *testing.T) {
	dir := t.TempDir()
	first := tlsfiletest.Write(t, dir, tlsfiletest.Options{Serial: 1})
	touch(t, first, time.Now().Add(-time.Hour))
	var logs bytes.Buffer
	clk := &clock{now: time.Now()}
	r, err := tlsfile.New(tlsfile.Config{Cert: first.Cert, Key: first.Key, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	serial := serve(t, r)
	if got := serial(); got.Int64() != 1 {
		t.Fatalf("serial %v, want 1", got)
	}

	// A renewal replaces the files: served once the interval has passed,
	// not before.
	second := tlsfiletest.Write(t, dir, tlsfiletest.Options{Serial: 2})
	touch(t, second, time.Now())
	if got := serial(); got.Int64() != 1 {
		t.Fatalf("serial %v within the interval, want 1 still", got)
	}
	clk.advance(tlsfile.DefaultInterval)
	if got := serial(); got.Int64() != 2 {
		t.Fatalf("serial %v after the renewal, want 2\n%s", got, logs.String())
	}

	// A broken replacement leaves the certificate served, and is logged
	// once, not at every handshake.
	if err := os.WriteFile(second.Key, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	touch(t, second, time.Now().Add(time.Minute))
	for range 3 {
		clk.advance(tlsfile.DefaultInterval)
		if got := serial(); got.Int64() != 2 {
			t.Fatalf("serial %v with a broken key, want 2 still", got)
		}
	}
	if n := strings.Count(logs.String(), "not reloaded"); n != 1 {
		t.Fatalf("%d errors logged for one broken change, want 1\n%s", n, logs.String())
	}

	// Mended, it is served.
	third := tlsfiletest.Write(t, dir, tlsfiletest.Options{Serial: 3})
	touch(t, third, time.Now().Add(2*time.Minute))
	clk.advance(tlsfile.DefaultInterval)
	if got := serial(); got.Int64() != 3 {
		t.Fatalf("serial %v after the mend, want 3\n%s", got, logs.String())
	}
}

func TestReloaderReload(t *testing.T) {
	dir := t.TempDir()
	first := tlsfiletest.Write(t, dir, tlsfiletest.Options{Serial: 1})
	r, err := tlsfile.New(tlsfile.Config{Cert: first.Cert, Key: first.Key})
	if err != nil {
		t.Fatal(err)
	}
	serial := serve(t, r)
	// Same modification time and size: only a forced reload sees it.
	second := tlsfiletest.Write(t, dir, tlsfiletest.Options{Serial: 2})
	touch(t, second, time.Now())
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got.Int64() != 2 {
		t.Fatalf("serial %v after Reload, want 2", got)
	}
	if err := os.Remove(second.Key); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("Reload of a missing key: no error")
	}
	if got := serial(); got.Int64() != 2 {
		t.Fatalf("serial %v after a failed Reload, want 2 still", got)
	}
}

// TestReloadNotYetValid: a renewal whose validity starts later is served,
// as this machine's clock may be the one behind, and warned of.
func TestReloadNotYetValid(t *testing.T) {
	dir := t.TempDir()
	first := tlsfiletest.Write(t, dir, tlsfiletest.Options{Serial: 1})
	var logs bytes.Buffer
	r, err := tlsfile.New(tlsfile.Config{Cert: first.Cert, Key: first.Key, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	serial := serve(t, r)
	later := tlsfiletest.Write(t, dir, tlsfiletest.Options{Serial: 2, NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got.Int64() != 2 {
		t.Fatalf("serial %v after Reload, want 2", got)
	}
	want := "level=WARN msg=\"TLS certificate reloaded is not valid yet: clients refuse it until then, unless this machine's clock is behind\" cert=" + later.Cert + " not_before=" + later.Leaf.NotBefore.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
}

func TestNewRefusesBadPair(t *testing.T) {
	dir := t.TempDir()
	expired := tlsfiletest.Write(t, dir, tlsfiletest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	if _, err := tlsfile.New(tlsfile.Config{Cert: expired.Cert, Key: expired.Key}); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("New of an expired pair: %v", err)
	}
}

func TestServerConfigMinVersion(t *testing.T) {
	p := tlsfiletest.Write(t, t.TempDir(), tlsfiletest.Options{})
	r, err := tlsfile.New(tlsfile.Config{Cert: p.Cert, Key: p.Key})
	if err != nil {
		t.Fatal(err)
	}
	addr := start(t, r)
	_, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: p.Pool(), MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.Pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatalf("a verified TLS handshake failed: %v", err)
	}
	conn.Close()
}

// start serves HTTPS with r's certificate on a loopback port until the
// test ends, and returns its address.
func start(t *testing.T, r *tlsfile.Reloader) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), TLSConfig: r.ServerConfig(), ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func mkdir(t *testing.T, dir, name string) string {
	t.Helper()
	d := filepath.Join(dir, name)
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}
