package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/tlsfile/tlsfiletest"
)

// TestServeTLS serves both listeners over HTTPS with certificates made in
// the test: hookd send --ca posts a Mailjet event, answered 200 and stored;
// the admin API answers, and its login cookie is Secure; plain HTTP to a
// TLS port is refused 400; SIGHUP serves a renewed certificate (its
// serial number) without a restart, and a broken one leaves it in place.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"hooks", "admin"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	hooksPair := tlsfiletest.Write(t, filepath.Join(dir, "hooks"), tlsfiletest.Options{Serial: 1})
	adminPair := tlsfiletest.Write(t, filepath.Join(dir, "admin"), tlsfiletest.Options{Serial: 100})
	const token = "admin-token-0123456789"
	config := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(config, []byte(`tls: { cert: hooks/cert.pem, key: hooks/key.pem }
admin:
  token: `+token+`
  tls: { cert: admin/cert.pem, key: admin/key.pem }
sources:
  - name: mailjet
    provider: mailjet
`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHookd(t, t.TempDir(), "--config", config)
	if !strings.HasPrefix(p.hooks, "https://") || !strings.HasPrefix(p.admin, "https://") {
		t.Fatalf("start logged hooks %s, admin %s; want https:// for both", p.hooks, p.admin)
	}

	// hookd send trusts the self-signed certificate with --ca only.
	events := filepath.Join(dir, "events.json")
	if err := os.WriteFile(events, []byte(openEvent(1)), 0o600); err != nil {
		t.Fatal(err)
	}
	send := func(args ...string) (string, error) {
		out, err := exec.Command(hookdBinary(t), append([]string{"send", "--file", events}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := send(p.hooks + "/hooks/mailjet"); err == nil || !strings.Contains(out, "certificate") {
		t.Fatalf("hookd send without --ca: %v\n%s", err, out)
	}
	if out, err := send("--ca", hooksPair.Cert, p.hooks+"/hooks/mailjet"); err != nil || !strings.Contains(out, "200: 1") {
		t.Fatalf("hookd send --ca: %v\n%s", err, out)
	}

	roots := x509.NewCertPool()
	roots.AddCert(hooksPair.Leaf)
	roots.AddCert(adminPair.Leaf)
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	defer client.CloseIdleConnections()

	// The event is stored: the admin API says so over HTTPS.
	ids, err := idsOf(openEvent(1))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, p.admin+"/api/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/events: %d %s", resp.StatusCode, body)
		}
		if strings.Contains(string(body), ids[0]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s not stored: %s", ids[0], body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The dashboard's session cookie is Secure over TLS.
	resp, err := client.PostForm(p.admin+"/ui/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cookies := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(cookies) != 1 || !cookies[0].Secure {
		t.Fatalf("login over TLS: %d, cookies %v; want 303 and one Secure cookie", resp.StatusCode, cookies)
	}

	// Plain HTTP to a TLS port gets net/http's 400.
	plain := strings.Replace(p.hooks, "https://", "http://", 1) + "/hooks/mailjet"
	if resp, err := http.Post(plain, "application/json", strings.NewReader(openEvent(2))); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain HTTP to the TLS port: %v %v; want 400", resp, err)
	} else {
		resp.Body.Close()
	}

	// serial makes a new handshake with addr and returns the serial
	// number of the certificate it presents.
	serial := func(base string) int64 {
		t.Helper()
		u, _ := url.Parse(base)
		conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: roots})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	hup := func(want string) {
		t.Helper()
		from := len(p.output())
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.output()[from:], want); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q after SIGHUP\n%s", want, p.output()[from:])
			}
		}
	}
	if got := serial(p.hooks); got != 1 {
		t.Fatalf("hooks serial %d, want 1", got)
	}
	renewed := tlsfiletest.Write(t, filepath.Join(dir, "hooks"), tlsfiletest.Options{Serial: 2})
	roots.AddCert(renewed.Leaf)
	hup(`"msg":"TLS certificate reloaded","listener":"tls"`)
	if got := serial(p.hooks); got != 2 {
		t.Fatalf("hooks serial %d after SIGHUP, want 2", got)
	}
	if got := serial(p.admin); got != 100 {
		t.Fatalf("admin serial %d, want 100 still", got)
	}
	// A broken key is logged, without its content, and the renewed
	// certificate served on.
	const broken = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
	if err := os.WriteFile(renewed.Key, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	hup(`"msg":"TLS certificate not reloaded: serving the previous one"`)
	if got := serial(p.hooks); got != 2 {
		t.Fatalf("hooks serial %d after a broken renewal, want 2 still", got)
	}
	if strings.Contains(p.output(), "bm90IGEga2V5") {
		t.Fatalf("the log quotes the key:\n%s", p.output())
	}
	p.stop(t)
}

// TestCheckTLS: hookd check names a pair that does not load at its field,
// and warns of a certificate that expires within 14 days.
func TestCheckTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	soon := tlsfiletest.Write(t, dir, tlsfiletest.Options{NotAfter: time.Now().Add(3*24*time.Hour + time.Hour)})
	config := filepath.Join(dir, "hookd.yaml")
	write := func(yaml string) {
		t.Helper()
		if err := os.WriteFile(config, []byte(yaml+"sources:\n  - { name: mailjet, provider: mailjet }\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tls: { cert: cert.pem, key: key.pem }\n")
	stdout, stderr, err := runHookd(t, "check", "--config", config)
	want := fmt.Sprintf("warning: tls.cert: certificate %s expires on %s, in 3 days: renew it", soon.Cert, soon.Leaf.NotAfter.UTC().Format(time.DateTime+" MST"))
	if err != nil || !strings.Contains(stdout, ": ok (") || !strings.Contains(stderr, want) {
		t.Fatalf("check: %v\n%s%s\nwant the warning %q", err, stdout, stderr, want)
	}

	write("admin:\n  tls: { cert: cert.pem, key: cert.pem }\n")
	_, _, err = runHookd(t, "check", "--config", config)
	if want := config + ":2:31: admin.tls.key: " + soon.Cert + " with certificate " + soon.Cert + ": tls: found a certificate rather than a key"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("check of a certificate as key: %v\nwant %s", err, want)
	}
}

// TestTLSNotYetValid: a certificate whose validity starts in the future
// is warned of, with when it starts, by check and by serve's start, which
// serves it all the same (this machine's clock may be the one behind).
func TestTLSNotYetValid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	later := tlsfiletest.Write(t, dir, tlsfiletest.Options{NotBefore: time.Now().Add(2*24*time.Hour + time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)})
	config := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(config, []byte("tls: { cert: cert.pem, key: key.pem }\nsources:\n  - { name: mailjet, provider: mailjet }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("tls.cert: certificate %s is not valid before %s, in 2 days: clients refuse it until then, unless this machine's clock is behind (check it)",
		later.Cert, later.Leaf.NotBefore.UTC().Format(time.DateTime+" MST"))
	stdout, stderr, err := runHookd(t, "check", "--config", config)
	if err != nil || !strings.Contains(stdout, ": ok (") || !strings.Contains(stderr, "warning: "+want) {
		t.Fatalf("check: %v\n%s%s\nwant the warning %q", err, stdout, stderr, want)
	}
	p := startHookd(t, t.TempDir(), "--config", config)
	if !strings.Contains(p.output(), `"level":"WARN","msg":`+strconv.Quote(want)) {
		t.Errorf("serve's start does not warn %q:\n%s", want, p.output())
	}
	p.stop(t)
}
