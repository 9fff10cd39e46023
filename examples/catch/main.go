// Command catch stands in, on your machine, for what the examples' actions
// talk to, and prints everything it receives: an SMTP server on
// 127.0.0.1:1025 (the email action) and an HTTP server on 127.0.0.1:8025
// that answers as Mailjet's API does (mailjet_send, mailjet_unsubscribe,
// hookd mailjet) and takes alerts on any other path (the http action). It
// is a try-out tool: it accepts any login and keeps nothing.
//
//	go run ./examples/catch [--smtp 127.0.0.1:1025] [--http 127.0.0.1:8025]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func main() {
	smtpAddr := flag.String("smtp", "127.0.0.1:1025", "SMTP `address`")
	httpAddr := flag.String("http", "127.0.0.1:8025", "HTTP `address`")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var out sync.Mutex
	printf := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format, args...)
	}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{printf: printf}, nil
	}))
	s.Addr, s.Domain, s.AllowInsecureAuth = *smtpAddr, "localhost", true
	s.ReadTimeout, s.WriteTimeout = time.Minute, time.Minute
	h := &http.Server{Addr: *httpAddr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		printf("HTTP %s %s\n%s\n\n", r.Method, r.URL.RequestURI(), indent(body))
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v3.1/send":
			var req struct{ Messages []json.RawMessage }
			_ = json.Unmarshal(body, &req)
			msgs := make([]string, len(req.Messages))
			for i := range msgs {
				msgs[i] = fmt.Sprintf(`{"Status":"success","To":[{"MessageID":%d}]}`, time.Now().UnixNano()+int64(i))
			}
			fmt.Fprintf(w, `{"Messages":[%s]}`, strings.Join(msgs, ","))
		case r.URL.Path == "/v3/REST/eventcallbackurl" && r.Method == http.MethodGet:
			io.WriteString(w, `{"Count":0,"Data":[],"Total":0}`)
		case strings.HasPrefix(r.URL.Path, "/v3/REST/"):
			if r.Method == http.MethodPost {
				w.WriteHeader(http.StatusCreated)
			}
			fmt.Fprintf(w, `{"Count":1,"Data":[%s],"Total":1}`, orEmpty(body))
		default:
			io.WriteString(w, `{"ok":true}`)
		}
	})}
	go func() {
		<-ctx.Done()
		s.Close()
		h.Close()
	}()
	log.Printf("catching mail on smtp://%s and requests on http://%s (Ctrl-C stops)", *smtpAddr, *httpAddr)
	errs := make(chan error, 2)
	go func() { errs <- s.ListenAndServe() }()
	go func() { errs <- h.ListenAndServe() }()
	if err := <-errs; err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

func orEmpty(b []byte) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return []byte("{}")
	}
	return b
}

func indent(b []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return string(b)
	}
	return buf.String()
}

type session struct {
	printf func(string, ...any)
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(string, string, string) error { return nil }), nil
}
func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = append(s.to, to); return nil }
func (s *session) Reset()                                      { s.from, s.to = "", nil }
func (s *session) Logout() error                               { return nil }
func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	subject := ""
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		subject, _ = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	}
	s.printf("EMAIL from %s to %s: %s\n%s\n\n", s.from, strings.Join(s.to, ", "), subject, raw)
	return nil
}
