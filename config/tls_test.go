package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/internal/tlsfile/tlsfiletest"
)

// TestTLS loads configurations whose tls and admin.tls name pairs made in
// the test: relative paths resolve against the file's directory, and each
// problem is located at the field of the file at fault.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"good", "other", "expired"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	good := tlsfiletest.Write(t, filepath.Join(dir, "good"), tlsfiletest.Options{})
	tlsfiletest.Write(t, filepath.Join(dir, "other"), tlsfiletest.Options{})
	tlsfiletest.Write(t, filepath.Join(dir, "expired"), tlsfiletest.Options{
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	keyPEM, err := os.ReadFile(good.Key)
	if err != nil {
		t.Fatal(err)
	}
	const sources = "sources:\n  - { name: mailjet, provider: mailjet }\n"
	for _, tc := range []struct {
		name, yaml string
		// want are the errors, each "line:col: field: " and a part of
		// the message; none for a file that loads.
		want []string
	}{
		{"both listeners", "tls: { cert: good/cert.pem, key: good/key.pem }\nadmin:\n  tls: { cert: good/cert.pem, key: good/key.pem }\n", nil},
		{"cert only", "tls:\n  cert: good/cert.pem\n", []string{"1:1: tls.key: required with cert"}},
		{"key only", "admin:\n  tls:\n    key: good/key.pem\n", []string{"2:3: admin.tls.cert: required with key"}},
		{"empty", "tls: {}\n", []string{"1:1: tls: names no files"}},
		{"missing cert file", "tls:\n  cert: none/cert.pem\n  key: good/key.pem\n", []string{"2:9: tls.cert: open " + filepath.Join(dir, "none", "cert.pem") + ": no such file"}},
		{"missing key file", "tls:\n  cert: good/cert.pem\n  key: none/key.pem\n", []string{"3:8: tls.key: open " + filepath.Join(dir, "none", "key.pem") + ": no such file"}},
		{"mismatched", "admin:\n  tls:\n    cert: good/cert.pem\n    key: other/key.pem\n", []string{"4:10: admin.tls.key: " + filepath.Join(dir, "other", "key.pem") + " with certificate " + good.Cert + ": tls: private key does not match public key"}},
		{"expired", "tls:\n  cert: expired/cert.pem\n  key: expired/key.pem\n", []string{"2:9: tls.cert: " + filepath.Join(dir, "expired", "cert.pem") + ": certificate expired on"}},
		{"two problems", "tls: { cert: good/cert.pem }\nadmin:\n  tls: { cert: expired/cert.pem, key: expired/key.pem }\n", []string{"1:1: tls.key: required with cert", "3:16: admin.tls.cert: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(file, []byte(tc.yaml+sources), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(file, known)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				want := config.TLS{Cert: good.Cert, Key: good.Key}
				if cfg.TLS != want || cfg.Admin.TLS != want {
					t.Fatalf("tls %+v, admin.tls %+v; want both %+v", cfg.TLS, cfg.Admin.TLS, want)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("error:\n%v\nwant %d lines", err, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], file+":"+w) {
					t.Errorf("error line %q, want it to start with %q", lines[i], file+":"+w)
				}
			}
			for _, line := range strings.Split(string(keyPEM), "\n") {
				if len(line) > 20 && strings.Contains(err.Error(), line) {
					t.Fatalf("error %q quotes the key", err)
				}
			}
		})
	}
}
