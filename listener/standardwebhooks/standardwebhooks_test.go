package standardwebhooks_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/providertest"
	"github.com/hookd/hookd/listener/standardwebhooks"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestDecodeGolden(t *testing.T) {
	providertest.Golden(t, *update, func(h http.Header, body []byte) ([]event.Event, error) {
		return standardwebhooks.Decode("app", nil, h, body)
	})
}

// TestSpecificationExample verifies the example of the Standard Webhooks
// specification (its secret, id, timestamp, body and signature).
func TestSpecificationExample(t *testing.T) {
	key, err := standardwebhooks.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	body := []byte(`{"test": 2432232314}`)
	at := time.Unix(1614265330, 0)
	for _, tt := range []struct {
		name, sig string
		now       time.Time
		ok        bool
	}{
		{"documented signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", at, true},
		{"among others (key rotation)", "v1,Zm9vYmFy v2,abc v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", at.Add(time.Minute), true},
		{"another version only", "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", at, false},
		{"six minutes later", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", at.Add(6 * time.Minute), false},
		{"one bit off", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=", at, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := h.Clone()
			h.Set("webhook-signature", tt.sig)
			err := standardwebhooks.Verify(standardwebhooks.Keys{Secret: key}, h, body, tt.now, listener.DefaultTolerance)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify = %v, want ok %v", err, tt.ok)
			}
			if err != nil && bytes.Contains([]byte(err.Error()), []byte("g0hM")) {
				t.Fatalf("error discloses a signature: %v", err)
			}
		})
	}
}

// TestSvixHeaders verifies the example of Svix's documentation, the same
// secret, id, timestamp, body and signature as the specification's, sent
// under Svix's header names, as Resend and other senders built on Svix
// send it; a delivery takes its three headers from one set, never both.
func TestSvixHeaders(t *testing.T) {
	key, err := standardwebhooks.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"test": 2432232314}`)
	const id, ts, sig = "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	for _, tt := range []struct {
		name    string
		headers map[string]string
		err     string // "" when verified
	}{
		{"webhook-*", map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig}, ""},
		{"svix-*", map[string]string{"svix-id": id, "svix-timestamp": ts, "svix-signature": sig}, ""},
		{"both sets", map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig,
			"svix-id": "other", "svix-timestamp": "1", "svix-signature": "v1,AAAA"}, ""},
		{"no id", map[string]string{"webhook-timestamp": ts, "webhook-signature": sig}, "missing header webhook-id (or svix-id)"},
		{"svix-* without its signature", map[string]string{"svix-id": id, "svix-timestamp": ts}, "missing header svix-signature"},
		{"svix-* without its timestamp", map[string]string{"svix-id": id, "svix-signature": sig}, "missing header svix-timestamp"},
		{"webhook-id with svix-* others", map[string]string{"webhook-id": id, "svix-timestamp": ts, "svix-signature": sig}, "missing header webhook-timestamp"},
		{"svix-* with another id", map[string]string{"svix-id": "msg_other", "svix-timestamp": ts, "svix-signature": sig}, "svix-signature: no matching v1 signature"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			err := standardwebhooks.Verify(standardwebhooks.Keys{Secret: key}, h, body, time.Unix(1614265330, 0), listener.DefaultTolerance)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || err.Error() != tt.err) {
				t.Fatalf("Verify = %v, want %q", err, tt.err)
			}
		})
	}
}

// TestConformanceSvix runs the suite with a Resend-shaped delivery signed
// under Svix's header names.
func TestConformanceSvix(t *testing.T) {
	raw, wrong := randomKey(24), randomKey(24)
	conformance(t, config.Source{Provider: standardwebhooks.Provider, Verify: config.Verify{Secret: "whsec_" + base64.StdEncoding.EncodeToString(raw)}},
		readFile(t, "testdata/resend-email-sent.json"), "svix", hmacSigner(raw, wrong))
}

// TestTime reads the event's time from the payload's timestamp, else from
// created_at, where Resend puts it: RFC 3339 text, or whole unix seconds
// as a number, as senders commonly send them; other numbers are refused,
// naming the field.
func TestTime(t *testing.T) {
	h := http.Header{}
	h.Set("webhook-id", "msg_time")
	for _, tt := range []struct {
		name, body string
		want       time.Time // zero: the listener uses the time of receipt
		err        string
	}{
		{"timestamp", `{"type":"email.sent","timestamp":"2024-02-22T23:41:12.126Z"}`, time.Date(2024, 2, 22, 23, 41, 12, 126e6, time.UTC), ""},
		{"created_at, as Resend sends it", `{"type":"email.sent","created_at":"2024-02-22T23:41:12.126Z","data":{"created_at":"2024-02-22T23:41:11.894719+00:00"}}`, time.Date(2024, 2, 22, 23, 41, 12, 126e6, time.UTC), ""},
		{"both: timestamp", `{"type":"email.sent","timestamp":"2024-02-22T23:41:12Z","created_at":"2024-02-22T23:00:00Z"}`, time.Date(2024, 2, 22, 23, 41, 12, 0, time.UTC), ""},
		{"created_at with an offset", `{"type":"email.sent","created_at":"2024-02-23T00:41:12+01:00"}`, time.Date(2024, 2, 22, 23, 41, 12, 0, time.UTC), ""},
		{"neither", `{"type":"email.sent"}`, time.Time{}, ""},
		{"created_at not RFC 3339", `{"type":"email.sent","created_at":"yesterday"}`, time.Time{}, `decode standard webhook: "created_at": not RFC 3339`},
		{"timestamp in unix seconds", `{"type":"email.sent","timestamp":1708645272}`, time.Date(2024, 2, 22, 23, 41, 12, 0, time.UTC), ""},
		{"timestamp in unix seconds, spaced", `{"type":"email.sent","timestamp" :  1708645272 }`, time.Date(2024, 2, 22, 23, 41, 12, 0, time.UTC), ""},
		{"created_at in unix seconds", `{"type":"email.sent","created_at":1708645272}`, time.Date(2024, 2, 22, 23, 41, 12, 0, time.UTC), ""},
		{"null timestamp: created_at", `{"type":"email.sent","timestamp":null,"created_at":1708645272}`, time.Date(2024, 2, 22, 23, 41, 12, 0, time.UTC), ""},
		{"empty timestamp: created_at", `{"type":"email.sent","timestamp":"","created_at":"2024-02-22T23:41:12Z"}`, time.Date(2024, 2, 22, 23, 41, 12, 0, time.UTC), ""},
		{"the first second", `{"type":"email.sent","timestamp":1}`, time.Unix(1, 0), ""},
		{"the last second of 2261", `{"type":"email.sent","timestamp":9214646399}`, time.Date(2261, 12, 31, 23, 59, 59, 0, time.UTC), ""},
		{"a fraction", `{"type":"email.sent","timestamp":1708645272.5}`, time.Time{},
			`decode standard webhook: "timestamp": want whole unix seconds, a number without a fraction or an exponent`},
		{"an exponent", `{"type":"email.sent","timestamp":1.708645272e9}`, time.Time{},
			`decode standard webhook: "timestamp": want whole unix seconds, a number without a fraction or an exponent`},
		{"a fraction in created_at", `{"type":"email.sent","created_at":1708645272.0}`, time.Time{},
			`decode standard webhook: "created_at": want whole unix seconds, a number without a fraction or an exponent`},
		{"zero", `{"type":"email.sent","timestamp":0}`, time.Time{}, outOfRange("timestamp")},
		{"negative", `{"type":"email.sent","timestamp":-1708645272}`, time.Time{}, outOfRange("timestamp")},
		{"after 2261", `{"type":"email.sent","timestamp":9214646400}`, time.Time{}, outOfRange("timestamp")},
		{"milliseconds", `{"type":"email.sent","timestamp":1708645272126}`, time.Time{}, outOfRange("timestamp")},
		{"beyond 64 bits", `{"type":"email.sent","timestamp":99999999999999999999}`, time.Time{}, outOfRange("timestamp")},
		{"true", `{"type":"email.sent","timestamp":true}`, time.Time{}, `decode standard webhook: "timestamp": want RFC 3339 text or unix seconds, got true or false`},
		{"an object", `{"type":"email.sent","timestamp":{"seconds":1708645272}}`, time.Time{}, `decode standard webhook: "timestamp": want RFC 3339 text or unix seconds, got an object`},
		{"an array in created_at", `{"type":"email.sent","created_at":[1708645272]}`, time.Time{}, `decode standard webhook: "created_at": want RFC 3339 text or unix seconds, got an array`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			events, err := standardwebhooks.Decode("app", nil, h, []byte(tt.body))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("Decode = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := events[0].Time; !got.Equal(tt.want) {
				t.Fatalf("time %v, want %v", got, tt.want)
			}
		})
	}
}

// outOfRange is Decode's error for a number in field outside the unix
// seconds it reads.
func outOfRange(field string) string {
	return `decode standard webhook: "` + field + `": unix seconds out of range: want 1 to 9214646399 (2261-12-31T23:59:59Z); for unix milliseconds, set the source's map.time to ` + field
}

func TestNewErrors(t *testing.T) {
	const pub = "whpk_NZHzzL1cq0FsjMyijqN1IWRXXoKHyF4sK6qY77Q5g6g="
	for _, tt := range []struct {
		name   string
		verify config.Verify
		field  string
		err    string // in the error
	}{
		{"neither secret nor public key", config.Verify{}, "verify.secret", "or verify.public_key"},
		{"not base64", config.Verify{Secret: "whsec_!!!"}, "verify.secret", "want the base64 of at least 16 bytes"},
		{"not base64 without the prefix", config.Verify{Secret: "plain-secret-value"}, "verify.secret", "want the base64 of at least 16 bytes"},
		{"too short", config.Verify{Secret: "whsec_MfKQ9r8GKYqrTwjU"}, "verify.secret", "at least 16 bytes"},
		{"a public key as the secret", config.Verify{Secret: pub}, "verify.secret", "belongs in verify.public_key"},
		{"a private key as the secret", config.Verify{Secret: "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "verify.secret", "private signing key"},
		{"public key without its prefix", config.Verify{PublicKey: "NZHzzL1cq0FsjMyijqN1IWRXXoKHyF4sK6qY77Q5g6g="}, "verify.public_key", `want "whpk_"`},
		{"public key of 31 bytes", config.Verify{PublicKey: "whpk_NZHzzL1cq0FsjMyijqN1IWRXXoKHyF4sK6qY77Q5gw=="}, "verify.public_key", "32-byte Ed25519 public key"},
		{"public key not base64", config.Verify{PublicKey: "whpk_not base64 at all"}, "verify.public_key", "32-byte Ed25519 public key"},
		{"a private key as the public key", config.Verify{PublicKey: "whsk_NZHzzL1cq0FsjMyijqN1IWRXXoKHyF4sK6qY77Q5g6g="}, "verify.public_key", "private signing key"},
		{"a secret as the public key", config.Verify{PublicKey: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "verify.public_key", "belongs in verify.secret"},
		{"a good public key, a bad secret", config.Verify{PublicKey: pub, Secret: "whsec_!!!"}, "verify.secret", "base64"},
		{"foreign key", config.Verify{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SigningKey: "x"}, "verify.signing_key", "not used by standardwebhooks"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := standardwebhooks.StandardWebhooks{}.New(config.Source{Verify: tt.verify}, listener.Env{})
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Field != tt.field || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("New = %v, want a *config.Error at %s containing %q", err, tt.field, tt.err)
			}
			for _, key := range []string{tt.verify.Secret, tt.verify.PublicKey} {
				if key != "" && strings.Contains(err.Error(), key) {
					t.Fatalf("error quotes a key: %v", err)
				}
			}
		})
	}
}

// TestParseSecret reads a secret with or without "whsec_", as the
// specification's libraries do: both give the same key, which verifies
// the specification's example.
func TestParseSecret(t *testing.T) {
	want, err := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, secret string
		ok           bool
	}{
		{"whsec_ and base64", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true},
		{"base64 alone", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true},
		{"the prefix twice", "whsec_whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false},
		{"the prefix alone", "whsec_", false},
		{"another case of the prefix", "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false},
		{"base64 without padding", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key, err := standardwebhooks.ParseSecret(tt.secret)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseSecret = %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				if b64 := strings.TrimPrefix(tt.secret, "whsec_"); b64 != "" && strings.Contains(err.Error(), b64) {
					t.Fatalf("error quotes the secret: %v", err)
				}
				return
			}
			if !bytes.Equal(key, want) {
				t.Fatalf("key %x, want %x", key, want)
			}
			h := http.Header{}
			h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
			h.Set("webhook-timestamp", "1614265330")
			h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
			if err := standardwebhooks.Verify(standardwebhooks.Keys{Secret: key}, h, []byte(`{"test": 2432232314}`), time.Unix(1614265330, 0), listener.DefaultTolerance); err != nil {
				t.Fatalf("the specification's example: %v", err)
			}
		})
	}
}

// TestConformanceBareSecret runs the suite with a source whose secret is
// the base64 without "whsec_".
func TestConformanceBareSecret(t *testing.T) {
	raw, wrong := randomKey(32), randomKey(32)
	conformance(t, config.Source{Provider: standardwebhooks.Provider, Verify: config.Verify{Secret: base64.StdEncoding.EncodeToString(raw)}},
		readFile(t, "testdata/email-delivered.json"), "webhook", hmacSigner(raw, wrong))
}

// signedHeaders returns the three headers of a delivery with id, sent at
// at, with the webhook-signature sig.
func signedHeaders(id string, at time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h
}

func TestConformance(t *testing.T) {
	raw, wrong := randomKey(24), randomKey(24)
	conformance(t, config.Source{Provider: standardwebhooks.Provider, Verify: config.Verify{Secret: "whsec_" + base64.StdEncoding.EncodeToString(raw)}},
		readFile(t, "testdata/email-bounced.json"), "webhook", hmacSigner(raw, wrong))
}

// conformance runs providertest's suite against src with the delivery
// valid, signed by sig (with a wrong key when bad) under the headers
// PREFIX-id, PREFIX-timestamp and PREFIX-signature: "webhook", or Svix's
// "svix".
func conformance(t *testing.T, src config.Source, valid []byte, prefix string, sig func(bad bool, id, ts string, body []byte) string) {
	t.Helper()
	id, ts, signature := prefix+"-id", prefix+"-timestamp", prefix+"-signature"
	providertest.Run(t, providertest.Case{
		Source: src,
		Valid:  valid,
		Events: 1,
		Sign: func(_ testing.TB, body []byte, at time.Time, bad bool) (http.Header, []byte) {
			const msg = "msg_conformance"
			unix := strconv.FormatInt(at.Unix(), 10)
			h := http.Header{}
			h.Set(id, msg)
			h.Set(ts, unix)
			h.Set(signature, sig(bad, msg, unix, body))
			return h, body
		},
		Timestamped: true,
		Tamper:      providertest.FlipByte,
		Strip: map[string]func(http.Header, []byte) (http.Header, []byte){
			id: del(id), ts: del(ts), signature: del(signature),
		},
	})
}

// hmacSigner signs "v1," with key, or with wrong when bad.
func hmacSigner(key, wrong []byte) func(bad bool, id, ts string, body []byte) string {
	return func(bad bool, id, ts string, body []byte) string {
		if bad {
			return v1(wrong, id, ts, body)
		}
		return v1(key, id, ts, body)
	}
}

// randomKey returns n random bytes.
func randomKey(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func del(name string) func(http.Header, []byte) (http.Header, []byte) {
	return func(h http.Header, body []byte) (http.Header, []byte) {
		h.Del(name)
		return h, body
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range providertest.Seeds(f) {
		f.Add(s)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_fuzz")
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = standardwebhooks.Decode("app", nil, h, body)
	})
}

// FuzzVerify checks that nothing but the specification's example, signed
// with the secret (v1) or the test key (v1a, testdata/v1a), verifies.
func FuzzVerify(f *testing.F) {
	secret, _ := standardwebhooks.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	pub, err := standardwebhooks.ParsePublicKey(strings.TrimSpace(string(readFile(f, "testdata/v1a/public-key"))))
	if err != nil {
		f.Fatal(err)
	}
	v1a := strings.TrimSpace(string(readFile(f, "testdata/v1a/signature")))
	other := strings.TrimSpace(string(readFile(f, "testdata/v1a/signature-other-key")))
	const id, ts, v1 = "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	body := readFile(f, "testdata/v1a/body.json")
	f.Add(id, ts, v1, body)
	f.Add(id, ts, v1a, body)
	f.Add(id, ts, other+" "+v1a, body)
	f.Add(id, ts, v1+" "+v1a, body)
	f.Add(id, ts, "v1a,"+strings.TrimPrefix(v1, "v1,"), body)
	f.Add(id, ts, "v1,"+strings.TrimPrefix(v1a, "v1a,"), body)
	f.Add(id, ts, strings.Repeat(other+" ", standardwebhooks.MaxAsymmetric)+v1a, body)
	f.Add("", "-1", "v1, v1,, v1a v1a,", []byte{})
	now := time.Unix(1614265330, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		for _, keys := range []standardwebhooks.Keys{{Secret: secret}, {PublicKey: pub}, {Secret: secret, PublicKey: pub}} {
			err := standardwebhooks.Verify(keys, h, body, now, listener.DefaultTolerance)
			if err == nil && !bytes.Equal(body, []byte(`{"test": 2432232314}`)) {
				t.Fatalf("accepted a body the keys never signed: %q", body)
			}
		}
	})
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMapOverrides reads a non-email payload's recipient and category
// through the source's map.
func TestMapOverrides(t *testing.T) {
	a, err := standardwebhooks.StandardWebhooks{}.New(config.Source{Name: "billing",
		Verify: config.Verify{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		Map:    config.Map{Email: `data.customer.email`, Category: `type == "invoice.paid" ? "delivered" : nil`, MessageID: `data.id`}},
		listener.Env{})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_invoice1")
	events, err := a.Decode(h, readFile(t, "testdata/invoice-paid.json"))
	if err != nil {
		t.Fatal(err)
	}
	e := events[0]
	if e.Email != "payer@example.com" || e.Domain != "example.com" || e.Category != event.Delivered || e.MessageID != "in_1" || e.ID != "standardwebhooks:billing:msg_invoice1" {
		t.Fatalf("event = %+v", e)
	}
	bad, err := standardwebhooks.StandardWebhooks{}.New(config.Source{
		Verify: config.Verify{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		Map:    config.Map{Category: `"not-a-category"`}}, listener.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Decode(h, readFile(t, "testdata/invoice-paid.json")); err == nil {
		t.Fatal("a map giving an unknown category decoded")
	}
}

// TestMapExactNumbers maps numeric ids above 2^53 and beyond int64 and a
// time in unix milliseconds: every digit reaches the event.
func TestMapExactNumbers(t *testing.T) {
	a, err := standardwebhooks.StandardWebhooks{}.New(config.Source{Name: "billing",
		Verify: config.Verify{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		Map:    config.Map{ID: `data.seq`, MessageID: `data.msg_id`, Time: `data.at`}},
		listener.Env{})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	for _, tt := range []struct {
		name, data, id, messageID, time string
	}{
		{"2^53", `{"seq":9007199254740992,"msg_id":12345678901234567890,"at":1714550400123}`, "standardwebhooks:billing:9007199254740992", "12345678901234567890", "2024-05-01T08:00:00.123Z"},
		{"2^53+1", `{"seq":9007199254740993,"msg_id":12345678901234567891,"at":1714550400.123}`, "standardwebhooks:billing:9007199254740993", "12345678901234567891", "2024-05-01T08:00:00.123Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			events, err := a.Decode(h, []byte(`{"type":"email.opened","data":`+tt.data+`}`))
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

// setMapType is what Decode's error for a payload without a usable type
// tells the user to do.
const setMapType = "if the sender puts the event's type elsewhere, set the source's map.type to an expression that reads it"

// TestMapType maps the type: it may stand for a payload's missing "type",
// and the category and bounce class follow the mapped type unless mapped
// themselves.
func TestMapType(t *testing.T) {
	const body = `{"event_name":"email.bounced","timestamp":"2024-05-01T10:00:00Z","data":{"email":"a@example.com","bounce":{"type":"Permanent"}}}`
	tests := []struct {
		name     string
		m        config.Map
		body     string
		wantType string
		wantCat  event.Category
		wantBC   event.BounceClass
		wantErr  string
	}{
		{name: "no type and no map", body: body, wantErr: `decode standard webhook: "type": missing or empty; ` + setMapType},
		{name: "a type that is not a string, and no map", body: `{"type":5,"event_name":"email.sent"}`,
			wantErr: `decode standard webhook: "type": want a string, got a number; ` + setMapType},
		{name: "map.type stands for a type that is not a string", m: config.Map{Type: `event_name`}, body: `{"type":5,"event_name":"email.sent"}`,
			wantType: "email.sent", wantCat: event.Sent},
		{name: "map.type stands for it", m: config.Map{Type: `event_name`}, body: body, wantType: "email.bounced", wantCat: event.Bounce, wantBC: event.Hard},
		{name: "map.type over the payload's", m: config.Map{Type: `"email.opened"`}, body: `{"type":"email.bounced","data":{}}`, wantType: "email.opened", wantCat: event.Open},
		{name: "a mapped category wins", m: config.Map{Type: `event_name`, Category: `"blocked"`}, body: body, wantType: "email.bounced", wantCat: event.Blocked},
		{name: "map.type giving nothing", m: config.Map{Type: `missing_field`}, body: body, wantErr: "decode standard webhook: map.type: `missing_field` gave nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := standardwebhooks.StandardWebhooks{}.New(config.Source{Name: "s",
				Verify: config.Verify{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, Map: tt.m}, listener.Env{})
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			h.Set("webhook-id", "msg_1")
			events, err := a.Decode(h, []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("Decode: %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e := events[0]; e.Type != tt.wantType || e.Category != tt.wantCat || e.BounceClass != tt.wantBC {
				t.Errorf("type %q category %q bounce class %q; want %q %q %q", e.Type, e.Category, e.BounceClass, tt.wantType, tt.wantCat, tt.wantBC)
			}
		})
	}
}

// TestIDs checks that ids are scoped by the source, whether they come from
// webhook-id, svix-id or map.id: the specification promises a webhook-id
// unique per sender only, so two sources (two senders, both counting
// msg_1, msg_2, ...) must not share one, while a retry of a delivery to
// one source keeps its id.
func TestIDs(t *testing.T) {
	body := []byte(`{"type":"email.sent","timestamp":"2024-02-22T23:41:12Z","data":{"seq":42}}`)
	for _, tt := range []struct {
		name   string
		header string // the id header, set to msg_1
		m      config.Map
		want   string // the id at source app-a
	}{
		{name: "webhook-id", header: "webhook-id", want: "standardwebhooks:app-a:msg_1"},
		{name: "svix-id", header: "svix-id", want: "standardwebhooks:app-a:msg_1"},
		{name: "map.id", header: "webhook-id", m: config.Map{ID: `data.seq`}, want: "standardwebhooks:app-a:42"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := func(source string) string {
				t.Helper()
				a, err := standardwebhooks.StandardWebhooks{}.New(config.Source{Name: source,
					Verify: config.Verify{Secret: exampleSecret}, Map: tt.m}, listener.Env{})
				if err != nil {
					t.Fatal(err)
				}
				h := http.Header{}
				h.Set(tt.header, "msg_1")
				events, err := a.Decode(h, body)
				if err != nil || len(events) != 1 {
					t.Fatalf("%s: Decode = %v, %v", source, events, err)
				}
				return events[0].ID
			}
			a, again, b := id("app-a"), id("app-a"), id("app-b")
			if a != tt.want {
				t.Errorf("id %s, want %s", a, tt.want)
			}
			if again != a {
				t.Errorf("retried delivery: id %s, then %s", a, again)
			}
			if b == a {
				t.Errorf("sources app-a and app-b both gave id %s", a)
			}
		})
	}
}

// TestSendersShareIDs posts to a real listener from two senders, each a
// source with its own secret, that both number their messages msg_1,
// msg_2, ...: the second sender's msg_1 is an event of its own, not a
// duplicate of the first's, while a retry of a delivery to the same
// source still is.
func TestSendersShareIDs(t *testing.T) {
	keyA, keyB := randomKey(24), randomKey(24)
	url, log := providertest.Serve(t, listener.Config{Sources: []config.Source{
		{Name: "sender-a", Provider: standardwebhooks.Provider, Verify: config.Verify{Secret: "whsec_" + base64.StdEncoding.EncodeToString(keyA)}},
		{Name: "sender-b", Provider: standardwebhooks.Provider, Verify: config.Verify{Secret: "whsec_" + base64.StdEncoding.EncodeToString(keyB)}},
	}})
	bodyA := []byte(`{"type":"email.sent","data":{"to":["a@example.com"]}}`)
	bodyB := []byte(`{"type":"invoice.paid","data":{"id":"in_1"}}`)
	for _, tt := range []struct {
		name, source string
		key, body    []byte
		want         string // the answer's counts
	}{
		{"sender a's msg_1", "sender-a", keyA, bodyA, `"accepted":1,"duplicates":0`},
		{"sender b's msg_1", "sender-b", keyB, bodyB, `"accepted":1,"duplicates":0`},
		{"sender a retrying its msg_1", "sender-a", keyA, bodyA, `"accepted":0,"duplicates":1`},
		{"sender b retrying its msg_1", "sender-b", keyB, bodyB, `"accepted":0,"duplicates":1`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			h := signedHeaders("msg_1", now, v1(tt.key, "msg_1", strconv.FormatInt(now.Unix(), 10), tt.body))
			status, answer := post(t, url+"/hooks/"+tt.source, h, tt.body)
			if status != http.StatusOK || !strings.Contains(answer, tt.want) {
				t.Fatalf("%d %s, want 200 with %s", status, answer, tt.want)
			}
		})
	}
	if got := providertest.Messages(t, log, eventlog.TopicEvents, 2); len(got) != 2 {
		t.Fatalf("log holds %d events, want 2", len(got))
	}
}

// TestMapTime maps the time: map.time stands for a payload time that
// Decode does not read itself (unix milliseconds, a fraction), and a
// map.time that gives nothing leaves the payload's error.
func TestMapTime(t *testing.T) {
	for _, tt := range []struct {
		name, time, body string
		want             string // RFC 3339
		wantErr          string
	}{
		{name: "milliseconds", time: `timestamp`, body: `{"type":"email.sent","timestamp":1708645272126}`, want: "2024-02-22T23:41:12.126Z"},
		{name: "a fraction", time: `timestamp`, body: `{"type":"email.sent","timestamp":1708645272.5}`, want: "2024-02-22T23:41:12.5Z"},
		{name: "over a good timestamp", time: `data.at`, body: `{"type":"email.sent","timestamp":1708645272,"data":{"at":"2024-05-01T08:00:00Z"}}`, want: "2024-05-01T08:00:00Z"},
		{name: "giving nothing", time: `data.at`, body: `{"type":"email.sent","timestamp":1708645272126}`, wantErr: outOfRange("timestamp")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := standardwebhooks.StandardWebhooks{}.New(config.Source{Name: "s",
				Verify: config.Verify{Secret: exampleSecret}, Map: config.Map{Time: tt.time}}, listener.Env{})
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			h.Set("webhook-id", "msg_1")
			events, err := a.Decode(h, []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Decode = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := events[0].Time.Format(time.RFC3339Nano); got != tt.want {
				t.Fatalf("time %s, want %s", got, tt.want)
			}
		})
	}
}

// TestShortSecretWarning configures sources with secrets of several
// lengths: one that decodes to fewer than 24 bytes, the least the
// specification asks for, still starts, and serve logs a warning naming
// the source and verify.secret without quoting the secret; from 24 bytes
// up (the specification's own example has 24), or with a public key only,
// there is none.
func TestShortSecretWarning(t *testing.T) {
	secret := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return "whsec_" + base64.StdEncoding.EncodeToString(b)
	}
	for _, tt := range []struct {
		name   string
		verify config.Verify
		warn   bool
	}{
		{"16 bytes, the least hookd accepts", config.Verify{Secret: secret(16)}, true},
		{"23 bytes", config.Verify{Secret: secret(23)}, true},
		{"23 bytes without the prefix", config.Verify{Secret: strings.TrimPrefix(secret(23), "whsec_")}, true},
		{"the specification's example, 24 bytes", config.Verify{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, false},
		{"32 bytes", config.Verify{Secret: secret(32)}, false},
		{"80 bytes", config.Verify{Secret: secret(80)}, false},
		{"a public key only", config.Verify{PublicKey: "whpk_NZHzzL1cq0FsjMyijqN1IWRXXoKHyF4sK6qY77Q5g6g="}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{Name: "app", Provider: standardwebhooks.Provider, Verify: tt.verify}
			if got := listener.Warnings(src); (len(got) > 0) != tt.warn {
				t.Fatalf("Warnings = %q, want a warning: %v", got, tt.warn)
			}
			log, err := eventlog.Open(t.Context(), eventlog.Config{Backend: "sqlite", Dir: t.TempDir()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			var logs bytes.Buffer
			if _, err := listener.New(listener.Config{Sources: []config.Source{src}}, log, slog.New(slog.NewTextHandler(&logs, nil)), nil); err != nil {
				t.Fatalf("a source with this secret does not start: %v", err)
			}
			var warned bool
			for line := range strings.Lines(logs.String()) {
				if strings.Contains(line, "level=WARN") && strings.Contains(line, "verify.secret") {
					warned = true
					if !strings.Contains(line, "source=app") || !strings.Contains(line, "24") {
						t.Errorf("warning does not name the source and the length asked for: %s", line)
					}
					if b64 := strings.TrimPrefix(tt.verify.Secret, "whsec_"); b64 != "" && strings.Contains(line, b64) {
						t.Errorf("warning quotes the secret: %s", line)
					}
				}
			}
			if warned != tt.warn {
				t.Fatalf("serve warned: %v, want %v; log:\n%s", warned, tt.warn, logs.String())
			}
		})
	}
}

// TestBounceSubType reads the class of a bounce from data.bounce as Resend
// sends it (SES's bounce types): Permanent is hard, Transient soft, and a
// Permanent bounce whose subType says the address was on a suppression
// list (Suppressed, OnAccountSuppressionList, as in Resend's own
// email.bounced example) is blocked with no class, as the ses provider
// has the same records: nothing was sent, and the bounce that put the
// address on the list was an event of its own.
func TestBounceSubType(t *testing.T) {
	for _, tt := range []struct {
		name, bounce string
		m            config.Map
		wantCat      event.Category
		wantBC       event.BounceClass
	}{
		{name: "Permanent General", bounce: `{"type":"Permanent","subType":"General"}`, wantCat: event.Bounce, wantBC: event.Hard},
		{name: "Permanent NoEmail", bounce: `{"type":"Permanent","subType":"NoEmail"}`, wantCat: event.Bounce, wantBC: event.Hard},
		{name: "Transient MailboxFull", bounce: `{"type":"Transient","subType":"MailboxFull"}`, wantCat: event.Bounce, wantBC: event.Soft},
		{name: "Permanent Suppressed", bounce: `{"type":"Permanent","subType":"Suppressed"}`, wantCat: event.Blocked},
		{name: "Permanent OnAccountSuppressionList", bounce: `{"type":"Permanent","subType":"OnAccountSuppressionList"}`, wantCat: event.Blocked},
		{name: "Undetermined", bounce: `{"type":"Undetermined","subType":"Undetermined"}`, wantCat: event.Bounce},
		{name: "a mapped category stands", bounce: `{"type":"Permanent","subType":"Suppressed"}`, m: config.Map{Category: `"bounce"`}, wantCat: event.Bounce, wantBC: event.Hard},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := standardwebhooks.StandardWebhooks{}.New(config.Source{Name: "s",
				Verify: config.Verify{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, Map: tt.m}, listener.Env{})
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			h.Set("webhook-id", "msg_1")
			body := `{"type":"email.bounced","created_at":"2024-11-22T23:41:12.126Z","data":{"email_id":"e1","to":["a@example.com"],"bounce":` + tt.bounce + `}}`
			events, err := a.Decode(h, []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if e := events[0]; e.Type != "email.bounced" || e.Category != tt.wantCat || e.BounceClass != tt.wantBC {
				t.Errorf("type %q category %q bounce class %q; want email.bounced %q %q", e.Type, e.Category, e.BounceClass, tt.wantCat, tt.wantBC)
			}
		})
	}
}

// TestMessageIDNumber reads a message id that the sender writes as a JSON
// integer, without a map: every digit, where it was dropped (only a string
// was read); a value of another kind leaves it empty.
func TestMessageIDNumber(t *testing.T) {
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	for _, tt := range []struct{ name, data, want string }{
		{"a string", `{"message_id":"m-1"}`, "m-1"},
		{"an integer beyond 2^53", `{"message_id":12345678901234567891}`, "12345678901234567891"},
		{"a negative integer", `{"message_id":-42}`, "-42"},
		{"email_id first", `{"email_id":7,"message_id":8}`, "7"},
		{"a fraction", `{"message_id":1.5}`, ""},
		{"an object", `{"message_id":{"id":1}}`, ""},
		{"null", `{"message_id":null}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			events, err := standardwebhooks.Decode("app", nil, h, []byte(`{"type":"email.opened","data":`+tt.data+`}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := events[0].MessageID; got != tt.want {
				t.Fatalf("message id %q, want %q", got, tt.want)
			}
		})
	}
}
