package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener/mailgun"
	"github.com/hookd/hookd/listener/mailjet"
	"github.com/hookd/hookd/listener/sendgrid"
	"github.com/hookd/hookd/listener/standardwebhooks"
)

var (
	ingressRequests = flag.Int("ingress.requests", 10000, "requests TestMixedIngress sends (1000 with -short)")
	ingressClients  = flag.Int("ingress.clients", 32, "concurrent clients of TestMixedIngress")
	// maxRSS is a generous bound: hookd idles near 30 MiB; a leak of the
	// bodies of 10,000 requests (or unbounded buffering) would pass it.
	maxRSS = flag.Int64("ingress.max-rss", 400<<20, "bound on hookd's resident memory during TestMixedIngress, bytes")
)

// kind is what a request of the mixed load is and must be answered.
type kind int

const (
	valid kind = iota
	forged
	stale
	unsigned
	oversized
	malformed // signed, so quarantined
)

var kindNames = []string{"valid", "forged", "stale", "unsigned", "oversized", "malformed"}

func (k kind) String() string { return kindNames[k] }

var wantStatus = map[kind]int{valid: 200, forged: 401, stale: 401, unsigned: 401, oversized: 413, malformed: 400}

// kindOf spreads the kinds over the requests: half valid, the rest split
// among the bad kinds.
func kindOf(i int) kind {
	switch i % 20 {
	case 0, 1, 2:
		return forged
	case 3, 4:
		return stale
	case 5, 6:
		return unsigned
	case 7:
		return oversized
	case 8, 9:
		return malformed
	}
	return valid
}

// ingress holds the secrets of the four sources of TestMixedIngress and
// builds their requests.
type ingress struct {
	hooks      string
	sgKey      *ecdsa.PrivateKey
	sgWrong    *ecdsa.PrivateKey
	whKey      []byte
	mgKey      string
	mjPassword string
}

const maxBody = 16 << 10

// request builds request i: its source path, headers and body, and the ids
// of the events a valid one carries.
func (in *ingress) request(t *testing.T, i int, k kind) (string, http.Header, []byte, []string) {
	now := time.Now()
	if k == stale {
		now = now.Add(-27 * time.Hour) // beyond every default tolerance (SendGrid's, 26 hours, is the longest)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	pad := ""
	if k == oversized {
		pad = strings.Repeat("x", maxBody)
	}
	var (
		path string
		body []byte
		ids  []string
	)
	switch i % 4 {
	case 0: // SendGrid: a batch of two.
		path = "/hooks/sendgrid"
		body = fmt.Appendf(nil, `[{"email":"sg%d@example.com","timestamp":%d,"event":"delivered","sg_event_id":"sg-%d-a","sg_message_id":"m%d","pad":%q},`+
			`{"email":"sg%d@example.com","timestamp":%d,"event":"open","sg_event_id":"sg-%d-b","sg_message_id":"m%d"}]`,
			i, now.Unix(), i, i, pad, i, now.Unix(), i, i)
		if k == malformed {
			body = fmt.Appendf(nil, `[{"email":"sg%d@example.com","event":"open"`, i)
		}
		ts := strconv.FormatInt(now.Unix(), 10)
		key := in.sgKey
		if k == forged {
			key = in.sgWrong
		}
		if k != unsigned {
			d := sha256.Sum256(append([]byte(ts), body...))
			sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
			if err != nil {
				t.Error(err)
			}
			h.Set(sendgrid.HeaderTimestamp, ts)
			h.Set(sendgrid.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
		}
		if k == valid {
			events, err := sendgrid.Decode(body)
			if err != nil {
				t.Error(err)
			}
			ids = idsOfEvents(events)
		}
	case 1: // Standard Webhooks.
		path = "/hooks/app"
		id := fmt.Sprintf("msg_%d", i)
		body = fmt.Appendf(nil, `{"type":"email.bounced","timestamp":%q,"data":{"to":["sw%d@example.com"],"bounce":{"type":"Permanent"},"pad":%q}}`,
			now.UTC().Format(time.RFC3339), i, pad)
		if k == malformed {
			body = fmt.Appendf(nil, `{"type":"email.bounced","n":%d`, i)
		}
		ts := strconv.FormatInt(now.Unix(), 10)
		key := in.whKey
		if k == forged {
			key = []byte("not-the-key-of-this-source")
		}
		if k != unsigned {
			h.Set("Webhook-Id", id)
			h.Set("Webhook-Timestamp", ts)
			h.Set("Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(standardwebhooks.Sign(key, id, ts, body)))
		}
		if k == valid {
			events, err := standardwebhooks.Decode("app", nil, h, body)
			if err != nil {
				t.Error(err)
			}
			ids = idsOfEvents(events)
		}
	case 2: // Mailgun: the signature is in the body.
		path = "/hooks/mailgun"
		tok := make([]byte, 25)
		rand.Read(tok)
		token, ts := hex.EncodeToString(tok), strconv.FormatInt(now.Unix(), 10)
		key := in.mgKey
		if k == forged {
			key = "key-of-somebody-else-000000"
		}
		sig := fmt.Sprintf(`{"timestamp":%q,"token":%q,"signature":%q}`, ts, token, hex.EncodeToString(mailgun.Sign([]byte(key), ts, token)))
		if k == unsigned {
			sig = `{}`
		}
		body = fmt.Appendf(nil, `{"signature":%s,"event-data":{"event":"delivered","id":"mg-%d","timestamp":%d.5,"recipient":"mg%d@example.com","pad":%q}}`,
			sig, i, now.Unix(), i, pad)
		if k == malformed {
			body = fmt.Appendf(nil, `{"signature":%s,"event-data":{"event":"delivered"}}`, sig)
		}
		if k == valid {
			events, err := mailgun.Decode(body)
			if err != nil {
				t.Error(err)
			}
			ids = idsOfEvents(events)
		}
	case 3: // Mailjet with basic auth.
		path = "/hooks/mailjet"
		body = fmt.Appendf(nil, `{"event":"open","time":%d,"MessageID":%d,"email":"mj%d@example.com","pad":%q}`,
			now.Unix(), 19421777396190490+i, i, pad)
		if k == malformed {
			body = fmt.Appendf(nil, `{"event":"open","time":"%d days ago"}`, i)
		}
		switch k {
		case forged:
			h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("hookd:wrong-password")))
		case stale:
			// Mailjet signs no timestamp: a stale request is an
			// unauthenticated one.
		case unsigned:
		default:
			h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("hookd:"+in.mjPassword)))
		}
		if k == valid {
			events, err := mailjet.Decode(body)
			if err != nil {
				t.Error(err)
			}
			ids = idsOfEvents(events)
		}
	}
	return path, h, body, ids
}

func idsOfEvents(events []event.Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

// TestMixedIngress sends requests mixing valid, forged, stale, unsigned,
// oversized and malformed ones from concurrent clients to a real hookd
// with four kinds of sources, while another client checks /healthz, /readyz and
// hookd's resident memory. Every valid event must be stored exactly once,
// no other, every malformed-but-signed body quarantined, every health
// check answered, and the memory bounded.
func TestMixedIngress(t *testing.T) {
	n := *ingressRequests
	if testing.Short() && n > 1000 {
		n = 1000
	}
	dir := t.TempDir()
	sgKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sgWrong, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.MarshalPKIXPublicKey(&sgKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	whRaw := make([]byte, 24)
	rand.Read(whRaw)
	in := &ingress{sgKey: sgKey, sgWrong: sgWrong, whKey: whRaw, mgKey: "key-mailgun-signing-0123456789", mjPassword: "mailjet-hook-password"}
	// The Mailgun key comes from a file, the others from the environment.
	if err := os.WriteFile(filepath.Join(dir, "mailgun.key"), []byte(in.mgKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOKD_TEST_SG_KEY", base64.StdEncoding.EncodeToString(der))
	t.Setenv("HOOKD_TEST_WHSEC", "whsec_"+base64.StdEncoding.EncodeToString(whRaw))
	t.Setenv("HOOKD_TEST_MJ_PASSWORD", in.mjPassword)
	cfg := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `
limits: { max_body: %d }
sources:
  - { name: sendgrid, provider: sendgrid, verify: { public_key: "${HOOKD_TEST_SG_KEY}" } }
  - { name: app, provider: standardwebhooks, verify: { secret: "${HOOKD_TEST_WHSEC}" } }
  - { name: mailgun, provider: mailgun, verify: { signing_key: "file:mailgun.key" } }
  - { name: mailjet, provider: mailjet, auth: { basic: { user: hookd, password: "${HOOKD_TEST_MJ_PASSWORD}" } } }
`, maxBody), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHookd(t, filepath.Join(dir, "data"), "--config", cfg)
	in.hooks = p.hooks

	// Health checks and memory samples, throughout.
	stop := make(chan struct{})
	var (
		checks, unhealthy atomic.Int64
		peakRSS           atomic.Int64
		watch             sync.WaitGroup
	)
	watch.Go(func() {
		client := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, u := range []string{p.hooks + "/healthz", p.admin + "/healthz", p.hooks + "/readyz", p.admin + "/readyz"} {
				checks.Add(1)
				resp, err := client.Get(u)
				if err != nil || resp.StatusCode != 200 {
					unhealthy.Add(1)
				}
				if err == nil {
					resp.Body.Close()
				}
			}
			if rss := residentMemory(client, p.admin); rss > peakRSS.Load() {
				peakRSS.Store(rss)
			}
		}
	})

	var (
		mu      sync.Mutex
		wantIDs = map[string]bool{}
		counts  = map[kind]int{}
		wrong   []string
		next    atomic.Int64
		clients sync.WaitGroup
	)
	transport := &http.Transport{MaxIdleConnsPerHost: *ingressClients}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	start := time.Now()
	for range *ingressClients {
		clients.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				k := kindOf(i)
				path, h, body, ids := in.request(t, i, k)
				req, _ := http.NewRequest("POST", p.hooks+path, bytes.NewReader(body))
				req.Header = h
				status := 0
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				mu.Lock()
				counts[k]++
				if status != wantStatus[k] {
					if len(wrong) < 10 {
						wrong = append(wrong, fmt.Sprintf("request %d (%s to %s): %d, want %d (%v)", i, kindNames[k], path, status, wantStatus[k], err))
					}
				} else {
					for _, id := range ids {
						wantIDs[id] = true
					}
				}
				mu.Unlock()
			}
		})
	}
	clients.Wait()
	took := time.Since(start)
	transport.CloseIdleConnections()
	if len(wrong) > 0 {
		t.Fatalf("unexpected answers:\n%s", strings.Join(wrong, "\n"))
	}

	if missing := waitStored(t, p.admin, wantIDs); len(missing) > 0 {
		t.Fatalf("%d valid events not stored, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	stored := storedIDs(t, p.admin) // fails on an id listed twice
	for id := range stored {
		if !wantIDs[id] {
			t.Fatalf("stored %s, which no valid request carried", id)
		}
	}
	if q := quarantined(t, p.admin); q != counts[malformed] {
		t.Fatalf("quarantine holds %d bodies, want %d (one per malformed signed request, each a different body)", q, counts[malformed])
	}
	close(stop)
	watch.Wait()
	if checks.Load() == 0 || unhealthy.Load() > 0 {
		t.Fatalf("%d of %d health checks failed", unhealthy.Load(), checks.Load())
	}
	if peak := peakRSS.Load(); peak == 0 || peak > *maxRSS {
		t.Fatalf("hookd's resident memory peaked at %d bytes (bound %d)", peak, *maxRSS)
	}
	t.Logf("%d requests (%v) from %d clients in %v (%.0f/s): %d events stored, %d quarantined; %d health checks all answered; peak RSS %.1f MiB",
		n, counts, *ingressClients, took.Round(time.Millisecond), float64(n)/took.Seconds(), len(stored), counts[malformed],
		checks.Load(), float64(peakRSS.Load())/(1<<20))
	p.stop(t)
}

// residentMemory reads process_resident_memory_bytes from hookd's /metrics;
// 0 if it cannot.
func residentMemory(client *http.Client, admin string) int64 {
	resp, err := client.Get(admin + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return int64(f)
			}
		}
	}
	return 0
}

// quarantined counts the bodies /api/quarantine lists.
func quarantined(t *testing.T, admin string) int {
	t.Helper()
	n, cursor := 0, ""
	for {
		resp, err := http.Get(admin + "/api/quarantine?limit=1000&cursor=" + url.QueryEscape(cursor))
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Quarantine []json.RawMessage
			Next       string
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Quarantine)
		if page.Next == "" {
			return n
		}
		cursor = page.Next
	}
}

// TestSlowHeadersAreCut checks read_header_timeout: a client that never
// finishes its request headers is disconnected instead of holding a
// connection forever.
func TestSlowHeadersAreCut(t *testing.T) {
	p, conn := dialWithLimits(t, "read_header_timeout: 500ms")
	if _, err := io.WriteString(conn, "POST /hooks/mailjet HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// Generous: the server must hang up well before this deadline.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("hookd kept a connection whose headers never ended")
	}
	p.stop(t)
}
