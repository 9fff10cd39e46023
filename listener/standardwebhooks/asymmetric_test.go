package standardwebhooks_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/providertest"
	"github.com/hookd/hookd/listener/standardwebhooks"
)

// v1aFixture is testdata/v1a: the specification's example delivery signed
// with an Ed25519 key whose private half no longer exists.
type v1aFixture struct {
	publicKey     string // "whpk_..."
	sig, otherSig string // "v1a,..." under the key and under another one
	body          []byte
}

const (
	exampleID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	exampleTS = "1614265330"
	// exampleV1 is the specification's HMAC signature of the example,
	// under exampleSecret.
	exampleV1     = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	exampleSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

func readV1a(t testing.TB) v1aFixture {
	t.Helper()
	line := func(name string) string { return strings.TrimSpace(string(readFile(t, "testdata/v1a/"+name))) }
	return v1aFixture{publicKey: line("public-key"), sig: line("signature"), otherSig: line("signature-other-key"),
		body: readFile(t, "testdata/v1a/body.json")}
}

// signV1a returns the "v1a," signature of a delivery under priv, over the
// signed content built here rather than by the package under test.
func signV1a(priv ed25519.PrivateKey, id, ts string, body []byte) string {
	return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(id+"."+ts+"."+string(body))))
}

// TestAsymmetric verifies v1a signatures: the known answer of testdata/v1a
// and signatures made here, with a public key alone, a secret alone and
// both. A v1 entry never verifies under the public key (which anyone may
// know), and a v1a entry never verifies without one.
func TestAsymmetric(t *testing.T) {
	fx := readV1a(t)
	pub, err := standardwebhooks.ParsePublicKey(fx.publicKey)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := standardwebhooks.ParseSecret(exampleSecret)
	if err != nil {
		t.Fatal(err)
	}
	// A key pair of our own for signatures the fixture has not.
	pub2, priv2, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1614265330, 0)
	onlyPub, onlySecret, both := standardwebhooks.Keys{PublicKey: pub}, standardwebhooks.Keys{Secret: secret}, standardwebhooks.Keys{Secret: secret, PublicKey: pub}
	own := standardwebhooks.Keys{PublicKey: pub2}
	// An HMAC keyed with what is public: the key's bytes, or its text.
	macUnderPublic := "v1," + base64.StdEncoding.EncodeToString(standardwebhooks.Sign(pub, exampleID, exampleTS, fx.body))
	macUnderPublicText := "v1," + base64.StdEncoding.EncodeToString(standardwebhooks.Sign([]byte(fx.publicKey), exampleID, exampleTS, fx.body))
	many := func(n int, last string) string {
		return strings.Repeat(fx.otherSig+" ", n) + last
	}
	for _, tt := range []struct {
		name string
		keys standardwebhooks.Keys
		id   string // default exampleID
		ts   string // default exampleTS
		sig  string
		body string // default the fixture's
		now  time.Time
		err  string // "" when verified
	}{
		{name: "known answer", keys: onlyPub, sig: fx.sig, now: at},
		{name: "known answer, svix headers", keys: onlyPub, sig: fx.sig, now: at, id: "svix"},
		{name: "among others (key rotation)", keys: onlyPub, sig: fx.otherSig + " v1,Zm9vYmFy v2,abc " + fx.sig, now: at.Add(time.Minute)},
		{name: "another key only", keys: onlyPub, sig: fx.otherSig, now: at, err: "webhook-signature: no matching v1a signature"},
		{name: "five minutes early", keys: onlyPub, sig: fx.sig, now: at.Add(-5 * time.Minute)},
		{name: "six minutes later (expired)", keys: onlyPub, sig: fx.sig, now: at.Add(6 * time.Minute), err: "webhook-timestamp: timestamp outside the tolerance of 5m0s"},
		{name: "six minutes early (future)", keys: onlyPub, sig: fx.sig, now: at.Add(-6 * time.Minute), err: "webhook-timestamp: timestamp outside the tolerance of 5m0s"},
		{name: "tampered body", keys: onlyPub, sig: fx.sig, body: `{"test": 2432232315}`, now: at, err: "webhook-signature: no matching v1a signature"},
		{name: "another id", keys: onlyPub, sig: fx.sig, id: "msg_other", now: at, err: "webhook-signature: no matching v1a signature"},
		{name: "another timestamp, within the tolerance", keys: onlyPub, sig: fx.sig, ts: "1614265331", now: at, err: "webhook-signature: no matching v1a signature"},
		{name: "one bit off", keys: onlyPub, sig: strings.Replace(fx.sig, "F12h", "F12i", 1), now: at, err: "webhook-signature: no matching v1a signature"},
		{name: "truncated", keys: onlyPub, sig: fx.sig[:len(fx.sig)-4], now: at, err: "webhook-signature: no matching v1a signature"},
		{name: "under v1", keys: onlyPub, sig: "v1," + strings.TrimPrefix(fx.sig, "v1a,"), now: at, err: "webhook-signature: no matching v1a signature"},
		{name: "public key only: the secret's v1", keys: onlyPub, sig: exampleV1, now: at, err: "webhook-signature: no matching v1a signature"},
		{name: "public key only: v1 keyed with the public key", keys: onlyPub, sig: macUnderPublic, now: at, err: "webhook-signature: no matching v1a signature"},
		{name: "public key only: v1 keyed with its text", keys: onlyPub, sig: macUnderPublicText, now: at, err: "webhook-signature: no matching v1a signature"},
		{name: "secret only: a good v1a", keys: onlySecret, sig: fx.sig, now: at, err: "webhook-signature: no matching v1 signature"},
		{name: "secret only: the v1 beside a v1a", keys: onlySecret, sig: fx.sig + " " + exampleV1, now: at},
		{name: "both: v1", keys: both, sig: exampleV1, now: at},
		{name: "both: v1a", keys: both, sig: fx.sig, now: at},
		{name: "both: neither", keys: both, sig: fx.otherSig + " v1,Zm9vYmFy", now: at, err: "webhook-signature: no matching v1 or v1a signature"},
		{name: "both: expired", keys: both, sig: exampleV1 + " " + fx.sig, now: at.Add(6 * time.Minute), err: "webhook-timestamp: timestamp outside the tolerance of 5m0s"},
		{name: "signed here", keys: own, sig: signV1a(priv2, exampleID, exampleTS, fx.body), now: at},
		{name: "signed here, other body", keys: own, sig: signV1a(priv2, exampleID, exampleTS, []byte(`{}`)), now: at, err: "webhook-signature: no matching v1a signature"},
		{name: "the limit of v1a signatures", keys: onlyPub, sig: many(standardwebhooks.MaxAsymmetric-1, fx.sig), now: at},
		{name: "over the limit of v1a signatures", keys: onlyPub, sig: many(standardwebhooks.MaxAsymmetric, fx.sig), now: at,
			err: "webhook-signature: more than " + strconv.Itoa(standardwebhooks.MaxAsymmetric) + " v1a signatures"},
		{name: "v1 entries do not count to the limit", keys: onlyPub, sig: strings.Repeat(exampleV1+" ", 3*standardwebhooks.MaxAsymmetric) + fx.sig, now: at},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, ts, body := exampleID, exampleTS, fx.body
			if tt.id != "" && tt.id != "svix" {
				id = tt.id
			}
			if tt.ts != "" {
				ts = tt.ts
			}
			if tt.body != "" {
				body = []byte(tt.body)
			}
			prefix := "webhook-"
			if tt.id == "svix" {
				prefix = "svix-"
			}
			h := http.Header{}
			h.Set(prefix+"id", id)
			h.Set(prefix+"timestamp", ts)
			h.Set(prefix+"signature", tt.sig)
			err := standardwebhooks.Verify(tt.keys, h, body, tt.now, listener.DefaultTolerance)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || err.Error() != tt.err) {
				t.Fatalf("Verify = %v, want %q", err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(fx.sig, "v1a,")[:8]) {
				t.Fatalf("error discloses a signature: %v", err)
			}
		})
	}
}

// TestConformanceAsymmetric runs the suite with a source that has only a
// public key, each delivery signed v1a.
func TestConformanceAsymmetric(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, wrong, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	conformance(t, config.Source{Provider: standardwebhooks.Provider, Verify: config.Verify{PublicKey: "whpk_" + base64.StdEncoding.EncodeToString(pub)}},
		readFile(t, "testdata/email-opened.json"), "webhook", func(bad bool, id, ts string, body []byte) string {
			if bad {
				return signV1a(wrong, id, ts, body)
			}
			return signV1a(priv, id, ts, body)
		})
}

// TestListenerKeys posts deliveries to a real listener with three sources
// of one sender, keyed with its public key, its secret, and both: each
// takes the signatures it has a key for and refuses the others with 401.
func TestListenerKeys(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	publicKey, whsec := "whpk_"+base64.StdEncoding.EncodeToString(pub), "whsec_"+base64.StdEncoding.EncodeToString(secret)
	url, _ := providertest.Serve(t, listener.Config{Sources: []config.Source{
		{Name: "public", Provider: standardwebhooks.Provider, Verify: config.Verify{PublicKey: publicKey}},
		{Name: "secret", Provider: standardwebhooks.Provider, Verify: config.Verify{Secret: whsec}},
		{Name: "both", Provider: standardwebhooks.Provider, Verify: config.Verify{PublicKey: publicKey, Secret: whsec}},
	}})
	body := readFile(t, "testdata/email-opened.json")
	for i, tt := range []struct {
		name, source string
		sign         func(id, ts string) string
		status       int
		ago          time.Duration // how long before now it was signed
	}{
		{"v1a to the public key", "public", func(id, ts string) string { return signV1a(priv, id, ts, body) }, 200, 0},
		{"v1 to the public key", "public", func(id, ts string) string { return v1(secret, id, ts, body) }, 401, 0},
		{"v1 keyed with the public key, to the public key", "public", func(id, ts string) string { return v1(pub, id, ts, body) }, 401, 0},
		{"v1a of another key to the public key", "public", func(id, ts string) string { return signV1a(other, id, ts, body) }, 401, 0},
		{"v1a to the secret", "secret", func(id, ts string) string { return signV1a(priv, id, ts, body) }, 401, 0},
		{"v1 to the secret", "secret", func(id, ts string) string { return v1(secret, id, ts, body) }, 200, 0},
		{"v1a to both", "both", func(id, ts string) string { return signV1a(priv, id, ts, body) }, 200, 0},
		{"v1 to both", "both", func(id, ts string) string { return v1(secret, id, ts, body) }, 200, 0},
		{"neither to both", "both", func(id, ts string) string { return signV1a(other, id, ts, body) + " " + v1(pub, id, ts, body) }, 401, 0},
		{"v1a sent an hour ago, to both", "both", func(id, ts string) string { return signV1a(priv, id, ts, body) }, 401, time.Hour},
		{"v1 sent an hour ago, to both", "both", func(id, ts string) string { return v1(secret, id, ts, body) }, 401, time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, at := "msg_listener_"+strconv.Itoa(i), time.Now().Add(-tt.ago)
			status, answer := post(t, url+"/hooks/"+tt.source, signedHeaders(id, at, tt.sign(id, strconv.FormatInt(at.Unix(), 10))), body)
			if status != tt.status {
				t.Fatalf("%d %s, want %d", status, answer, tt.status)
			}
		})
	}
}

// v1 returns the "v1," signature of a delivery under key.
func v1(key []byte, id, ts string, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(standardwebhooks.Sign(key, id, ts, body))
}

// post sends body with h to url and returns the status and the answer.
func post(t *testing.T, url string, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
