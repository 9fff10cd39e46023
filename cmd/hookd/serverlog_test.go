package main

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/internal/tlsfile"
	"github.com/hookd/hookd/internal/tlsfile/tlsfiletest"
)

// TestServerLog checks that net/http's own lines go through hookd's
// logger, as JSON under --log-format json: a failed TLS handshake, which
// any client can cause, at debug (so not at the default level), anything
// else as a warning.
func TestServerLog(t *testing.T) {
	pair := tlsfiletest.Write(t, t.TempDir(), tlsfiletest.Options{})
	r, err := tlsfile.New(tlsfile.Config{Cert: pair.Cert, Key: pair.Key})
	if err != nil {
		t.Fatal(err)
	}
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			var out testenv.Buffer
			logger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: level}))
			srv := newServer("127.0.0.1:0", http.NotFoundHandler(), config.Limits{ReadHeaderTimeout: time.Second}, logger.With("listener", "hooks"))
			srv.TLSConfig = r.ServerConfig()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.ServeTLS(ln, "", "")
			t.Cleanup(func() { srv.Close() })

			// A connection that leaves before its handshake, as a port
			// scanner's does.
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			conn.Write([]byte{0x16, 0x03, 0x01}) // a record header cut short
			conn.Close()
			srv.ErrorLog.Print("http: superfluous response.WriteHeader call")

			var lines []map[string]any
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				lines = lines[:0]
				for l := range strings.Lines(out.String()) {
					var rec map[string]any
					if err := json.Unmarshal([]byte(l), &rec); err != nil {
						t.Fatalf("not a JSON line: %q", l)
					}
					lines = append(lines, rec)
				}
				if level == slog.LevelInfo || len(lines) == 2 {
					break
				}
			}
			want := map[string]string{"http: superfluous response.WriteHeader call": "WARN"}
			if level == slog.LevelDebug {
				want["http: TLS handshake error"] = "DEBUG"
			}
			if len(lines) != len(want) {
				t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(want), out.String())
			}
			for _, rec := range lines {
				msg, _ := rec["msg"].(string)
				found := false
				for prefix, lvl := range want {
					if strings.HasPrefix(msg, prefix) {
						found = true
						if rec["level"] != lvl || rec["listener"] != "hooks" {
							t.Errorf("%q logged at %v for listener %v, want %s for hooks", msg, rec["level"], rec["listener"], lvl)
						}
					}
				}
				if !found || strings.HasSuffix(msg, "\n") {
					t.Errorf("unexpected line %q", msg)
				}
			}
		})
	}
}
