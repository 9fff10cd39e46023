package http_test

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
)

// rawServer starts a TCP server on loopback that reads each request and
// then does what handle does with the connection, and returns the URL of
// its /hook.
func rawServer(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = req.Body.Read(make([]byte, 64<<10))
				handle(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/hook"
}

// TestDoMisbehavingServer checks that an attempt at a server that fails
// to answer is retried, bounded by the timeout, and that its error says
// what happened in words an operator reads without knowing Go's.
func TestDoMisbehavingServer(t *testing.T) {
	tls := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tls.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(tls.Close)
	// endless answers code with a body that never ends.
	endless := func(code int) func(t *testing.T) string {
		return func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) {
				_, _ = fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/html\r\n\r\n", code, http.StatusText(code))
				page := []byte(strings.Repeat("<p>busy</p>", 1000))
				for {
					if _, err := c.Write(page); err != nil {
						return
					}
				}
			})
		}
	}
	tests := []struct {
		name    string
		url     func(t *testing.T) string
		wantErr []string
	}{
		{"closes the connection without answering", func(t *testing.T) string {
			return rawServer(t, func(net.Conn) {})
		}, []string{"the server closed the connection without answering"}},
		{"resets the connection", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) { _ = c.(*net.TCPConn).SetLinger(0) })
		}, []string{"the server reset the connection without answering"}},
		{"answers something other than HTTP", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) { _, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n")) })
		}, []string{`malformed HTTP response "SSH-2.0-OpenSSH_9.6"`}},
		{"answers its headers byte by byte", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) {
				for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
		}, []string{"no answer within 300ms"}},
		{"self-signed certificate", func(*testing.T) string { return tls.URL + "/hook" },
			[]string{"certificate signed by unknown authority", "the server's certificate is not trusted: hookd trusts the CAs of the system's store, which SSL_CERT_FILE or SSL_CERT_DIR replace when set"}},
		{"an endless error page", endless(503), []string{"answered 503 Service Unavailable", "<p>busy</p>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := do(t.Context(), t, map[string]any{"url": tt.url(t), "timeout": "300ms"})
			if err == nil || actions.IsPermanent(err) {
				t.Fatalf("Do = %v, want a retryable error", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Do = %v, want an error containing %q", err, want)
				}
			}
		})
	}
	t.Run("an endless 200", func(t *testing.T) {
		if err := do(t.Context(), t, map[string]any{"url": endless(200)(t), "timeout": "5s"}); err != nil {
			t.Errorf("Do = %v, want success without reading the whole answer", err)
		}
	})
}
