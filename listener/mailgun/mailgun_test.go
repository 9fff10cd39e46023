package mailgun_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/mailgun"
	"github.com/hookd/hookd/listener/providertest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const signingKey = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"

func TestDecodeGolden(t *testing.T) {
	providertest.Golden(t, *update, func(_ http.Header, body []byte) ([]event.Event, error) {
		return mailgun.Decode(body)
	})
}

// resign replaces the signature object of body with one for at and a new
// token, signed with key.
func resign(t testing.TB, key string, body []byte, at time.Time) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	tok := make([]byte, 25)
	rand.Read(tok)
	token, ts := hex.EncodeToString(tok), strconv.FormatInt(at.Unix(), 10)
	sig, _ := json.Marshal(map[string]string{
		"timestamp": ts, "token": token,
		"signature": hex.EncodeToString(mailgun.Sign([]byte(key), ts, token)),
	})
	m["signature"] = sig
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func edit(body []byte, fn func(m map[string]json.RawMessage, sig map[string]any)) []byte {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(body, &m)
	var sig map[string]any
	_ = json.Unmarshal(m["signature"], &sig)
	fn(m, sig)
	if _, ok := m["signature"]; ok && sig != nil {
		m["signature"], _ = json.Marshal(sig)
	}
	out, _ := json.Marshal(m)
	return out
}

// TestConformance runs the suite with a source that has the signing key,
// and with one that has only the primary account's key, each delivery
// signed as for a subaccount.
func TestConformance(t *testing.T) {
	body, err := os.ReadFile("testdata/failed-permanent.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		verify config.Verify
		// sign signs body with key, the source's or a wrong one, where
		// the source looks for it.
		sign func(t testing.TB, body []byte, at time.Time, key string) []byte
		key  string
		// strip is the field of the signature object, besides the
		// signature, that the source needs.
		strip string
	}{
		{"signing key", config.Verify{SigningKey: signingKey},
			func(t testing.TB, body []byte, at time.Time, key string) []byte { return resign(t, key, body, at) },
			signingKey, "token"},
		{"parent signing key", config.Verify{ParentSigningKey: parentKey},
			func(t testing.TB, body []byte, at time.Time, key string) []byte {
				return signAs(t, body, at, subaccountKey, key)
			},
			parentKey, "parent-signature"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			providertest.Run(t, providertest.Case{
				Source: config.Source{Provider: mailgun.Provider, Verify: tt.verify},
				Valid:  body,
				Events: 1,
				Sign: func(t testing.TB, body []byte, at time.Time, wrong bool) (http.Header, []byte) {
					key := tt.key
					if wrong {
						key = "key-00000000000000000000000000000000"
					}
					return http.Header{"Content-Type": {"application/json"}}, tt.sign(t, body, at, key)
				},
				Timestamped: true,
				StaleBy:     13 * time.Hour,
				Tamper:      tamperToken,
				Strip: map[string]func(http.Header, []byte) (http.Header, []byte){
					"signature object": func(h http.Header, b []byte) (http.Header, []byte) {
						return h, edit(b, func(m map[string]json.RawMessage, _ map[string]any) { delete(m, "signature") })
					},
					tt.strip: func(h http.Header, b []byte) (http.Header, []byte) {
						return h, edit(b, func(_ map[string]json.RawMessage, sig map[string]any) { delete(sig, tt.strip) })
					},
				},
			})
		})
	}
}

// TestTokenReplay checks what Mailgun's signature cannot: a captured
// signature replayed with another event is refused, also after a restart
// (the tokens are in a file), while the same delivery again is a duplicate.
func TestTokenReplay(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	opened, _ := os.ReadFile("testdata/opened.json")
	clicked, _ := os.ReadFile("testdata/clicked.json")
	signed := resign(t, signingKey, opened, time.Now())
	// The attacker keeps the signature and swaps the event.
	forged := edit(signed, func(m map[string]json.RawMessage, _ map[string]any) {
		var c map[string]json.RawMessage
		_ = json.Unmarshal(clicked, &c)
		m["event-data"] = c["event-data"]
	})

	post := func(url string, body []byte) int {
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	run := func(steps func(url string)) {
		nonces, err := listener.OpenNonces(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer nonces.Close()
		a, err := mailgun.Mailgun{}.New(config.Source{Name: "mg", Verify: config.Verify{SigningKey: signingKey}}, listener.Env{Nonces: nonces})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var buf bytes.Buffer
			buf.ReadFrom(r.Body)
			if err := a.Verify(r.Context(), r, buf.Bytes()); err != nil {
				w.WriteHeader(401)
				return
			}
			w.WriteHeader(200)
		}))
		defer srv.Close()
		steps(srv.URL)
	}
	run(func(url string) {
		if got := post(url, signed); got != 200 {
			t.Fatalf("signed delivery: %d", got)
		}
		if got := post(url, signed); got != 200 {
			t.Fatalf("the same delivery again (a retry): %d, want 200", got)
		}
		if got := post(url, forged); got != 401 {
			t.Fatalf("forged event with a used token: %d, want 401", got)
		}
	})
	run(func(url string) {
		if got := post(url, forged); got != 401 {
			t.Fatalf("after a restart, forged event with a used token: %d, want 401", got)
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, s := range providertest.Seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := mailgun.Decode(body)
		if err == nil && (len(events) != 1 || events[0].ID == "") {
			t.Fatalf("bad events %+v", events)
		}
	})
}

// FuzzVerify checks Verify's parsing at sources keyed with the account's
// key, the primary account's, and both: whatever the body, a delivery
// verifies only with a token the seeds signed. The tokens are fixed: each
// fuzzing worker runs this function again.
func FuzzVerify(f *testing.F) {
	body, _ := os.ReadFile("testdata/opened.json")
	subaccount, _ := os.ReadFile("testdata/subaccount/delivered.json")
	now := time.Unix(1529006854, 0)
	signed := map[string]bool{"b2e1c0fd8a4b4d2f9c51e7a3d6f0c8e2a94b7d1c3e5f6a8b0c": true} // the fixture's
	for i, keys := range [][2]string{{signingKey, ""}, {subaccountKey, parentKey}, {parentKey, ""}} {
		token := strings.Repeat(strconv.Itoa(i), 50)
		signed[token] = true
		f.Add(signToken(body, now, token, keys[0], keys[1]))
	}
	f.Add(subaccount)
	f.Add([]byte(`{"signature":{"timestamp":1,"token":"","signature":"zz"}}`))
	f.Add([]byte(`{"signature":{"timestamp":"1529006854","token":"t","signature":"00","parent-signature":"zz"}}`))
	f.Add([]byte(`{"signature":{"timestamp":"1529006854","token":"t","parent-signature":{"signature":"00"}}}`))
	sources := []config.Verify{{SigningKey: signingKey}, {ParentSigningKey: parentKey}, {SigningKey: subaccountKey, ParentSigningKey: parentKey}}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range sources {
			a, err := mailgun.Mailgun{}.New(config.Source{Name: "mg", Verify: v},
				listener.Env{Nonces: memNonces{}, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/", nil)
			if a.Verify(context.Background(), r, b) != nil {
				continue
			}
			var w struct{ Signature struct{ Token string } }
			if err := json.Unmarshal(b, &w); err != nil || !signed[w.Signature.Token] {
				t.Fatalf("verified with a token no seed signed (%+v): %q", v, b)
			}
		}
	})
}

// memNonces never sees a reuse: the fuzz target checks Verify's parsing.
type memNonces struct{}

func (memNonces) Use(context.Context, string, string, string, time.Time) (bool, error) {
	return false, nil
}

func TestNewErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		verify config.Verify
		want   string
	}{
		{"missing", config.Verify{}, "verify.signing_key: required"},
		{"short", config.Verify{SigningKey: "12345"}, "verify.signing_key: too short: want at least 16 bytes"},
		{"short parent", config.Verify{ParentSigningKey: "parent-12345"}, "verify.parent_signing_key: too short: want at least 16 bytes"},
		{"short parent beside a good key", config.Verify{SigningKey: signingKey, ParentSigningKey: "parent-12345"}, "verify.parent_signing_key: too short"},
		{"foreign key", config.Verify{ParentSigningKey: signingKey, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
			"verify.secret: not used by mailgun (want signing_key, parent_signing_key, tolerance)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mailgun.Mailgun{}.New(config.Source{Name: "mg", Verify: tt.verify}, listener.Env{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
			for _, key := range []string{tt.verify.SigningKey, tt.verify.ParentSigningKey, tt.verify.Secret} {
				if key != "" && strings.Contains(err.Error(), key) {
					t.Fatalf("error quotes a key: %v", err)
				}
			}
		})
	}
	for _, v := range []config.Verify{{SigningKey: signingKey}, {ParentSigningKey: signingKey}, {SigningKey: signingKey, ParentSigningKey: parentKey}} {
		if _, err := (mailgun.Mailgun{}).New(config.Source{Name: "mg", Verify: v}, listener.Env{}); err != nil {
			t.Errorf("New(%+v) = %v", v, err)
		}
	}
}

// withEventData returns body with event-data.id and event-data.timestamp
// set to id and at.
func withEventData(t *testing.T, body []byte, id string, at float64) []byte {
	t.Helper()
	return edit(body, func(m map[string]json.RawMessage, _ map[string]any) {
		var d map[string]any
		if err := json.Unmarshal(m["event-data"], &d); err != nil {
			t.Fatal(err)
		}
		d["id"], d["timestamp"] = id, at
		m["event-data"], _ = json.Marshal(d)
	})
}

// TestIDUniqueWithinADay posts deliveries to a real listener: Mailgun's
// event id is unique only within a day, so an event that reuses the id of
// another day's is stored, while a retry of a delivery is a duplicate.
func TestIDUniqueWithinADay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	log, err := eventlog.Open(ctx, eventlog.Config{Backend: "sqlite", Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	nonces, err := listener.OpenNonces(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer nonces.Close()
	l, err := listener.New(listener.Config{Nonces: nonces, Sources: []config.Source{{Name: "mg", Provider: mailgun.Provider,
		Verify: config.Verify{SigningKey: signingKey}}}}, log, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	go l.Run(ctx)
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()

	delivered, err := os.ReadFile("testdata/delivered.json")
	if err != nil {
		t.Fatal(err)
	}
	const day = 1521472262.908181 // the fixture's timestamp
	first := withEventData(t, delivered, "CPgfbmQMTCKtHW6uIWtuVe", day)
	for _, tt := range []struct {
		name                 string
		body                 []byte
		accepted, duplicates int
	}{
		{"first delivery", first, 1, 0},
		{"Mailgun's retry of it", first, 0, 1},
		{"another event with the id, the next day", withEventData(t, delivered, "CPgfbmQMTCKtHW6uIWtuVe", day+86400), 1, 0},
		{"another event with the id, a week later", withEventData(t, delivered, "CPgfbmQMTCKtHW6uIWtuVe", day+7*86400+1.5), 1, 0},
		{"another id the same day", withEventData(t, delivered, "other-id", day), 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Each delivery signed anew, as Mailgun may sign a retry.
			resp, err := http.Post(srv.URL+"/hooks/mg", "application/json", bytes.NewReader(resign(t, signingKey, tt.body, time.Now())))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct{ Accepted, Duplicates int }
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d, %v", resp.StatusCode, err)
			}
			if got.Accepted != tt.accepted || got.Duplicates != tt.duplicates {
				t.Fatalf("accepted %d, duplicates %d; want %d, %d", got.Accepted, got.Duplicates, tt.accepted, tt.duplicates)
			}
		})
	}
	if got := providertest.Messages(t, log, eventlog.TopicEvents, 4); len(got) != 4 {
		t.Fatalf("log holds %d events, want 4", len(got))
	}
}

// tamperToken gives the token of a delivery another first character: the
// token is random hex, and writing "0" over a "0" (1 time in 16) would
// tamper nothing.
func tamperToken(body []byte) []byte {
	return edit(body, func(_ map[string]json.RawMessage, sig map[string]any) {
		tok := sig["token"].(string)
		first := "0"
		if tok[0] == '0' {
			first = "1"
		}
		sig["token"] = first + tok[1:]
	})
}
