package ses_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/providertest"
	"github.com/hookd/hookd/listener/ses"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const topic = "arn:aws:sns:us-east-1:123456789012:ses-events"

func TestDecodeGolden(t *testing.T) {
	providertest.Golden(t, *update, func(_ http.Header, body []byte) ([]event.Event, error) {
		return ses.Decode(body)
	})
}

// snsEndpoint is a stand-in for SNS's HTTPS endpoints on loopback: a real
// TLS server with a certificate for sns.us-east-1.amazonaws.com (and the
// other endpoints in endpointHosts) from a test CA, and a client that
// trusts that CA and dials the server whatever host it is asked for. The
// adapter's URL check is the production one. The signing certificate at
// certURL has the shape of SNS's own: issued by a CA for sns.amazonaws.com,
// not for the endpoint it is fetched from.
type snsEndpoint struct {
	client    *http.Client
	certURL   string
	key       *rsa.PrivateKey
	ca        *x509.Certificate
	caKey     *ecdsa.PrivateKey
	mux       *http.ServeMux
	fetches   atomic.Int32
	confirmed atomic.Int32
}

const snsHost = "sns.us-east-1.amazonaws.com"

// endpointHosts are the SNS endpoints the stand-in answers for: one of
// each partition, and regions whose certificates are named differently.
var endpointHosts = []string{snsHost, "sns.us-west-2.amazonaws.com", "sns.af-south-1.amazonaws.com",
	"sns.us-gov-west-1.amazonaws.com", "sns.us-gov-east-1.amazonaws.com", "sns.cn-north-1.amazonaws.com.cn"}

// signingTemplate returns a certificate template shaped as SNS's signing
// certificates are: the DNS name as subject and only subject alternative
// name, a server certificate for digital signatures, valid for a year
// around now.
func signingTemplate(name string) *x509.Certificate {
	return &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-30 * 24 * time.Hour), NotAfter: time.Now().Add(335 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true}
}

// serveCert issues tmpl for e.key from e's CA and serves it at
// https://host/SimpleNotificationService-<hex of n>.pem, which it returns.
func (e *snsEndpoint) serveCert(t testing.TB, host string, n int, tmpl *x509.Certificate) string {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, e.ca, &e.key.PublicKey, e.caKey)
	if err != nil {
		t.Fatal(err)
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	path := fmt.Sprintf("/SimpleNotificationService-%032x.pem", n)
	e.mux.HandleFunc(host+path, func(w http.ResponseWriter, r *http.Request) {
		e.fetches.Add(1)
		w.Write(pemCert)
	})
	return "https://" + host + path
}

func newSNS(t *testing.T) *snsEndpoint {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hookd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject: pkix.Name{CommonName: snsHost}, DNSNames: endpointHosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	e := &snsEndpoint{ca: ca, caKey: caKey, mux: http.NewServeMux()}
	e.key, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("Action") == "ConfirmSubscription" {
			e.confirmed.Add(1)
			io.WriteString(w, "<ConfirmSubscriptionResponse/>")
			return
		}
		http.NotFound(w, r)
	})
	srv := httptest.NewUnstartedServer(e.mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	addr := srv.Listener.Addr().String()
	e.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	e.certURL = e.serveCert(t, snsHost, 0x0123456789abcdef, signingTemplate("sns.amazonaws.com"))
	return e
}

// sign sets m's timestamp, certificate URL and signature (version v) with
// key.
func (e *snsEndpoint) sign(t testing.TB, m *ses.Message, at time.Time, v string, key *rsa.PrivateKey) {
	t.Helper()
	m.Timestamp = at.UTC().Format("2006-01-02T15:04:05.000Z")
	m.SigningCertURL = e.certURL
	m.SignatureVersion = v
	var sig []byte
	var err error
	if v == "1" {
		sum := sha1.Sum([]byte(m.StringToSign()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, sum[:])
	} else {
		sum := sha256.Sum256([]byte(m.StringToSign()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	m.Signature = base64.StdEncoding.EncodeToString(sig)
}

func parse(t testing.TB, body []byte) ses.Message {
	t.Helper()
	var m ses.Message
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func marshal(m ses.Message) []byte {
	b, _ := json.Marshal(m)
	return b
}

func TestConformance(t *testing.T) {
	e := newSNS(t)
	wrong, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("testdata/delivery-notification.json")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := os.ReadFile("testdata/malformed-one-bad-recipient.json")
	if err != nil {
		t.Fatal(err)
	}
	strip := func(field string) func(http.Header, []byte) (http.Header, []byte) {
		return func(h http.Header, b []byte) (http.Header, []byte) {
			var m map[string]any
			json.Unmarshal(b, &m)
			delete(m, field)
			out, _ := json.Marshal(m)
			return h, out
		}
	}
	providertest.Run(t, providertest.Case{
		Source:   config.Source{Provider: ses.Provider, Verify: config.Verify{TopicARNs: []string{topic}}},
		Valid:    body,
		Events:   2,
		BadBatch: bad,
		Sign: func(t testing.TB, body []byte, at time.Time, wrongKey bool) (http.Header, []byte) {
			k := e.key
			if wrongKey {
				k = wrong
			}
			m := parse(t, body)
			e.sign(t, &m, at, "2", k)
			return http.Header{"X-Amz-Sns-Message-Type": {m.Type}, "Content-Type": {"text/plain; charset=UTF-8"}}, marshal(m)
		},
		Timestamped: true,
		StaleBy:     ses.DefaultTolerance + time.Hour,
		Tamper: func(body []byte) []byte {
			var m ses.Message
			json.Unmarshal(body, &m)
			m.Message = strings.Replace(m.Message, "mary@example.com", "eve@example.com", 1)
			return marshal(m)
		},
		Strip: map[string]func(http.Header, []byte) (http.Header, []byte){
			"Signature":      strip("Signature"),
			"SigningCertURL": strip("SigningCertURL"),
		},
		Configure: func(c *listener.Config) { c.Client = e.client },
	})
}

func adapter(t *testing.T, e *snsEndpoint, confirm bool, logger *slog.Logger) listener.Adapter {
	t.Helper()
	a, err := ses.SES{}.New(config.Source{Name: "ses", Verify: config.Verify{TopicARNs: []string{topic}, ConfirmSubscription: confirm}},
		listener.Env{Client: e.client, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestVerify(t *testing.T) {
	e := newSNS(t)
	a := adapter(t, e, false, nil)
	body, _ := os.ReadFile("testdata/bounce-notification.json")
	now := time.Now()
	for _, tt := range []struct {
		name    string
		edit    func(m *ses.Message)
		version string
		status  int // 0: accepted
	}{
		{"version 1", nil, "1", 0},
		{"version 2", nil, "2", 0},
		{"unknown topic", func(m *ses.Message) { m.TopicArn = "arn:aws:sns:us-east-1:123456789012:other" }, "2", 401},
		{"certificate elsewhere", func(m *ses.Message) { m.SigningCertURL = "https://sns.us-east-1.amazonaws.com.evil.example/x.pem" }, "2", 401},
		{"certificate over http", func(m *ses.Message) { m.SigningCertURL = "http://sns.us-east-1.amazonaws.com/x.pem" }, "2", 401},
		{"certificate at another path", func(m *ses.Message) {
			m.SigningCertURL = "https://sns.us-east-1.amazonaws.com/uploads/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
		}, "2", 401},
		{"certificate with a query", func(m *ses.Message) { m.SigningCertURL = e.certURL + "?x=1" }, "2", 401},
		{"version 3", func(m *ses.Message) { m.SignatureVersion = "3" }, "2", 401},
		{"subject added", func(m *ses.Message) { m.Subject = "hello" }, "2", 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := parse(t, body)
			e.sign(t, &m, now, tt.version, e.key)
			if tt.edit != nil {
				before := e.fetches.Load()
				defer func() {
					if m.SigningCertURL != e.certURL && e.fetches.Load() != before {
						t.Error("fetched a certificate from a URL that is not SNS's")
					}
				}()
				tt.edit(&m)
			}
			r := httptest.NewRequest("POST", "/", nil)
			err := a.Verify(context.Background(), r, marshal(m))
			switch {
			case tt.status == 0 && err != nil:
				t.Fatalf("Verify: %v", err)
			case tt.status != 0 && err == nil:
				t.Fatal("Verify accepted it")
			case err != nil:
				var sc listener.StatusCoder
				if !asStatus(err, &sc) || sc.StatusCode() != tt.status {
					t.Fatalf("Verify = %v, want status %d", err, tt.status)
				}
			}
		})
	}
	if n := e.fetches.Load(); n != 1 {
		t.Errorf("certificate fetched %d times, want once (cached)", n)
	}
}

// TestTimestampTolerance checks the age of a Timestamp that Verify accepts.
// SNS retries an HTTP/S delivery for at most 3,600 seconds and signs each
// retry with the original Timestamp, so a retry late in that hour, delivered
// with some latency to a server whose clock is off by a little, must pass;
// the default tolerance is 2 hours, inclusive, both ways.
func TestTimestampTolerance(t *testing.T) {
	e := newSNS(t)
	body := readFile(t, "testdata/bounce-notification.json")
	// Whole seconds: the signed Timestamp has milliseconds.
	now := time.Now().Truncate(time.Second)
	for _, tt := range []struct {
		name string
		tol  time.Duration // verify.tolerance; 0 for the default
		age  time.Duration // now - Timestamp
		ok   bool
	}{
		{"just published", 0, 0, true},
		{"SNS's last retry, an hour after publishing", 0, time.Hour, true},
		{"the last retry, 90 s in transit to a clock 2 min ahead", 0, time.Hour + 90*time.Second + 2*time.Minute, true},
		{"published 90 minutes ago, in the margin for latency and skew", 0, 90 * time.Minute, true},
		{"at the default tolerance", 0, ses.DefaultTolerance, true},
		{"a second past the default tolerance", 0, ses.DefaultTolerance + time.Second, false},
		{"ahead by the default tolerance", 0, -ses.DefaultTolerance, true},
		{"ahead by a second more", 0, -ses.DefaultTolerance - time.Second, false},
		{"a configured tolerance still bounds it", 30 * time.Minute, 31 * time.Minute, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ses.SES{}.New(config.Source{Name: "ses", Verify: config.Verify{TopicARNs: []string{topic}, Tolerance: tt.tol}},
				listener.Env{Client: e.client, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			m := parse(t, body)
			e.sign(t, &m, now.Add(-tt.age), "2", e.key)
			err = a.Verify(context.Background(), httptest.NewRequest("POST", "/", nil), marshal(m))
			switch {
			case tt.ok && err != nil:
				t.Fatalf("Verify of a Timestamp %s old: %v", tt.age, err)
			case !tt.ok && err == nil:
				t.Fatalf("Verify accepted a Timestamp %s old", tt.age)
			case !tt.ok:
				var sc listener.StatusCoder
				if !asStatus(err, &sc) || sc.StatusCode() != http.StatusUnauthorized || !strings.Contains(err.Error(), "Timestamp") {
					t.Fatalf("Verify = %v, want 401 for the Timestamp", err)
				}
			}
		})
	}
}

// TestLateRetry posts a notification first published 90 minutes ago, as SNS
// retries it, to a real listener twice: it is stored once, and the second
// delivery, within the tolerance, is a duplicate by its MessageId.
func TestLateRetry(t *testing.T) {
	e := newSNS(t)
	url, log := providertest.Serve(t, listener.Config{Client: e.client, Sources: []config.Source{{Name: "ses", Provider: ses.Provider,
		Verify: config.Verify{TopicARNs: []string{topic}}}}})
	m := parse(t, readFile(t, "testdata/bounce-notification.json"))
	e.sign(t, &m, time.Now().Add(-90*time.Minute), "2", e.key)
	for _, want := range []string{`{"accepted":1,"duplicates":0}`, `{"accepted":0,"duplicates":1}`} {
		resp, err := http.Post(url+"/hooks/ses", "text/plain", bytes.NewReader(marshal(m)))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.TrimSpace(string(answer)) != want {
			t.Fatalf("%d %s, want 200 %s", resp.StatusCode, answer, want)
		}
	}
	if got := providertest.Messages(t, log, eventlog.TopicEvents, 1); len(got) != 1 {
		t.Fatalf("stored %d events, want 1", len(got))
	}
}

func asStatus(err error, sc *listener.StatusCoder) bool {
	s, ok := err.(listener.StatusCoder)
	*sc = s
	return ok
}

func TestAllowedURL(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", true},
		{"https://sns.eu-west-1.amazonaws.com/x.pem", true},
		{"https://sns.cn-north-1.amazonaws.com.cn/x.pem", true},
		{"https://sns.us-east-1.amazonaws.com:443/x.pem", true},
		{"http://sns.us-east-1.amazonaws.com/x.pem", false},
		{"https://sns.us-east-1.amazonaws.com.evil.example/x.pem", false},
		{"https://evil.example/sns.us-east-1.amazonaws.com/x.pem", false},
		{"https://user@sns.us-east-1.amazonaws.com/x.pem", false},
		{"https://sns.us-east-1.amazonaws.com:8443/x.pem", false},
		{"https://sns.amazonaws.com/x.pem", false},
		{"https://xsns.us-east-1.amazonaws.com/x.pem", false},
		{"https://sns.us-gov-west-1.amazonaws.com/x.pem", true},
		{"https://sns.us-gov-east-1.amazonaws.com/x.pem", true},
		{"https://sns.cn-northwest-1.amazonaws.com.cn/x.pem", true},
		{"https://sns.us-east-1.amazonaws.com.cn/x.pem", false},
		{"https://sns.cn-north-1.amazonaws.com/x.pem", false},
		{"https://sns.eusc-de-east-1.amazonaws.eu/x.pem", false},
		{"https://sns.s3.amazonaws.com/x.pem", false},
		{"https://sns.s3-external-1.amazonaws.com/x.pem", false},
		{"https://sns.example-1.amazonaws.com/x.pem", false},
		{"https://127.0.0.1/x.pem", false},
		{"", false},
	} {
		if got := ses.AllowedURL(tt.url); got != tt.ok {
			t.Errorf("AllowedURL(%q) = %v, want %v", tt.url, got, tt.ok)
		}
	}
}

// TestSigningCertificate serves signing certificates of several shapes at
// SNS's endpoints: one issued for a name SNS signs with in the endpoint's
// region and partition (sns.amazonaws.com for most regions, whatever
// endpoint it is fetched from) verifies; one issued for another name, or
// another region's or partition's, or outside its validity period when it
// is used, is refused 401, as forged, not 503.
func TestSigningCertificate(t *testing.T) {
	e := newSNS(t)
	body := readFile(t, "testdata/bounce-notification.json")
	now := time.Now()
	named := func(cn string, dns ...string) *x509.Certificate {
		c := signingTemplate(cn)
		c.DNSNames = dns
		return c
	}
	valid := func(from, to time.Duration) *x509.Certificate {
		c := signingTemplate("sns.amazonaws.com")
		c.NotBefore, c.NotAfter = now.Add(from), now.Add(to)
		return c
	}
	for i, tt := range []struct {
		name string
		host string
		cert *x509.Certificate
		ok   bool
	}{
		{"us-east-1's, for sns.amazonaws.com", snsHost, signingTemplate("sns.amazonaws.com"), true},
		{"us-west-2's, for sns.amazonaws.com", "sns.us-west-2.amazonaws.com", signingTemplate("sns.amazonaws.com"), true},
		{"for the endpoint itself", snsHost, signingTemplate(snsHost), true},
		{"af-south-1's, for its sns-signing name", "sns.af-south-1.amazonaws.com", signingTemplate("sns-signing.af-south-1.amazonaws.com"), true},
		{"China's", "sns.cn-north-1.amazonaws.com.cn", signingTemplate("sns-cn-north-1.amazonaws.com.cn"), true},
		{"GovCloud West's", "sns.us-gov-west-1.amazonaws.com", signingTemplate("sns-us-gov-west-1.amazonaws.com"), true},
		{"GovCloud East's, which is West's", "sns.us-gov-east-1.amazonaws.com", signingTemplate("sns-us-gov-west-1.amazonaws.com"), true},
		{"no alternative names, the subject's", snsHost, named("sns.amazonaws.com"), true},
		{"names in upper case", snsHost, signingTemplate("SNS.AMAZONAWS.COM"), true},
		{"for another name", snsHost, signingTemplate("www.example.com"), false},
		{"for another AWS service", snsHost, signingTemplate("s3.amazonaws.com"), false},
		{"af-south-1's at us-east-1", snsHost, signingTemplate("sns-signing.af-south-1.amazonaws.com"), false},
		{"China's at us-east-1", snsHost, signingTemplate("sns-cn-north-1.amazonaws.com.cn"), false},
		{"the commercial name in China", "sns.cn-north-1.amazonaws.com.cn", signingTemplate("sns.amazonaws.com"), false},
		{"GovCloud's at us-east-1", snsHost, signingTemplate("sns-us-gov-west-1.amazonaws.com"), false},
		{"subject SNS's, alternative names not", snsHost, named("sns.amazonaws.com", "www.example.com"), false},
		{"a wildcard", snsHost, signingTemplate("*.amazonaws.com"), false},
		{"expired", snsHost, valid(-48*time.Hour, -time.Hour), false},
		{"not yet valid", snsHost, valid(time.Hour, 48*time.Hour), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := adapter(t, e, false, nil)
			m := parse(t, body)
			e.sign(t, &m, now, "2", e.key)
			m.SigningCertURL = e.serveCert(t, tt.host, 0x5000+i, tt.cert)
			err := a.Verify(context.Background(), httptest.NewRequest("POST", "/", nil), marshal(m))
			switch {
			case tt.ok && err != nil:
				t.Fatalf("Verify: %v", err)
			case !tt.ok && err == nil:
				t.Fatal("Verify accepted it")
			case !tt.ok:
				var sc listener.StatusCoder
				if !asStatus(err, &sc) || sc.StatusCode() != http.StatusUnauthorized || !strings.Contains(err.Error(), "SigningCertURL") {
					t.Fatalf("Verify = %v, want 401 for the certificate", err)
				}
			}
		})
	}
}

// TestSigningCertificateExpires verifies a notification under a signing
// certificate, then another under the same, cached, certificate once it
// has expired: the second is refused 401, without fetching it again.
func TestSigningCertificateExpires(t *testing.T) {
	e := newSNS(t)
	now := time.Now()
	clock := now
	a, err := ses.SES{}.New(config.Source{Name: "ses", Verify: config.Verify{TopicARNs: []string{topic}}},
		listener.Env{Client: e.client, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	cert := signingTemplate("sns.amazonaws.com")
	cert.NotAfter = now.Add(time.Hour)
	url := e.serveCert(t, snsHost, 0x6000, cert)
	body := readFile(t, "testdata/bounce-notification.json")
	for _, tt := range []struct {
		at time.Time
		ok bool
	}{{now, true}, {now.Add(time.Hour + time.Second), false}} {
		clock = tt.at
		m := parse(t, body)
		e.sign(t, &m, tt.at, "2", e.key)
		m.SigningCertURL = url
		err := a.Verify(context.Background(), httptest.NewRequest("POST", "/", nil), marshal(m))
		var sc listener.StatusCoder
		switch {
		case tt.ok && err != nil:
			t.Fatalf("Verify at %s: %v", tt.at, err)
		case !tt.ok && (err == nil || !asStatus(err, &sc) || sc.StatusCode() != http.StatusUnauthorized):
			t.Fatalf("Verify after the certificate expired = %v, want 401", err)
		}
	}
	if n := e.fetches.Load(); n != 1 {
		t.Errorf("certificate fetched %d times, want once (cached)", n)
	}
}

// postSigned signs the SNS message body as e's topic and posts it to a real
// listener with one SES source (confirm_subscription as confirm) over a
// fresh SQLite log, which it returns with the answer; the listener logs to
// logs. Everything stops when the test ends.
func (e *snsEndpoint) postSigned(t *testing.T, logs io.Writer, confirm bool, body []byte) (eventlog.Log, int, []byte) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log, err := eventlog.Open(ctx, eventlog.Config{Backend: "sqlite", Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	l, err := listener.New(listener.Config{Client: e.client, Sources: []config.Source{{Name: "ses", Provider: ses.Provider,
		Verify: config.Verify{TopicARNs: []string{topic}, ConfirmSubscription: confirm}}}}, log, slog.New(slog.NewTextHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	go l.Run(ctx)
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(srv.Close)
	m := parse(t, body)
	e.sign(t, &m, time.Now(), "2", e.key)
	resp, err := http.Post(srv.URL+"/hooks/ses", "text/plain", bytes.NewReader(marshal(m)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return log, resp.StatusCode, answer
}

// TestSubscriptionConfirmation posts a signed SubscriptionConfirmation to a
// real listener: by default it is answered 200, logged with its URL and not
// confirmed; with confirm_subscription the listener confirms it at SNS.
func TestSubscriptionConfirmation(t *testing.T) {
	body, _ := os.ReadFile("testdata/subscription-confirmation.json")
	for _, confirm := range []bool{false, true} {
		t.Run(map[bool]string{false: "logged", true: "confirmed"}[confirm], func(t *testing.T) {
			e := newSNS(t)
			var logs bytes.Buffer
			log, status, _ := e.postSigned(t, &logs, confirm, body)
			if status != 200 {
				t.Fatalf("status %d, want 200", status)
			}
			if got := e.confirmed.Load(); got != map[bool]int32{false: 0, true: 1}[confirm] {
				t.Fatalf("confirmed %d times", got)
			}
			if !confirm && !strings.Contains(logs.String(), "Action=ConfirmSubscription") {
				t.Fatalf("log does not give the SubscribeURL:\n%s", logs.String())
			}
			if got := providertest.Messages(t, log, eventlog.TopicEvents, 0); len(got) != 0 {
				t.Fatalf("a confirmation stored %d events", len(got))
			}
		})
	}
}

// TestRecipients checks whom each SES record's events are about: one event
// per recipient SES names (bounced, complained, delivered, delayed), one
// event per message otherwise, addressed only when the message has a
// single destination, since SES does not say which recipient opened or
// clicked; and a Subscription is an unsubscribe only when it opts out.
func TestRecipients(t *testing.T) {
	for _, tt := range []struct {
		file     string
		emails   []string
		category event.Category
	}{
		{"bounce-notification", []string{"jane@example.com"}, event.Bounce},
		{"complaint-notification", []string{"richard@example.com"}, event.Complaint},
		{"delivery-notification", []string{"jane@example.com", "mary@example.com"}, event.Delivered},
		{"delivery-delay-event", []string{"recipient@example.com"}, event.Deferred},
		{"open-event", []string{"recipient@example.com"}, event.Open},
		{"open-three-destinations", []string{""}, event.Open},
		{"click-three-destinations", []string{""}, event.Click},
		{"send-three-destinations", []string{""}, event.Sent},
		{"reject-event", []string{"recipient@example.com"}, event.Blocked},
		{"rendering-failure-event", []string{"recipient@example.com"}, event.Blocked},
		{"subscription-unsubscribe-all", []string{"recipient@example.com"}, event.Unsubscribe},
		{"subscription-topic-opt-out", []string{"recipient@example.com"}, event.Unsubscribe},
		{"subscription-opt-in", []string{"recipient@example.com"}, ""},
	} {
		t.Run(tt.file, func(t *testing.T) {
			body := readFile(t, "testdata/"+tt.file+".json")
			events, err := ses.Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			var emails []string
			ids := map[string]bool{}
			for _, e := range events {
				emails = append(emails, e.Email)
				ids[e.ID] = true
				if e.Category != tt.category {
					t.Errorf("%s: category %q, want %q", e.ID, e.Category, tt.category)
				}
			}
			if !slices.Equal(emails, tt.emails) {
				t.Fatalf("emails %q, want %q", emails, tt.emails)
			}
			if len(ids) != len(events) {
				t.Fatalf("ids %v are not distinct", ids)
			}
			// SNS's retry carries the same message: the same ids.
			again, _ := ses.Decode(body)
			for i := range again {
				if again[i].ID != events[i].ID {
					t.Fatalf("a retry gives id %s, first %s", again[i].ID, events[i].ID)
				}
			}
		})
	}
}

// TestSuppressionOutcomes checks the category and bounce class of SES's
// bounce and complaint records: a bounce or complaint whose subtype says SES
// suppressed the address (Suppressed, OnAccountSuppressionList) is blocked
// with no bounce class, since SES sent nothing, and keeps SES's Type; other
// bounces are hard or soft by their bounceType. A complaint whose
// complaintFeedbackType is not-spam (the mailbox provider reporting that
// the message is not spam, RFC 5965) has no category; other complaints
// are complaints.
func TestSuppressionOutcomes(t *testing.T) {
	for _, tt := range []struct {
		file     string
		typ      string
		category event.Category
		class    event.BounceClass
	}{
		{"bounce-notification", "Bounce", event.Bounce, event.Hard},
		{"soft-bounce-event", "Bounce", event.Bounce, event.Soft},
		{"bounce-suppressed", "Bounce", event.Blocked, ""},
		{"bounce-on-account-suppression-list", "Bounce", event.Blocked, ""},
		{"complaint-notification", "Complaint", event.Complaint, ""},
		{"complaint-on-account-suppression-list", "Complaint", event.Blocked, ""},
		{"complaint-not-spam", "Complaint", "", ""},
	} {
		t.Run(tt.file, func(t *testing.T) {
			events, err := ses.Decode(readFile(t, "testdata/"+tt.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if len(events) == 0 {
				t.Fatal("no events")
			}
			for _, e := range events {
				if e.Type != tt.typ || e.Category != tt.category || e.BounceClass != tt.class {
					t.Errorf("%s: type %q, category %q, bounce class %q; want %q, %q, %q",
						e.ID, e.Type, e.Category, e.BounceClass, tt.typ, tt.category, tt.class)
				}
			}
		})
	}
}

// TestSetupNotifications posts the Notifications SES sends when a topic is
// set up to a real listener: they are answered 200 with no events, logged
// at info, and not quarantined; any other text in a Notification is still
// malformed.
func TestSetupNotifications(t *testing.T) {
	notFromSES := parse(t, readFile(t, "testdata/setup-topic-validated.json"))
	notFromSES.Message = "Someone else's text."
	for _, tt := range []struct {
		name    string
		body    []byte
		status  int
		wantLog string // in the info line; "" for a refused body
	}{
		{"subscription succeeded", readFile(t, "testdata/setup-subscription-succeeded.json"), 200, "to receive 'Bounce' notifications from Amazon SES"},
		{"topic validated for event publishing", readFile(t, "testdata/setup-topic-validated.json"), 200, "Successfully validated SNS topic for Amazon SES event publishing."},
		{"other plain text", marshal(notFromSES), 400, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newSNS(t)
			var logs bytes.Buffer
			log, status, answer := e.postSigned(t, &logs, false, tt.body)
			if status != tt.status {
				t.Fatalf("status %d %s, want %d", status, answer, tt.status)
			}
			quarantined := 0
			if tt.status == 200 {
				if strings.TrimSpace(string(answer)) != `{"accepted":0,"duplicates":0}` {
					t.Errorf("answer %s", answer)
				}
				var found bool
				for line := range strings.Lines(logs.String()) {
					found = found || strings.Contains(line, "level=INFO") && strings.Contains(line, tt.wantLog)
				}
				if !found {
					t.Errorf("no info line with %q:\n%s", tt.wantLog, logs.String())
				}
			} else {
				quarantined = 1
			}
			if got := providertest.Messages(t, log, eventlog.TopicEvents, 0); len(got) != 0 {
				t.Errorf("stored %d events", len(got))
			}
			if got := providertest.Messages(t, log, eventlog.TopicQuarantine, quarantined); len(got) != quarantined {
				t.Errorf("quarantined %d bodies, want %d", len(got), quarantined)
			}
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzDecode(f *testing.F) {
	for _, s := range providertest.Seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := ses.Decode(body)
		if err == nil {
			for _, e := range events {
				if e.ID == "" || !e.Category.Valid() {
					t.Fatalf("bad event %+v", e)
				}
			}
		}
	})
}

// FuzzVerify feeds envelopes to Verify with a client that cannot reach
// anything: no input may panic, and none may be accepted.
func FuzzVerify(f *testing.F) {
	for _, s := range providertest.Seeds(f) {
		f.Add(s)
	}
	a, err := ses.SES{}.New(config.Source{Verify: config.Verify{TopicARNs: []string{topic}}},
		listener.Env{Client: &http.Client{Transport: failing{}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if a.Verify(context.Background(), httptest.NewRequest("POST", "/", nil), body) == nil {
			t.Fatalf("accepted %q", body)
		}
	})
}

type failing struct{}

func (failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, io.ErrUnexpectedEOF }

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestCertificateUnavailable signs a notification with a certificate that
// cannot be fetched (SNS's endpoint does not answer): the delivery is
// answered 503 with Retry-After, so that SNS retries it, and nothing is
// stored.
func TestCertificateUnavailable(t *testing.T) {
	e := newSNS(t)
	down := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("connection refused")
	})}
	url, log := providertest.Serve(t, listener.Config{Client: down, Sources: []config.Source{{Name: "ses", Provider: ses.Provider,
		Verify: config.Verify{TopicARNs: []string{topic}}}}})
	m := parse(t, readFile(t, "testdata/bounce-notification.json"))
	e.sign(t, &m, time.Now(), "2", e.key)
	resp, err := http.Post(url+"/hooks/ses", "text/plain", bytes.NewReader(marshal(m)))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(answer), "cannot fetch the SNS signing certificate") {
		t.Fatalf("%d %s, want 503 naming the certificate", resp.StatusCode, answer)
	}
	if got := resp.Header.Get("Retry-After"); got != "5" {
		t.Errorf("Retry-After %q, want 5", got)
	}
	if got := providertest.Messages(t, log, eventlog.TopicEvents, 0); len(got) != 0 {
		t.Errorf("stored %d events, want none", len(got))
	}
}

// TestCertificateNotThere posts notifications whose SigningCertURL is on
// SNS's host but names no file there, as anyone who knows the topic's ARN
// can: they are refused 401, as forged, not 503 (an outage, logged as an
// error each time), and nothing is stored. A 429 from the endpoint stays a
// 503, which SNS retries.
func TestCertificateNotThere(t *testing.T) {
	e := newSNS(t)
	tests := []struct {
		name     string
		path     string
		wantCode int
	}{
		{"no such file", "/SimpleNotificationService-00ff.pem", http.StatusUnauthorized},
		{"forbidden", "/SimpleNotificationService-0403.pem", http.StatusUnauthorized},
		{"too many requests", "/SimpleNotificationService-0429.pem", http.StatusServiceUnavailable},
	}
	endpoint := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		code := http.StatusNotFound
		switch r.URL.Path {
		case "/SimpleNotificationService-0403.pem":
			code = http.StatusForbidden
		case "/SimpleNotificationService-0429.pem":
			code = http.StatusTooManyRequests
		}
		return &http.Response{StatusCode: code, Status: http.StatusText(code), Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}}, nil
	})}
	url, log := providertest.Serve(t, listener.Config{Client: endpoint, Sources: []config.Source{{Name: "ses", Provider: ses.Provider,
		Verify: config.Verify{TopicARNs: []string{topic}}}}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := parse(t, readFile(t, "testdata/bounce-notification.json"))
			e.sign(t, &m, time.Now(), "2", e.key)
			m.SigningCertURL = "https://" + snsHost + tt.path
			resp, err := http.Post(url+"/hooks/ses", "text/plain", bytes.NewReader(marshal(m)))
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("%d %s, want %d", resp.StatusCode, answer, tt.wantCode)
			}
		})
	}
	if got := providertest.Messages(t, log, eventlog.TopicEvents, 0); len(got) != 0 {
		t.Errorf("stored %d events, want none", len(got))
	}
}

// TestRawMessageDelivery posts an SES record as SNS delivers it when the
// subscription has raw message delivery on: the record alone, without the
// signed envelope, and the header x-amz-sns-rawdelivery: true. It is
// refused 401, since nothing in it is signed, with an answer that says to
// turn raw message delivery off, where it said only that "Signature" was
// missing; the SNS console shows that answer among failed deliveries.
func TestRawMessageDelivery(t *testing.T) {
	e := newSNS(t)
	url, log := providertest.Serve(t, listener.Config{Client: e.client, Sources: []config.Source{{Name: "ses", Path: "/hooks/ses",
		Provider: ses.Provider, Verify: config.Verify{TopicARNs: []string{topic}}}}})
	record := parse(t, readFile(t, "testdata/bounce-notification.json")).Message
	for _, tt := range []struct {
		name, raw string
		want      string
	}{
		{"raw delivery", "true", `"error":"raw message delivery is on for this SNS subscription: SNS signs only the JSON envelope it wraps a message in, so turn raw message delivery off"`},
		{"no header", "", `"error":"missing \"Signature\""`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, url+"/hooks/ses", strings.NewReader(record))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
			req.Header.Set("X-Amz-Sns-Message-Type", "Notification")
			if tt.raw != "" {
				req.Header.Set("X-Amz-Sns-Rawdelivery", tt.raw)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			answer, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(answer), tt.want) {
				t.Fatalf("answered %d %s, want 401 with %s", resp.StatusCode, answer, tt.want)
			}
		})
	}
	if got := providertest.Messages(t, log, eventlog.TopicEvents, 0); len(got) != 0 {
		t.Fatalf("stored %d events", len(got))
	}
}

// TestUnsubscribeConfirmation posts a signed UnsubscribeConfirmation, which
// SNS sends when the subscription is deleted, to a real listener: it is
// answered 200 with no events, nothing is quarantined, and the end of the
// subscription is logged with its topic; the SubscribeURL that would
// restore it is not fetched, whatever confirm_subscription says.
func TestUnsubscribeConfirmation(t *testing.T) {
	for _, confirm := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "confirm_subscription"}[confirm], func(t *testing.T) {
			e := newSNS(t)
			var logs bytes.Buffer
			log, status, answer := e.postSigned(t, &logs, confirm, readFile(t, "testdata/unsubscribe-confirmation.json"))
			if status != http.StatusOK {
				t.Fatalf("answered %d %s, want 200", status, answer)
			}
			if got := e.confirmed.Load(); got != 0 {
				t.Fatalf("fetched the SubscribeURL %d times", got)
			}
			if !strings.Contains(logs.String(), "SNS subscription ended") || !strings.Contains(logs.String(), topic) {
				t.Fatalf("log does not say the subscription ended:\n%s", logs.String())
			}
			if got := providertest.Messages(t, log, eventlog.TopicEvents, 0); len(got) != 0 {
				t.Fatalf("stored %d events", len(got))
			}
			if got := providertest.Messages(t, log, eventlog.TopicQuarantine, 0); len(got) != 0 {
				t.Fatalf("quarantined %d bodies", len(got))
			}
		})
	}
}
