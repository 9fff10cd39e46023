//go:build unix

package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/store"
)

// smallBuffers is the size asked for the kernel's buffers of both ends of
// a stalled stream's connection, so that they fill after little data.
const smallBuffers = 4 << 10

// smallWriteBuffers is a listener whose connections have small send
// buffers.
type smallWriteBuffers struct{ net.Listener }

func (l smallWriteBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		err = c.(*net.TCPConn).SetWriteBuffer(smallBuffers)
	}
	return c, err
}

// TestStreamStalledClient opens each stream with a real client that sends
// its request and then never reads, its receive buffer small: once the
// connection's buffers are full, the stream's next write waits for it
// past the stream write timeout, the handler returns and the server
// closes the connection, where it held both for as long as the client
// stayed connected. A live stream opened before, which reads but gets
// nothing for longer than the timeout, still gets the event stored
// afterwards: the timeout bounds each write, not the stream.
func TestStreamStalledClient(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// 4 MiB of events, far more than the buffers of a connection hold.
	data, _ := json.Marshal(map[string]string{"event": "open", "pad": strings.Repeat("x", 16<<10)})
	var events []event.Event
	for i := range 256 {
		events = append(events, event.Event{ID: fmt.Sprintf("big-%d", i), Source: "mailjet", Provider: "mailjet", Type: "open",
			Time: base, Received: base, Email: "a@example.com", Domain: "example.com", Data: data})
	}
	if err := st.Insert(ctx, events...); err != nil {
		t.Fatal(err)
	}

	e := listener.NewEcho(nil)
	api.Register(e.Group("/api"), api.Deps{Store: st, StreamWriteTimeout: 100 * time.Millisecond})
	srv := httptest.NewUnstartedServer(e)
	srv.Listener = smallWriteBuffers{srv.Listener}
	// closed receives the client address of each connection the server
	// closed.
	var mu sync.Mutex
	closed := map[string]chan struct{}{}
	closing := func(addr string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if closed[addr] == nil {
			closed[addr] = make(chan struct{})
		}
		return closed[addr]
	}
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			close(closing(c.RemoteAddr().String()))
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	// A reading client of the live stream, idle throughout the stalls.
	reqCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(reqCtx, http.MethodGet, srv.URL+"/api/live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reader := bufio.NewScanner(resp.Body)
	for reader.Scan() && reader.Text() != "" { // the preamble
	}

	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, smallBuffers)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	for _, tt := range []struct{ name, path string }{
		{"live", "/api/live?after=0"},
		{"export ndjson", "/api/events?format=ndjson"},
		{"export csv", "/api/events?format=csv"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := dialer.DialContext(ctx, "tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: hookd\r\n\r\n", tt.path); err != nil {
				t.Fatal(err)
			}
			// The bound of the wait, not a measure: the server drops
			// the client a write timeout after the buffers filled.
			select {
			case <-closing(conn.LocalAddr().String()):
			case <-time.After(time.Minute):
				t.Fatalf("GET %s: the server still holds the connection of a client that stopped reading", tt.path)
			}
		})
	}

	if err := st.Insert(ctx, event.Event{ID: "after-stalls", Source: "mailjet", Provider: "mailjet", Type: "open", Time: base, Received: base}); err != nil {
		t.Fatal(err)
	}
	for reader.Scan() {
		if strings.Contains(reader.Text(), `"id":"after-stalls"`) {
			return
		}
	}
	t.Fatalf("the reading client's stream ended before the event stored after the stalls: %v", reader.Err())
}
