package email_test

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/email"
	"github.com/hookd/hookd/internal/smtptest"
	"github.com/hookd/hookd/store"
)

const password = "smtp-secret-password"

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func do(t *testing.T, s actions.Settings, key string, params map[string]any) error {
	t.Helper()
	kind, err := actions.Lookup(email.Name)
	if err != nil {
		t.Fatal(err)
	}
	return kind.Action().Do(context.Background(), actions.Call{
		Key: key, Attempt: 1, Rule: "discount", EventID: "ev1",
		Params: params, Event: json.RawMessage(`{}`), Settings: s,
	})
}

func TestDo(t *testing.T) {
	st := openStore(t)
	if _, err := st.Suppress(context.Background(), "gone@example.com", "hard bounce", "r", "e"); err != nil {
		t.Fatal(err)
	}
	srv := smtptest.Start(t, smtptest.Options{Username: "shop", Password: password})
	srv.Reject = func(rcpt string) error {
		switch rcpt {
		case "nobody@example.com":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case "busy@example.com":
			return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "try later"}
		case "elsewhere@example.net":
			return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
		}
		return nil
	}
	settings := func(mod func(*actions.SMTP)) actions.Settings {
		s := &actions.SMTP{Host: srv.Host, Port: srv.Port, TLS: "none", Username: "shop", Password: password, From: "Shop <shop@example.com>"}
		if mod != nil {
			mod(s)
		}
		return actions.Settings{SMTP: s, Suppressions: st}
	}
	tests := []struct {
		name          string
		smtp          func(*actions.SMTP)
		params        map[string]any
		wantErr       string // "": success
		wantPermanent bool
		wantSkip      string
		want          *smtptest.Message
	}{
		{
			name:   "text and html",
			params: map[string]any{"to": "a@example.com", "subject": "Your 10% discount", "text": "Code: X", "html": "<p>Code: <b>X</b></p>"},
			want:   &smtptest.Message{From: "shop@example.com", To: []string{"a@example.com"}, Subject: "Your 10% discount", Text: "Code: X", HTML: "<p>Code: <b>X</b></p>", User: "shop"},
		},
		{
			name:   "html only, from overridden, a suppressed recipient left out",
			params: map[string]any{"to": "Gone <GONE@example.com>, b@example.com", "subject": "Hi", "html": "<p>hi</p>", "from": "promo@example.com"},
			want:   &smtptest.Message{From: "promo@example.com", To: []string{"b@example.com"}, Subject: "Hi", HTML: "<p>hi</p>", User: "shop"},
		},
		{
			name:     "only a suppressed recipient: skipped",
			params:   map[string]any{"to": "gone@example.com", "subject": "Hi", "text": "x"},
			wantSkip: "skipped: recipient gone@example.com is suppressed",
		},
		{
			name:          "550 to RCPT TO is permanent",
			params:        map[string]any{"to": "nobody@example.com", "subject": "Hi", "text": "x"},
			wantErr:       "550",
			wantPermanent: true,
		},
		{
			name:    "450 is retried",
			params:  map[string]any{"to": "busy@example.com", "subject": "Hi", "text": "x"},
			wantErr: "450",
		},
		{
			name:    "530 authentication required is retried, as a wrong password is",
			params:  map[string]any{"to": "elsewhere@example.net", "subject": "Hi", "text": "x"},
			wantErr: "530",
		},
		{
			name:    "a wrong password is retried and never shown",
			smtp:    func(s *actions.SMTP) { s.Password = "wrong-password-value" },
			params:  map[string]any{"to": "a@example.com", "subject": "Hi", "text": "x"},
			wantErr: "535",
		},
		{
			name:    "starttls required but not offered is retried",
			smtp:    func(s *actions.SMTP) { s.TLS = "starttls"; s.Username = ""; s.Password = "" },
			params:  map[string]any{"to": "a@example.com", "subject": "Hi", "text": "x"},
			wantErr: "STARTTLS",
		},
		{
			name:    "a refused connection is retried",
			smtp:    func(s *actions.SMTP) { s.Port = 1 },
			params:  map[string]any{"to": "a@example.com", "subject": "Hi", "text": "x"},
			wantErr: "127.0.0.1:1",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Messages())
			err := do(t, settings(tt.smtp), "discount/0/ev"+string(rune('a'+i)), tt.params)
			msgs := srv.Messages()[before:]
			switch {
			case tt.wantSkip != "":
				note, ok := actions.SkipNote(err)
				if !ok || note != tt.wantSkip {
					t.Fatalf("Do = %v, want skip %q", err, tt.wantSkip)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Do = %v, want an error containing %q", err, tt.wantErr)
				}
				if actions.IsPermanent(err) != tt.wantPermanent {
					t.Errorf("permanent = %v, want %v: %v", actions.IsPermanent(err), tt.wantPermanent, err)
				}
				for _, secret := range []string{password, "wrong-password-value"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error shows the password: %v", err)
					}
				}
			case err != nil:
				t.Fatalf("Do: %v", err)
			}
			if tt.want == nil {
				if len(msgs) != 0 {
					t.Fatalf("sent %d messages, want none", len(msgs))
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("sent %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.From != tt.want.From || strings.Join(m.To, ",") != strings.Join(tt.want.To, ",") || m.Subject != tt.want.Subject ||
				m.Text != tt.want.Text || m.HTML != tt.want.HTML || m.User != tt.want.User {
				t.Errorf("sent from %q to %q subject %q text %q html %q user %q\nwant from %q to %q subject %q text %q html %q user %q",
					m.From, m.To, m.Subject, m.Text, m.HTML, m.User,
					tt.want.From, tt.want.To, tt.want.Subject, tt.want.Text, tt.want.HTML, tt.want.User)
			}
			if m.Header.Get("X-Hookd-Rule") != "discount" || m.Header.Get("X-Hookd-Event") != "ev1" {
				t.Errorf("trace headers = %q, %q", m.Header.Get("X-Hookd-Rule"), m.Header.Get("X-Hookd-Event"))
			}
		})
	}
}

// TestMessageIDStable checks that two attempts of one job send one
// Message-ID, and another job another.
func TestMessageIDStable(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	s := actions.Settings{SMTP: &actions.SMTP{Host: srv.Host, Port: srv.Port, TLS: "none", From: "shop@example.com"}}
	p := map[string]any{"to": "a@example.com", "subject": "Hi", "text": "x"}
	for _, key := range []string{"r/0/e1", "r/0/e1", "r/0/e2"} {
		if err := do(t, s, key, p); err != nil {
			t.Fatal(err)
		}
	}
	msgs := srv.Wait(3, 5*time.Second)
	ids := []string{msgs[0].Header.Get("Message-Id"), msgs[1].Header.Get("Message-Id"), msgs[2].Header.Get("Message-Id")}
	if ids[0] == "" || ids[0] != ids[1] || ids[0] == ids[2] || !strings.HasSuffix(ids[0], "@example.com>") {
		t.Errorf("Message-IDs = %q: want the first two equal, the third different", ids)
	}
}

// TestDoServerHangsUp checks that a message the server accepted is a
// success, though the connection fails right after (the RSET go-mail sends
// after a message, the QUIT): an error would have the runner retry the job,
// and the recipient would get the message once per attempt.
func TestDoServerHangsUp(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	srv.HangUp = true
	s := actions.Settings{SMTP: &actions.SMTP{Host: srv.Host, Port: srv.Port, TLS: "none", From: "shop@example.com"}}
	p := map[string]any{"to": "a@example.com", "subject": "Your 10% discount", "text": "x"}
	if err := do(t, s, "discount/0/once:a@example.com", p); err != nil {
		t.Errorf("Do = %v, want nil: the server accepted the message", err)
	}
	if msgs := srv.Messages(); len(msgs) != 1 {
		t.Errorf("server accepted %d messages, want 1", len(msgs))
	}
}

func TestValidate(t *testing.T) {
	kind, _ := actions.Lookup(email.Name)
	tests := []struct {
		name    string
		params  map[string]any
		wantErr string
	}{
		{"templated to", map[string]any{"to": "{{ .email }}", "subject": "s", "html": "templates/x.html"}, ""},
		{"no to", map[string]any{"subject": "s", "text": "x"}, "to: required"},
		{"no body", map[string]any{"to": "a@example.com", "subject": "s"}, "text: want text, html or both"},
		{"bad literal to", map[string]any{"to": "not an address", "subject": "s", "text": "x"}, "to: "},
		{"unknown", map[string]any{"to": "a@example.com", "subject": "s", "text": "x", "cc": "b"}, "cc: unknown parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := kind.Validate(tt.params)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if err := kind.(actions.Requirer).Require(actions.Settings{}); err == nil || !strings.Contains(err.Error(), "smtp") {
		t.Errorf("Require without smtp = %v", err)
	}
}

// TestTLS sends through servers that speak STARTTLS or implicit TLS with a
// self-signed certificate, trusted the way a user with a private relay
// trusts it (smtp.ca_file), or not trusted at all (the system's roots).
func TestTLS(t *testing.T) {
	starttls := smtptest.Start(t, smtptest.Options{Username: "shop", Password: password, TLS: smtptest.StartTLS})
	implicit := smtptest.Start(t, smtptest.Options{Username: "shop", Password: password, TLS: smtptest.ImplicitTLS})
	tests := []struct {
		name          string
		srv           *smtptest.Server
		smtp          actions.SMTP // Port, Username, Password and From filled in
		wantErr       []string     // "" when it succeeds
		wantUntrusted bool
	}{
		{
			name: "starttls with auth and ca_file",
			srv:  starttls,
			smtp: actions.SMTP{Host: "127.0.0.1", TLS: "starttls", CAFile: starttls.CAFile},
		},
		{
			name: "implicit tls with auth and ca_file, server named localhost",
			srv:  implicit,
			smtp: actions.SMTP{Host: "localhost", TLS: "tls", CAFile: implicit.CAFile},
		},
		{
			name:          "starttls, certificate not under the system's roots",
			srv:           starttls,
			smtp:          actions.SMTP{Host: "127.0.0.1", TLS: "starttls"},
			wantErr:       []string{"certificate", "set smtp.ca_file"},
			wantUntrusted: true,
		},
		{
			name:          "implicit tls, ca_file of another CA",
			srv:           implicit,
			smtp:          actions.SMTP{Host: "127.0.0.1", TLS: "tls", CAFile: starttls.CAFile},
			wantErr:       []string{"certificate", "does not chain to a certificate of smtp.ca_file " + starttls.CAFile},
			wantUntrusted: true,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			beforeMsgs, beforeAuths := len(tt.srv.Messages()), len(tt.srv.Auths())
			s := tt.smtp
			s.Port, s.Username, s.Password, s.From = tt.srv.Port, "shop", password, "Shop <shop@example.com>"
			err := do(t, actions.Settings{SMTP: &s}, fmt.Sprintf("tls/0/ev%d", i),
				map[string]any{"to": "a@example.com", "subject": "Over TLS", "text": "x"})
			msgs, auths := tt.srv.Messages()[beforeMsgs:], tt.srv.Auths()[beforeAuths:]
			if tt.wantUntrusted {
				if err == nil {
					t.Fatal("Do succeeded, want an error")
				}
				t.Logf("error: %v", err)
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error does not say %q: %v", want, err)
					}
				}
				if actions.IsPermanent(err) {
					t.Errorf("an untrusted certificate is permanent, want retried: %v", err)
				}
				if strings.Contains(err.Error(), password) {
					t.Errorf("error shows the password: %v", err)
				}
				if len(auths) != 0 || len(msgs) != 0 {
					t.Errorf("server saw %d AUTH and %d messages, want none: credentials must not follow an untrusted handshake", len(auths), len(msgs))
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if len(auths) != 1 || auths[0] != (smtptest.Auth{User: "shop", TLS: true, OK: true}) {
				t.Errorf("AUTH attempts = %+v, want one accepted over TLS", auths)
			}
			if len(msgs) != 1 || !msgs[0].TLS || msgs[0].Subject != "Over TLS" || msgs[0].User != "shop" {
				t.Fatalf("messages = %+v, want one over TLS from user shop", msgs)
			}
		})
	}
}

// TestDoLongHeaderValues sends messages whose subject and event id, which
// event data may make as long as it likes, have words too long to fold:
// each header line must stay within RFC 5322's 78 characters (a server
// refuses a line over 998, or go-smtp's 2000, with a 5xx that would
// dead-letter the job), and the values must read back as they were.
func TestDoLongHeaderValues(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	s := actions.Settings{SMTP: &actions.SMTP{Host: srv.Host, Port: srv.Port, TLS: "none", From: "shop@example.com"}}
	kind, err := actions.Lookup(email.Name)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, subject, eventID string
	}{
		{"a subject of one long word", "Your link: https://example.com/" + strings.Repeat("a", 3000), "ev1"},
		{"a long word of multibyte letters among short ones", "Bonjour " + strings.Repeat("é", 1500) + " et à bientôt", "ev2"},
		{"a long event id", "Hi", "generic:shop:" + strings.Repeat("9", 1000)},
		{"short words are left as they are", "Your 10% discount" + strings.Repeat(" and more", 200), "ev3"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Messages())
			err := kind.Action().Do(context.Background(), actions.Call{
				Key: fmt.Sprintf("r/0/long%d", i), Attempt: 1, Rule: "r", EventID: tt.eventID, Event: json.RawMessage(`{}`),
				Params:   map[string]any{"to": "a@example.com", "subject": tt.subject, "text": "x"},
				Settings: s,
			})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			msgs := srv.Messages()[before:]
			if len(msgs) != 1 {
				t.Fatalf("sent %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			head, _, _ := strings.Cut(string(m.Raw), "\r\n\r\n")
			for _, line := range strings.Split(head, "\r\n") {
				if len(line) > 78 {
					t.Errorf("a header line of %d characters: %.100q...", len(line), line)
				}
			}
			if m.Subject != tt.subject {
				t.Errorf("subject reads back as %.100q..., want %.100q...", m.Subject, tt.subject)
			}
			dec := new(mime.WordDecoder)
			if id, err := dec.DecodeHeader(m.Header.Get("X-Hookd-Event")); err != nil || id != tt.eventID {
				t.Errorf("X-Hookd-Event reads back as %.100q... (%v), want %.100q...", id, err, tt.eventID)
			}
			if strings.HasPrefix(tt.name, "short words") && strings.Contains(head, "=?") {
				t.Errorf("a subject of short words was encoded:\n%s", head)
			}
		})
	}
}

// TestDoHeaderInjection sends messages whose subject, rule name and event
// id hold line breaks followed by a header of their own, as event data
// may (a campaign or an error text in the subject): each value must stay
// within its header, read back as it was, and add no header and no
// recipient. An event's email holding a line break is not an address,
// and is refused for good.
func TestDoHeaderInjection(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	s := actions.Settings{SMTP: &actions.SMTP{Host: srv.Host, Port: srv.Port, TLS: "none", From: "shop@example.com"}}
	kind, err := actions.Lookup(email.Name)
	if err != nil {
		t.Fatal(err)
	}
	const injected = "Bcc: evil@example.net"
	tests := []struct {
		name, subject string
	}{
		{"CRLF", "Hi\r\n" + injected},
		{"LF", "Hi\n" + injected},
		{"CR", "Hi\r" + injected},
		{"a blank line, then a body", "Hi\r\n\r\nbody of the attacker's"},
		{"non-ASCII before CRLF", "Déjà\r\n" + injected},
		{"a long word before CRLF", strings.Repeat("a", 200) + "\r\n" + injected},
	}
	dec := new(mime.WordDecoder)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Messages())
			err := kind.Action().Do(context.Background(), actions.Call{
				Key: fmt.Sprintf("r/0/inject%d", i), Attempt: 1, Rule: "r\r\nX-Evil: 1", EventID: "ev\r\n" + injected, Event: json.RawMessage(`{}`),
				Params:   map[string]any{"to": "a@example.com", "subject": tt.subject, "text": "x"},
				Settings: s,
			})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			msgs := srv.Messages()[before:]
			if len(msgs) != 1 {
				t.Fatalf("sent %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if len(m.To) != 1 || m.To[0] != "a@example.com" {
				t.Errorf("envelope recipients %q, want a@example.com alone", m.To)
			}
			for _, h := range []string{"Bcc", "X-Evil"} {
				if v, ok := m.Header[h]; ok {
					t.Errorf("the message has a header %s: %q\n%s", h, v, m.Raw)
				}
			}
			if m.Subject != tt.subject {
				t.Errorf("subject reads back as %q, want %q", m.Subject, tt.subject)
			}
			for h, want := range map[string]string{"X-Hookd-Rule": "r\r\nX-Evil: 1", "X-Hookd-Event": "ev\r\n" + injected} {
				if got, err := dec.DecodeHeader(m.Header.Get(h)); err != nil || got != want {
					t.Errorf("%s reads back as %q (%v), want %q", h, got, err, want)
				}
			}
		})
	}
	t.Run("an email with a line break", func(t *testing.T) {
		before := len(srv.Messages())
		err := kind.Action().Do(context.Background(), actions.Call{
			Key: "r/0/inject-to", Attempt: 1, Rule: "r", EventID: "ev", Event: json.RawMessage(`{}`),
			Params:   map[string]any{"to": "a@example.com\r\n" + injected, "subject": "Hi", "text": "x"},
			Settings: s,
		})
		if err == nil || !actions.IsPermanent(err) {
			t.Errorf("Do = %v, want a permanent error", err)
		}
		if n := len(srv.Messages()) - before; n != 0 {
			t.Errorf("sent %d messages, want none", n)
		}
	})
}
