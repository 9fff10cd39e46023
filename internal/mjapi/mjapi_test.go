package mjapi_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/mjapi"
)

func TestRedact(t *testing.T) {
	tokens := []string{"abcdefghijklmnop", "tok+en/0123456789abcdef"}
	tests := []struct{ name, in, want string }{
		{"password", "https://hookd:s3cret-pass@h.example.com/hooks/mailjet", "https://hookd:xxxxx@h.example.com/hooks/mailjet"},
		{"query token", "https://h.example.com/hooks/mailjet?token=abcdefghijklmnop", "https://h.example.com/hooks/mailjet?token=xxxxx"},
		{"path token", "https://h.example.com/hooks/mailjet/abcdefghijklmnop", "https://h.example.com/hooks/mailjet/xxxxx"},
		{"path token, percent-encoded", "https://h.example.com/hooks/mailjet/tok%2Ben%2F0123456789abcdef", "https://h.example.com/hooks/mailjet/xxxxx"},
		{"path token of a source at /", "https://h.example.com/abcdefghijklmnop", "https://h.example.com/xxxxx"},
		{"path segment that is no token", "https://h.example.com/hooks/mailjet/abcdefghijklmnoq", "https://h.example.com/hooks/mailjet/abcdefghijklmnoq"},
		{"path token no longer configured", "https://h.example.com/hooks/mailjet/old-token-9876543210", "https://h.example.com/hooks/mailjet/xxxxx"},
		{"encoding of other segments kept", "https://h.example.com/a%2Fb/abcdefghijklmnop", "https://h.example.com/a%2Fb/xxxxx"},
		{"nothing secret", "https://h.example.com/hooks/mailjet", "https://h.example.com/hooks/mailjet"},
		{"not a URL", "http://[::1", "(not a URL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mjapi.Redact(tt.in, tokens...); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseEvents(t *testing.T) {
	tests := []struct{ name, in, want, wantErr string }{
		{"all", "all", "sent,open,click,bounce,spam,blocked,unsub", ""},
		{"some, repeated", "open, click,open", "open,click", ""},
		{"unknown", "open,opened", "", `unknown event type "opened"`},
		{"empty item", "open,", "", `unknown event type ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mjapi.ParseEvents(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != tt.want {
				t.Errorf("ParseEvents(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestBaseURLSlash: a base URL with a trailing slash, as mailjet.api_url
// may be written, calls the same paths as one without, not "//v3/...",
// which Mailjet's API does not serve.
func TestBaseURLSlash(t *testing.T) {
	for _, suffix := range []string{"", "/"} {
		t.Run("suffix "+suffix, func(t *testing.T) {
			var got string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.URL.Path
				fmt.Fprint(w, `{"Count":0,"Data":[],"Total":0}`)
			}))
			defer srv.Close()
			c := &mjapi.Client{BaseURL: srv.URL + suffix, Key: "k", Secret: "s"}
			if _, err := c.Callbacks(context.Background()); err != nil {
				t.Fatal(err)
			}
			if want := "/v3/REST/eventcallbackurl"; got != want {
				t.Errorf("path %q, want %q", got, want)
			}
		})
	}
}

// TestAnswerKeepsSecret has Mailjet's API, or a proxy before it, answer
// errors that quote the request's credentials: the secret, the
// Authorization header that carries it in base64, and either cut in half
// where the error's quote of the answer ends. None shows in the error.
func TestAnswerKeepsSecret(t *testing.T) {
	const key, secret = "public-key-0123", "private-S3CRET-4567"
	header := "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"+secret))
	tests := []struct{ name, answer string }{
		{"the secret", "wrong secret " + secret + " for " + key},
		{"the Authorization header", "403 Forbidden: Authorization: " + header},
		// 512 bytes of the answer are quoted: the secret, and the header,
		// begin within them and end beyond.
		{"the secret cut", strings.Repeat("x", 500) + secret},
		{"the Authorization header cut", strings.Repeat("x", 490) + header},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != header {
					t.Errorf("Authorization %q, want %q", r.Header.Get("Authorization"), header)
				}
				http.Error(w, tt.answer, http.StatusUnauthorized)
			}))
			defer srv.Close()
			c := &mjapi.Client{BaseURL: srv.URL, Key: key, Secret: secret}
			_, err := c.Do(context.Background(), http.MethodGet, "/v3/REST/contact", nil, nil)
			if err == nil {
				t.Fatal("Do succeeded, want a 401")
			}
			got := err.Error()
			for _, s := range []string{secret, strings.TrimPrefix(header, "Basic ")} {
				for n := 4; n <= len(s); n++ {
					if strings.Contains(got, s[:n]) && !strings.Contains(key, s[:n]) {
						t.Fatalf("the error shows %q of %q: %s", s[:n], s, got)
					}
				}
			}
			if !strings.Contains(got, "[redacted]") {
				t.Errorf("the error %q blanks nothing", got)
			}
		})
	}
}

// TestDoNoAnswer checks that a request whose connection the server
// closes, or resets, without answering says so, where it read "EOF" or
// a socket read error.
func TestDoNoAnswer(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reset bool
		want  string
	}{
		{"closed", false, "the server closed the connection without answering"},
		{"reset", true, "the server reset the connection without answering"},
	} {
		t.Run(tt.name, func(t *testing.T) {
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
					if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil && tt.reset {
						_ = c.(*net.TCPConn).SetLinger(0)
					}
					c.Close()
				}
			}()
			c := &mjapi.Client{BaseURL: "http://" + ln.Addr().String(), Key: "key", Secret: "secret"}
			_, err = c.Do(context.Background(), "POST", "/v3.1/send", map[string]any{}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !mjapi.IsRetryable(err) {
				t.Fatalf("Do = %v, want a retryable error containing %q", err, tt.want)
			}
		})
	}
}
