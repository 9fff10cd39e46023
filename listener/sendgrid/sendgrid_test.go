package sendgrid_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
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
	"github.com/hookd/hookd/listener/sendgrid"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestDecodeGolden(t *testing.T) {
	providertest.Golden(t, *update, func(_ http.Header, body []byte) ([]event.Event, error) {
		return sendgrid.Decode(body)
	})
}

func newKey(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k, base64.StdEncoding.EncodeToString(der)
}

// sign signs as SendGrid does: ECDSA over SHA-256 of the timestamp's bytes
// then the body, base64 of the ASN.1 DER signature.
func sign(t testing.TB, k *ecdsa.PrivateKey, ts string, body []byte) string {
	t.Helper()
	d := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func TestConformance(t *testing.T) {
	key, pub := newKey(t)
	other, _ := newKey(t)
	body, err := os.ReadFile("testdata/delivery-events.json")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := os.ReadFile("testdata/malformed-one-bad-element.json")
	if err != nil {
		t.Fatal(err)
	}
	providertest.Run(t, providertest.Case{
		Source:   config.Source{Provider: sendgrid.Provider, Verify: config.Verify{PublicKey: pub}},
		Valid:    body,
		Events:   6,
		BadBatch: bad,
		Sign: func(t testing.TB, body []byte, at time.Time, wrong bool) (http.Header, []byte) {
			k := key
			if wrong {
				k = other
			}
			ts := strconv.FormatInt(at.Unix(), 10)
			h := http.Header{}
			h.Set(sendgrid.HeaderTimestamp, ts)
			h.Set(sendgrid.HeaderSignature, sign(t, k, ts, body))
			return h, body
		},
		Timestamped: true,
		StaleBy:     sendgrid.DefaultTolerance + time.Hour,
		Tamper:      providertest.FlipByte,
		Strip: map[string]func(http.Header, []byte) (http.Header, []byte){
			"signature header": func(h http.Header, b []byte) (http.Header, []byte) { h.Del(sendgrid.HeaderSignature); return h, b },
			"timestamp header": func(h http.Header, b []byte) (http.Header, []byte) { h.Del(sendgrid.HeaderTimestamp); return h, b },
		},
	})
}

// TestEmail decodes the forms "email" takes: an address, or none at all,
// as in an account_status_change, which is about the account and not a
// message. An event without an address is kept with Email and Domain
// empty; an "email" that is there but not a string refuses the delivery.
func TestEmail(t *testing.T) {
	for _, tt := range []struct {
		name, email string // email: the JSON after "email": ("" leaves the key out)
		wantEmail   string
		wantDomain  string
		wantErr     string // "" when decoded
	}{
		{name: "an address", email: `" Example@Test.com"`, wantEmail: "example@test.com", wantDomain: "test.com"},
		{name: "absent, as in an account_status_change"},
		{name: "null, as absent", email: `null`},
		{name: "empty", email: `""`},
		{name: "a number", email: `42`, wantErr: `decode sendgrid delivery: element 0: "email": want a string, got a number`},
		{name: "an object", email: `{"address":"a@b.c"}`, wantErr: `decode sendgrid delivery: element 0: "email": want a string, got an object`},
		{name: "true", email: `true`, wantErr: `decode sendgrid delivery: element 0: "email": want a string, got true or false`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := `[{"event":"account_status_change","sg_event_id":"e1","timestamp":1709142428,"type":"compliance_suspend"`
			if tt.email != "" {
				body += `,"email":` + tt.email
			}
			body += `}]`
			events, err := sendgrid.Decode([]byte(body))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Decode = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if e := events[0]; e.Email != tt.wantEmail || e.Domain != tt.wantDomain || e.ID != "sendgrid:e1" {
				t.Fatalf("id %q, email %q, domain %q; want sendgrid:e1, %q, %q", e.ID, e.Email, e.Domain, tt.wantEmail, tt.wantDomain)
			}
		})
	}
}

// TestEventCase decodes event names in any case as SendGrid's lower-case
// ones, as its reserved-keys example posts "Processed": the type is
// lower-cased, and the category and bounce class follow it.
func TestEventCase(t *testing.T) {
	for _, tt := range []struct {
		name, event, bounceType string
		wantType                string
		wantCategory            event.Category
		wantClass               event.BounceClass
	}{
		{name: "processed", event: "processed", wantType: "processed", wantCategory: event.Sent},
		{name: "Processed, as documented", event: "Processed", wantType: "processed", wantCategory: event.Sent},
		{name: "DELIVERED", event: "DELIVERED", wantType: "delivered", wantCategory: event.Delivered},
		{name: "Dropped", event: "Dropped", wantType: "dropped", wantCategory: event.Blocked},
		{name: "Bounce", event: "Bounce", bounceType: "bounce", wantType: "bounce", wantCategory: event.Bounce, wantClass: event.Hard},
		{name: "Bounce of type blocked", event: "Bounce", bounceType: "blocked", wantType: "bounce", wantCategory: event.Bounce, wantClass: event.Soft},
		{name: "SpamReport", event: "SpamReport", wantType: "spamreport", wantCategory: event.Complaint},
		{name: "Group_Unsubscribe", event: "Group_Unsubscribe", wantType: "group_unsubscribe", wantCategory: event.Unsubscribe},
		{name: "an unknown type, lower-cased", event: "Group_Resubscribe", wantType: "group_resubscribe"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := fmt.Sprintf(`[{"email":"alex@example.com","timestamp":1513299569,"event":%q,"type":%q,"sg_event_id":"e1"}]`, tt.event, tt.bounceType)
			events, err := sendgrid.Decode([]byte(body))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if e := events[0]; e.Type != tt.wantType || e.Category != tt.wantCategory || e.BounceClass != tt.wantClass {
				t.Fatalf("type %q, category %q, bounce class %q; want %q, %q, %q", e.Type, e.Category, e.BounceClass, tt.wantType, tt.wantCategory, tt.wantClass)
			}
		})
	}
}

// TestTimestamp reads "timestamp" in the forms SendGrid's Event Webhook
// reference writes it: unix seconds as a number or a string, and
// milliseconds, as its Single Send example has them; a number too large
// even for milliseconds up to year 9999 is refused.
func TestTimestamp(t *testing.T) {
	for _, tt := range []struct {
		name, ts string // ts: the JSON after "timestamp":
		want     time.Time
		wantErr  bool
	}{
		{name: "seconds", ts: `1513299569`, want: time.Unix(1513299569, 0)},
		{name: "seconds in a string", ts: `"1513299569"`, want: time.Unix(1513299569, 0)},
		{name: "milliseconds, as a Single Send's", ts: `1591726752372`, want: time.UnixMilli(1591726752372)},
		{name: "milliseconds in a string", ts: `"1591726752372"`, want: time.UnixMilli(1591726752372)},
		{name: "the last second of year 9999", ts: `253402300799`, want: time.Unix(253402300799, 0)},
		{name: "one more: read as milliseconds", ts: `253402300800`, want: time.UnixMilli(253402300800)},
		{name: "beyond milliseconds of year 9999", ts: `253402300800000`, wantErr: true},
		{name: "zero", ts: `0`, wantErr: true},
		{name: "negative", ts: `-1`, wantErr: true},
		{name: "a fraction", ts: `1513299569.5`, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := `[{"email":"a@example.com","event":"open","sg_event_id":"e1","timestamp":` + tt.ts + `}]`
			events, err := sendgrid.Decode([]byte(body))
			switch {
			case tt.wantErr && err == nil:
				t.Fatalf("Decode read %v", events[0].Time)
			case tt.wantErr:
			case err != nil:
				t.Fatalf("Decode: %v", err)
			case !events[0].Time.Equal(tt.want) || events[0].Time.Location() != time.UTC:
				t.Fatalf("time %v, want %v", events[0].Time, tt.want.UTC())
			}
		})
	}
}

// TestAccountEventInBatch posts SendGrid's documented account status
// change, which has no email, in a signed batch with two message events to
// a real listener: the whole batch is accepted and stored, where the
// event without an email had the batch refused 400 and every event in it
// lost once SendGrid gave up retrying.
func TestAccountEventInBatch(t *testing.T) {
	key, pub := newKey(t)
	url, log := providertest.Serve(t, listener.Config{Sources: []config.Source{
		{Name: "sendgrid", Provider: sendgrid.Provider, Verify: config.Verify{PublicKey: pub}},
	}})
	body, err := os.ReadFile("testdata/account-status-change.json")
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, url+"/hooks/sendgrid", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sendgrid.HeaderTimestamp, ts)
	req.Header.Set(sendgrid.HeaderSignature, sign(t, key, ts, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"accepted":3`) {
		t.Fatalf("%d %s, want 200 with 3 accepted", resp.StatusCode, answer)
	}
	msgs := providertest.Messages(t, log, eventlog.TopicEvents, 3)
	if len(msgs) != 3 {
		t.Fatalf("log holds %d events, want 3", len(msgs))
	}
	var account *event.Event
	for _, m := range msgs {
		e, err := event.Unmarshal(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == "account_status_change" {
			account = &e
		}
	}
	if account == nil || account.Email != "" || account.Domain != "" || account.Source != "sendgrid" ||
		account.ID != "sendgrid:MjEzNTg5OTcyOC10ZXJtaW5hdGUtMTcwNzg1MTUzMQ" {
		t.Fatalf("account status change stored as %+v", account)
	}
}

// TestTimestampIsSigned checks that the signature covers the timestamp
// header: a valid signature with another timestamp is refused.
func TestTimestampIsSigned(t *testing.T) {
	k, pub := newKey(t)
	pk, err := sendgrid.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := []byte(`[]`)
	ts := strconv.FormatInt(now.Unix(), 10)
	h := http.Header{}
	h.Set(sendgrid.HeaderSignature, sign(t, k, ts, body))
	h.Set(sendgrid.HeaderTimestamp, ts)
	if err := sendgrid.Verify(pk, h, body, now, time.Minute); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	h.Set(sendgrid.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
	if err := sendgrid.Verify(pk, h, body, now, time.Minute); err == nil {
		t.Fatal("Verify accepted the signature with another timestamp")
	}
}

// TestRetryTolerance verifies, under the default tolerance, a delivery
// whose timestamp is that of a first attempt made some time before: as
// SendGrid retries for up to 24 hours without saying that a retry is
// signed anew, every retry in that window is accepted, where the old
// default of 5 minutes refused all but the first.
func TestRetryTolerance(t *testing.T) {
	key, pub := newKey(t)
	first := time.Unix(1700000000, 0)
	body, err := os.ReadFile("testdata/delivery-events.json")
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(first.Unix(), 10)
	sig := sign(t, key, ts, body)
	for _, tt := range []struct {
		name  string
		after time.Duration // from the first attempt to this one
		ok    bool
	}{
		{"first attempt", 0, true},
		{"retry after 10 minutes", 10 * time.Minute, true},
		{"retry after 6 hours", 6 * time.Hour, true},
		{"last retry, 24 hours on", 24 * time.Hour, true},
		{"clock 2 hours behind", -2 * time.Hour, true},
		{"27 hours on", 27 * time.Hour, false},
		{"27 hours ahead", -27 * time.Hour, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now := first.Add(tt.after)
			a, err := sendgrid.SendGrid{}.New(config.Source{Provider: sendgrid.Provider, Verify: config.Verify{PublicKey: pub}},
				listener.Env{Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			r, err := http.NewRequest(http.MethodPost, "/hooks/sendgrid", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set(sendgrid.HeaderTimestamp, ts)
			r.Header.Set(sendgrid.HeaderSignature, sig)
			if err := a.Verify(t.Context(), r, body); (err == nil) != tt.ok {
				t.Fatalf("Verify = %v, want accepted %v", err, tt.ok)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	rsaLike := base64.StdEncoding.EncodeToString([]byte("not a key"))
	for _, tt := range []struct {
		name   string
		verify config.Verify
		field  string
	}{
		{"no key", config.Verify{}, "verify.public_key"},
		{"not base64", config.Verify{PublicKey: "%%%"}, "verify.public_key"},
		{"not DER", config.Verify{PublicKey: rsaLike}, "verify.public_key"},
		{"foreign key", config.Verify{PublicKey: rsaLike, Secret: "whsec_x"}, "verify.secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sendgrid.SendGrid{}.New(config.Source{Verify: tt.verify}, listener.Env{})
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("New = %v, want a *config.Error", err)
			}
			found := false
			for _, e := range unjoin(err) {
				if errors.As(e, &ce) && ce.Field == tt.field {
					found = true
				}
			}
			if !found {
				t.Fatalf("New = %v, want an error at %s", err, tt.field)
			}
		})
	}
}

// TestParsePublicKey reads the verification key in the forms SendGrid
// gives it: bare base64 of the DER in its settings, PEM from its libraries.
func TestParsePublicKey(t *testing.T) {
	k, b64 := newKey(t)
	der, _ := base64.StdEncoding.DecodeString(b64)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	for _, tt := range []struct {
		name, key, err string // err: "" when the key is read
	}{
		{"base64, as SendGrid's settings show it", b64, ""},
		{"base64 with a line break after it", b64 + "\n", ""},
		{"PEM, as SendGrid's libraries write it", pemKey, ""},
		{"PEM with CRLF line ends", strings.ReplaceAll(pemKey, "\n", "\r\n"), ""},
		{"PEM on one line", "-----BEGIN PUBLIC KEY-----" + b64 + "-----END PUBLIC KEY-----", "not PEM: want -----BEGIN PUBLIC KEY-----"},
		{"PEM of a certificate", strings.ReplaceAll(pemKey, "PUBLIC KEY", "CERTIFICATE"), `PEM block "CERTIFICATE": want PUBLIC KEY`},
		{"two PEM blocks", pemKey + pemKey, "PEM: want one PUBLIC KEY block"},
		{"PEM of an RSA key", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER})), "not an ECDSA P-256 public key"},
		{"neither", "%%%", "neither base64 nor PEM"},
		{"base64 of no key", base64.StdEncoding.EncodeToString([]byte("not a key")), "not a DER public key"},
		{"empty", "", "required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sendgrid.ParsePublicKey(tt.key)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("ParsePublicKey: %v", err)
			case tt.err == "" && !got.Equal(&k.PublicKey):
				t.Fatal("ParsePublicKey read another key")
			case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)):
				t.Fatalf("ParsePublicKey = %v, want an error starting %q", err, tt.err)
			}
		})
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func FuzzDecode(f *testing.F) {
	for _, s := range providertest.Seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := sendgrid.Decode(body)
		if err == nil {
			for _, e := range events {
				if e.ID == "" || !e.Category.Valid() {
					t.Fatalf("bad event %+v", e)
				}
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	k, pub := newKey(f)
	pk, _ := sendgrid.ParsePublicKey(pub)
	body := []byte(`[{"email":"a@b.c","timestamp":1,"event":"open"}]`)
	f.Add("1700000000", sign(f, k, "1700000000", body), body)
	f.Add("", "MEUCIQ==", []byte{})
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, ts, sig string, b []byte) {
		h := http.Header{}
		h.Set(sendgrid.HeaderTimestamp, ts)
		h.Set(sendgrid.HeaderSignature, sig)
		if err := sendgrid.Verify(pk, h, b, now, time.Minute); err == nil && (!bytes.Equal(b, body) || ts != "1700000000") {
			t.Fatalf("accepted what the key never signed: %q %q", ts, b)
		}
	})
}

// TestCustomArgs decodes events whose custom arguments, which SendGrid
// posts beside its own fields at the top of each event, are named like
// those fields in another case ("Event", "Timestamp", "Type", ...): the
// event is read from SendGrid's own, exactly named fields, and the
// arguments stay in Data. JSON names are case-sensitive, and a sender's
// argument must neither change an event nor refuse its batch.
func TestCustomArgs(t *testing.T) {
	const own = `"email":"alex@example.com","timestamp":1513299569,"event":"bounce","type":"blocked","sg_event_id":"e1","sg_message_id":"m1","category":"cat facts"`
	for _, tt := range []struct{ name, args string }{
		{"Event", `"Event":"Spring Sale"`},
		{"Timestamp as text", `"Timestamp":"2024-03-01T10:00:00Z"`},
		{"Type", `"Type":"newsletter"`},
		{"Email, an address", `"Email":"Someone.Else@example.org"`},
		{"EMAIL, a number", `"EMAIL":42`},
		{"Category", `"Category":"promo"`},
		{"SG_EVENT_ID", `"SG_EVENT_ID":"other"`},
		{"Sg_Message_Id", `"Sg_Message_Id":"other"`},
		{"Marketing_Campaign_Name", `"Marketing_Campaign_Name":"other"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, body := range []string{`[{` + own + `,` + tt.args + `}]`, `[{` + tt.args + `,` + own + `}]`} {
				events, err := sendgrid.Decode([]byte(body))
				if err != nil {
					t.Fatalf("Decode(%s): %v", body, err)
				}
				e := events[0]
				if e.ID != "sendgrid:e1" || e.Type != "bounce" || e.BounceClass != event.Soft || e.Email != "alex@example.com" ||
					e.Time != time.Unix(1513299569, 0).UTC() || e.MessageID != "m1" || e.Campaign != "cat facts" {
					t.Fatalf("Decode(%s) = id %q, type %q, class %q, email %q, time %s, message %q, campaign %q; want sendgrid:e1, bounce, soft, alex@example.com, %s, m1, cat facts",
						body, e.ID, e.Type, e.BounceClass, e.Email, e.Time, e.MessageID, e.Campaign, time.Unix(1513299569, 0).UTC())
				}
				if !bytes.Contains(e.Data, []byte(tt.args)) {
					t.Fatalf("Data %s lost %s", e.Data, tt.args)
				}
			}
		})
	}
}
