package generic_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/generic"
	"github.com/hookd/hookd/listener/providertest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenMap reads both the ESP-like fixtures and GitHub's, whose headers
// are spelled as GitHub documents them.
var goldenMap = config.Map{
	Type:        `headers["X-GitHub-Event"] ?? event`,
	ID:          `headers["X-GitHub-Delivery"] ?? id`,
	Time:        `timestamp`,
	Email:       `recipient`,
	MessageID:   `message_id`,
	BounceClass: `event == "bounce" ? (permanent == true ? "hard" : "soft") : class`,
}

func adapter(t testing.TB, src config.Source) listener.Adapter {
	t.Helper()
	src.Provider = generic.Provider
	if src.Name == "" {
		src.Name = "gen"
	}
	a, err := generic.Generic{}.New(src, listener.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDecodeGolden(t *testing.T) {
	a := adapter(t, config.Source{Map: goldenMap})
	providertest.Golden(t, *update, a.Decode)
}

// TestGitHubExample verifies the example of GitHub's documentation on
// validating webhook deliveries.
func TestGitHubExample(t *testing.T) {
	a := adapter(t, config.Source{Verify: config.Verify{HMAC: &config.HMAC{
		Header: "X-Hub-Signature-256", Algorithm: "sha256", Encoding: "hex", Prefix: "sha256=", Secret: "It's a Secret to Everybody",
	}}})
	for _, tt := range []struct {
		name, sig string
		ok        bool
	}{
		{"documented", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", true},
		{"without prefix", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", false},
		{"one digit off", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18", false},
		{"sha1 form", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			r.Header.Set("X-Hub-Signature-256", tt.sig)
			err := a.Verify(r.Context(), r, []byte("Hello, World!"))
			if (err == nil) != tt.ok {
				t.Fatalf("Verify = %v, want ok %v", err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "757107") {
				t.Fatalf("error discloses the signature: %v", err)
			}
		})
	}
}

// scheme is one way of signing the suite runs.
type scheme struct {
	name  string
	hmac  config.HMAC
	sign  func(secret string, body []byte, at time.Time) http.Header
	strip map[string]func(http.Header, []byte) (http.Header, []byte)
	stamp bool
}

func mac(h func() hash.Hash, secret string, parts ...[]byte) []byte {
	m := hmac.New(h, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func del(name string) func(http.Header, []byte) (http.Header, []byte) {
	return func(h http.Header, b []byte) (http.Header, []byte) { h.Del(name); return h, b }
}

var schemes = []scheme{
	{
		name: "github sha256 hex with prefix",
		hmac: config.HMAC{Header: "X-Hub-Signature-256", Algorithm: "sha256", Encoding: "hex", Prefix: "sha256="},
		sign: func(secret string, body []byte, _ time.Time) http.Header {
			return http.Header{"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(mac(sha256.New, secret, body))}}
		},
		strip: map[string]func(http.Header, []byte) (http.Header, []byte){"signature header": del("X-Hub-Signature-256")},
	},
	{
		name: "sha1 base64",
		hmac: config.HMAC{Header: "X-Signature", Algorithm: "sha1", Encoding: "base64"},
		sign: func(secret string, body []byte, _ time.Time) http.Header {
			return http.Header{"X-Signature": {base64.StdEncoding.EncodeToString(mac(sha1.New, secret, body))}}
		},
	},
	{
		name: "sha512 over timestamp.body",
		hmac: config.HMAC{Header: "X-Signature", Algorithm: "sha512", Payload: "timestamp.body", TimestampHeader: "X-Timestamp"},
		sign: func(secret string, body []byte, at time.Time) http.Header {
			ts := strconv.FormatInt(at.Unix(), 10)
			return http.Header{"X-Signature": {hex.EncodeToString(mac(sha512.New, secret, []byte(ts+"."), body))}, "X-Timestamp": {ts}}
		},
		strip: map[string]func(http.Header, []byte) (http.Header, []byte){"timestamp header": del("X-Timestamp")},
		stamp: true,
	},
	{
		name: "stripe",
		hmac: config.HMAC{Header: "Stripe-Signature", Format: "stripe"},
		sign: func(secret string, body []byte, at time.Time) http.Header {
			ts := strconv.FormatInt(at.Unix(), 10)
			sig := hex.EncodeToString(mac(sha256.New, secret, []byte(ts+"."), body))
			// An old secret's signature first, as during a rotation.
			return http.Header{"Stripe-Signature": {fmt.Sprintf("t=%s,v1=%s,v1=%s,v0=00", ts, strings.Repeat("ab", 32), sig)}}
		},
		strip: map[string]func(http.Header, []byte) (http.Header, []byte){
			"signature header": del("Stripe-Signature"),
			"timestamp": func(h http.Header, b []byte) (http.Header, []byte) {
				parts := strings.Split(h.Get("Stripe-Signature"), ",")
				h.Set("Stripe-Signature", strings.Join(parts[1:], ","))
				return h, b
			},
		},
		stamp: true,
	},
}

func TestConformance(t *testing.T) {
	const secret = "generic-secret-0123456789"
	body, err := os.ReadFile("testdata/esp-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := os.ReadFile("testdata/malformed-one-bad-element.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range schemes {
		t.Run(s.name, func(t *testing.T) {
			h := s.hmac
			h.Secret = secret
			providertest.Run(t, providertest.Case{
				Source:   config.Source{Provider: generic.Provider, Verify: config.Verify{HMAC: &h}, Map: goldenMap},
				Valid:    body,
				Events:   5,
				BadBatch: bad,
				Sign: func(_ testing.TB, body []byte, at time.Time, wrong bool) (http.Header, []byte) {
					key := secret
					if wrong {
						key = "another-secret-0123456789"
					}
					return s.sign(key, body, at), body
				},
				Timestamped: s.stamp,
				Tamper:      providertest.FlipByte,
				Strip:       s.strip,
			})
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, tt := range []struct {
		name  string
		src   config.Source
		field string
	}{
		{"no header", config.Source{Verify: config.Verify{HMAC: &config.HMAC{Secret: "0123456789"}}}, "verify.hmac.header"},
		{"no secret", config.Source{Verify: config.Verify{HMAC: &config.HMAC{Header: "X"}}}, "verify.hmac.secret"},
		{"algorithm", config.Source{Verify: config.Verify{HMAC: &config.HMAC{Header: "X", Secret: "0123456789", Algorithm: "md5"}}}, "verify.hmac.algorithm"},
		{"encoding", config.Source{Verify: config.Verify{HMAC: &config.HMAC{Header: "X", Secret: "0123456789", Encoding: "base32"}}}, "verify.hmac.encoding"},
		{"timestamp without header", config.Source{Verify: config.Verify{HMAC: &config.HMAC{Header: "X", Secret: "0123456789", Payload: "timestamp.body"}}}, "verify.hmac.timestamp_header"},
		{"format", config.Source{Verify: config.Verify{HMAC: &config.HMAC{Header: "X", Secret: "0123456789", Format: "slack"}}}, "verify.hmac.format"},
		{"map syntax", config.Source{Map: config.Map{Type: `event ==`}}, "map.type"},
		{"foreign key", config.Source{Verify: config.Verify{PublicKey: "x"}}, "verify.public_key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := generic.Generic{}.New(tt.src, listener.Env{})
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("New = %v, want an error at %s", err, tt.field)
			}
			if strings.Contains(err.Error(), "0123456789") {
				t.Fatalf("error quotes the secret: %v", err)
			}
		})
	}
}

// TestIDs checks that ids are stable for a retried delivery and scoped by
// source, with map.id and without: two senders that post the same bytes, or
// use the same ids, keep both events.
func TestIDs(t *testing.T) {
	body := []byte(`{"id":"42","type":"ping","timestamp":1700000000}`)
	for _, tt := range []struct {
		name string
		m    config.Map
	}{
		{"map.id", config.Map{ID: "id", Type: "type", Time: "timestamp"}},
		{"hash", config.Map{Type: "type", Time: "timestamp"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := func(source string) string {
				t.Helper()
				events, err := adapter(t, config.Source{Name: source, Map: tt.m}).Decode(nil, body)
				if err != nil || len(events) != 1 {
					t.Fatalf("%s: Decode = %v, %v", source, events, err)
				}
				return events[0].ID
			}
			a, again, b := id("app-a"), id("app-a"), id("app-b")
			if a != again {
				t.Errorf("retried delivery: id %s, then %s", a, again)
			}
			if a == b {
				t.Errorf("sources app-a and app-b both gave id %s", a)
			}
		})
	}
}

// TestExactNumbers posts numeric ids above 2^53 and beyond int64, and a
// time in unix milliseconds: every digit reaches the event, so two events
// whose ids differ in the last digit are not duplicates.
func TestExactNumbers(t *testing.T) {
	a := adapter(t, config.Source{Name: "acme", Map: config.Map{ID: "event_id", Type: "type", Time: "ts", MessageID: "msg_id"}})
	for _, tt := range []struct {
		name, body    string
		id, messageID string
		time          string
	}{
		{"2^53", `{"event_id":9007199254740992,"type":"open","ts":1714550400123,"msg_id":12345678901234567890}`,
			"generic:acme:9007199254740992", "12345678901234567890", "2024-05-01T08:00:00.123Z"},
		{"2^53+1", `{"event_id":9007199254740993,"type":"open","ts":1714550400123,"msg_id":12345678901234567891}`,
			"generic:acme:9007199254740993", "12345678901234567891", "2024-05-01T08:00:00.123Z"},
		{"seconds with a fraction", `{"event_id":9223372036854775807,"type":"open","ts":1714550400.123,"msg_id":"abc"}`,
			"generic:acme:9223372036854775807", "abc", "2024-05-01T08:00:00.123Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			events, err := a.Decode(nil, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			e := events[0]
			if got := e.Time.Format(time.RFC3339Nano); e.ID != tt.id || e.MessageID != tt.messageID || got != tt.time {
				t.Fatalf("id %s, message_id %s, time %s; want %s, %s, %s", e.ID, e.MessageID, got, tt.id, tt.messageID, tt.time)
			}
		})
	}
}

// TestHeaderNames maps GitHub's deliveries with its headers spelled as
// GitHub documents them: two deliveries of the same body are two events.
func TestHeaderNames(t *testing.T) {
	body := []byte(`{"zen":"Design for failure.","hook_id":12345678}`)
	for _, tt := range []struct {
		name string
		m    config.Map
	}{
		{"as documented", config.Map{Type: `headers["X-GitHub-Event"]`, ID: `headers["X-GitHub-Delivery"]`}},
		{"lower case", config.Map{Type: `headers["x-github-event"]`, ID: `headers["x-github-delivery"]`}},
		{"canonical", config.Map{Type: `headers["X-Github-Event"]`, ID: `headers["X-Github-Delivery"]`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := adapter(t, config.Source{Name: "github", Map: tt.m})
			var ids []string
			for _, delivery := range []string{"72d3162e-cc78-11e3-81ab-4c9367dc0958", "8e4c5a10-cc78-11e3-81ab-4c9367dc0958"} {
				// As net/http receives them: canonical names.
				h := http.Header{"X-Github-Event": {"ping"}, "X-Github-Delivery": {delivery}}
				events, err := a.Decode(h, body)
				if err != nil {
					t.Fatal(err)
				}
				if e := events[0]; e.Type != "ping" || e.ID != "generic:github:"+delivery {
					t.Fatalf("type %q, id %q; want ping, generic:github:%s", e.Type, e.ID, delivery)
				}
				ids = append(ids, events[0].ID)
			}
			if ids[0] == ids[1] {
				t.Fatalf("two deliveries share the id %s", ids[0])
			}
		})
	}
}

// TestAbsentObjects maps a batch in which one item lacks the object a path
// goes through: an optional field is left empty and the batch accepted; a
// required one refuses the batch, naming the field.
func TestAbsentObjects(t *testing.T) {
	body := []byte(`[{"id":"1","type":"open","meta":{"campaign":"spring","ref":"r1"}},{"id":"2","type":"open"}]`)
	for _, tt := range []struct {
		name      string
		m         config.Map
		campaigns []string
		err       string
	}{
		{"optional", config.Map{ID: "id", Type: "type", Campaign: "meta.campaign", MessageID: "meta.ref"}, []string{"spring", ""}, ""},
		{"required", config.Map{ID: "meta.ref", Type: "type"}, nil, "element 1: map.id: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			events, err := adapter(t, config.Source{Map: tt.m}).Decode(nil, body)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Decode = %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range events {
				if e.Campaign != tt.campaigns[i] {
					t.Errorf("event %d: campaign %q, want %q", i, e.Campaign, tt.campaigns[i])
				}
			}
		})
	}
}

func TestCategoryFromType(t *testing.T) {
	// "type" is also an expr built-in; in a map it reads the field.
	a := adapter(t, config.Source{Map: config.Map{Type: "type", Time: "date"}})
	events, err := a.Decode(nil, []byte(`[{"type":"email.opened","date":1700000000},{"type":"Delivered"},{"type":"spamreport"},{"type":"weird"}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []event.Category{event.Open, event.Delivered, event.Complaint, ""}
	if !events[0].Time.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("time = %v", events[0].Time)
	}
	for i, e := range events {
		if e.Category != want[i] {
			t.Errorf("event %d (%s): category %q, want %q", i, e.Type, e.Category, want[i])
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range providertest.Seeds(f) {
		f.Add(s)
	}
	a := adapter(f, config.Source{Map: goldenMap})
	h := http.Header{"X-Github-Event": {"ping"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := a.Decode(h, body)
		if err == nil {
			for _, e := range events {
				if e.ID == "" || !e.Category.Valid() || !e.BounceClass.Valid() {
					t.Fatalf("bad event %+v", e)
				}
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	a := adapter(f, config.Source{Verify: config.Verify{HMAC: &config.HMAC{Header: "Stripe-Signature", Format: "stripe", Secret: "generic-secret-0123456789"}}})
	f.Add("t=1700000000,v1=abc", []byte(`{}`))
	f.Add(",,=,t=,v1=", []byte{})
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Stripe-Signature", sig)
		_ = a.Verify(r.Context(), r, body)
	})
}
