package email_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/email"
)

// script is how a scripted SMTP server misbehaves. Each reply is a whole
// SMTP reply line; "" gives the usual one.
type script struct {
	noGreeting bool   // accept the connection and never greet
	mail, rcpt string // the replies to MAIL FROM and RCPT TO
	data       string // the reply to DATA
	end        string // the reply to the data's final "."
	dropInData bool   // close the connection after the first line of data
	hangAtEnd  bool   // never answer the final "."
}

// scripted is an SMTP server on loopback that speaks as its script says,
// and counts the messages it accepted (a 250 to their final ".") and the
// deliveries that reached their final ".".
type scripted struct {
	host     string
	port     int
	mu       sync.Mutex
	accepted int
	ended    chan struct{} // receives once per final "." read
}

func startScripted(t *testing.T, sc script) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(done); ln.Close(); wg.Wait() })
	addr := ln.Addr().(*net.TCPAddr)
	s := &scripted{host: addr.IP.String(), port: addr.Port, ended: make(chan struct{}, 10)}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				context.AfterFunc(doneCtx(done), func() { c.Close() })
				s.serve(c, sc, done)
			})
		}
	})
	return s
}

func doneCtx(done <-chan struct{}) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-done; cancel() }()
	return ctx
}

func or(reply, usual string) string {
	if reply == "" {
		return usual
	}
	return reply
}

func (s *scripted) serve(c net.Conn, sc script, done <-chan struct{}) {
	if sc.noGreeting {
		<-done
		return
	}
	r := bufio.NewReader(c)
	say := func(line string) { c.Write([]byte(line + "\r\n")) }
	say("220 scripted ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-scripted")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL"):
			say(or(sc.mail, "250 2.1.0 ok"))
		case strings.HasPrefix(cmd, "RCPT"):
			say(or(sc.rcpt, "250 2.1.5 ok"))
		case cmd == "DATA":
			reply := or(sc.data, "354 go ahead")
			say(reply)
			if !strings.HasPrefix(reply, "354") {
				continue
			}
			for first := true; ; first = false {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if first && sc.dropInData {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			s.ended <- struct{}{}
			if sc.hangAtEnd {
				<-done
				return
			}
			reply = or(sc.end, "250 2.0.0 queued")
			if strings.HasPrefix(reply, "250") {
				s.mu.Lock()
				s.accepted++
				s.mu.Unlock()
			}
			say(reply)
		case cmd == "RSET", cmd == "NOOP":
			say("250 ok")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown")
		}
	}
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

func (s *scripted) settings() actions.Settings {
	return actions.Settings{SMTP: &actions.SMTP{Host: s.host, Port: s.port, TLS: "none", From: "shop@example.com"}}
}

func doCtx(ctx context.Context, t *testing.T, s actions.Settings, params map[string]any) error {
	t.Helper()
	kind, err := actions.Lookup(email.Name)
	if err != nil {
		t.Fatal(err)
	}
	return kind.Action().Do(ctx, actions.Call{
		Key: "discount/0/ev1", Attempt: 1, Rule: "discount", EventID: "ev1",
		Params: params, Event: json.RawMessage(`{}`), Settings: s,
	})
}

// TestDoStops checks that an attempt ends soon after its ctx does, in
// whatever step of the delivery its server keeps it waiting (hookd
// stopping cuts it after its grace), without the server accepting the
// message, and that the attempt that follows delivers it once: where
// go-mail heeded the ctx only while it dialed, so that an attempt went on
// until its timeout (30s by default), past the runner's grace, and was
// abandoned rather than recorded as interrupted.
func TestDoStops(t *testing.T) {
	for _, tt := range []struct {
		name string
		sc   script
	}{
		{"greeting never comes", script{noGreeting: true}},
		{"no answer to the data", script{hangAtEnd: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startScripted(t, tt.sc)
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			p := map[string]any{"to": "a@example.com", "subject": "s", "text": "x", "timeout": "1m"}
			go func() { errc <- doCtx(ctx, t, srv.settings(), p) }()
			if tt.sc.hangAtEnd {
				<-srv.ended
			} else {
				time.Sleep(100 * time.Millisecond) // connected, waiting for the greeting
			}
			cancel()
			select {
			case err := <-errc:
				if err == nil || actions.IsPermanent(err) || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "gave up waiting for the server") {
					t.Fatalf("Do = %v, want a retryable error wrapping context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Do did not return within 10s of its ctx ending (its timeout is 1m)")
			}
			if n := srv.count(); n != 0 {
				t.Fatalf("the server accepted %d messages, want 0", n)
			}
		})
	}
	srv := startScripted(t, script{})
	p := map[string]any{"to": "a@example.com", "subject": "s", "text": "x"}
	if err := doCtx(t.Context(), t, srv.settings(), p); err != nil || srv.count() != 1 {
		t.Fatalf("the attempt after: Do = %v, %d messages accepted, want nil and 1", err, srv.count())
	}
}

// TestDoMisbehavingServer checks what a server's misbehaviour at each step
// of a delivery does to the attempt: whether it is retried or permanent,
// that the error says what happened, and that no message is accepted.
func TestDoMisbehavingServer(t *testing.T) {
	tests := []struct {
		name          string
		sc            script
		wantErr       []string
		wantPermanent bool
		wantRefused   bool // the message alone: its recipient's other mail goes on
	}{
		{"MAIL FROM 451", script{mail: "451 4.3.0 try later"}, []string{"MAIL FROM command: 451", "4.3.0 try later"}, false, false},
		{"MAIL FROM 550", script{mail: "550 5.7.1 not allowed"}, []string{"MAIL FROM command: 550"}, true, false},
		{"RCPT TO 452", script{rcpt: "452 4.2.2 mailbox full"}, []string{"RCPT TO command: 452"}, false, false},
		{"RCPT TO 550", script{rcpt: "550 5.1.1 no such user"}, []string{"RCPT TO command: 550"}, true, false},
		{"DATA 451", script{data: "451 4.3.0 later"}, []string{"DATA command: 451"}, false, false},
		{"DATA 554", script{data: "554 5.3.0 no"}, []string{"DATA command: 554"}, true, true},
		{"end of data 452", script{end: "452 4.3.1 out of space"}, []string{"452", "out of space"}, false, false},
		{"end of data 554", script{end: "554 5.7.1 looks like spam"}, []string{"554", "looks like spam"}, true, true},
		{"connection dropped in the data", script{dropInData: true}, []string{"EOF"}, false, false},
		{"greeting never comes", script{noGreeting: true}, []string{"no answer within the timeout (300ms)"}, false, false},
		{"no answer to the data", script{hangAtEnd: true}, []string{"no answer within the timeout (300ms)"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startScripted(t, tt.sc)
			p := map[string]any{"to": "a@example.com", "subject": "s", "text": "x", "timeout": "300ms"}
			err := doCtx(t.Context(), t, srv.settings(), p)
			if err == nil {
				t.Fatal("Do = nil, want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Do = %v, want an error containing %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "failed to close connection") || strings.Contains(err.Error(), "\n") {
				t.Errorf("Do = %q, want one line, without the QUIT that failed after the send did", err)
			}
			if actions.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("Do = %v: permanent %v, want %v", err, actions.IsPermanent(err), tt.wantPermanent)
			}
			if actions.IsRefused(err) != tt.wantRefused {
				t.Errorf("Do = %v: refused %v, want %v", err, actions.IsRefused(err), tt.wantRefused)
			}
			if n := srv.count(); n != 0 {
				t.Errorf("the server accepted %d messages, want 0", n)
			}
		})
	}
}
