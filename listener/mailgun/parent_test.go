package mailgun_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/mailgun"
)

// The keys of testdata/subaccount (see its README).
const (
	subaccountKey = "key-subaccount-0123456789abcdef"
	parentKey     = "key-parent-account-0123456789ab"
)

// signAs replaces the signature object of body with one for at and a new
// token: signature under key and, when parent is not "", parent-signature
// under parent, as Mailgun signs a subaccount's delivery.
func signAs(t testing.TB, body []byte, at time.Time, key, parent string) []byte {
	t.Helper()
	tok := make([]byte, 25)
	rand.Read(tok)
	return signToken(body, at, hex.EncodeToString(tok), key, parent)
}

// signToken is signAs with the token given.
func signToken(body []byte, at time.Time, token, key, parent string) []byte {
	ts := strconv.FormatInt(at.Unix(), 10)
	return edit(body, func(_ map[string]json.RawMessage, sig map[string]any) {
		sig["timestamp"], sig["token"] = ts, token
		sig["signature"] = hex.EncodeToString(mailgun.Sign([]byte(key), ts, token))
		delete(sig, "parent-signature")
		if parent != "" {
			sig["parent-signature"] = hex.EncodeToString(mailgun.Sign([]byte(parent), ts, token))
		}
	})
}

// TestParentSignature verifies deliveries for a primary account and its
// subaccounts at sources keyed with the subaccount's key, the primary
// account's as signing_key (as before parent_signing_key existed), as
// parent_signing_key, and both.
func TestParentSignature(t *testing.T) {
	fixture, err := os.ReadFile("testdata/subaccount/delivered.json")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := os.ReadFile("testdata/delivered.json")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1529006854, 0) // the fixture's timestamp
	const otherSubaccountKey = "key-another-subaccount-000000000"
	deliveries := map[string][]byte{
		// The known answer: Mailgun's shape, signed with the fixed keys.
		"subaccount fixture": fixture,
		"subaccount":         signAs(t, plain, at, subaccountKey, parentKey),
		"another subaccount": signAs(t, plain, at, otherSubaccountKey, parentKey),
		"primary account":    signAs(t, plain, at, parentKey, ""),
		"forged parent":      signAs(t, plain, at, otherSubaccountKey, "key-not-the-parent-000000000000"),
		"parent-signature not hex": edit(fixture, func(_ map[string]json.RawMessage, sig map[string]any) {
			sig["parent-signature"] = "zz" + sig["parent-signature"].(string)[2:]
		}),
		"parent-signature of another token": edit(fixture, func(_ map[string]json.RawMessage, sig map[string]any) {
			sig["token"] = strings.ToUpper(sig["token"].(string))
		}),
		"parent-signature of another timestamp": edit(fixture, func(_ map[string]json.RawMessage, sig map[string]any) {
			sig["timestamp"] = "1529006855"
		}),
		"parent-signature only": edit(fixture, func(_ map[string]json.RawMessage, sig map[string]any) {
			delete(sig, "signature")
		}),
		"subaccount's signature in parent-signature": edit(fixture, func(_ map[string]json.RawMessage, sig map[string]any) {
			sig["parent-signature"] = sig["signature"]
		}),
	}
	sources := map[string]config.Verify{
		"subaccount":             {SigningKey: subaccountKey},
		"primary as signing_key": {SigningKey: parentKey},
		"parent_signing_key":     {ParentSigningKey: parentKey},
		"both":                   {SigningKey: subaccountKey, ParentSigningKey: parentKey},
	}
	const (
		mismatch = `"signature": does not match`
		neither  = `"signature": neither signature nor parent-signature matches`
		expired  = `"signature.timestamp": timestamp outside the tolerance of 12h0m0s`
		shape    = `"signature": want timestamp, token and signature`
	)
	for _, tt := range []struct {
		source, delivery string
		later            time.Duration // after the signature's timestamp
		err              string        // "" when verified
	}{
		{"subaccount", "subaccount fixture", 0, ""},
		{"subaccount", "subaccount", 0, ""},
		{"subaccount", "another subaccount", 0, mismatch},
		{"subaccount", "primary account", 0, mismatch},
		// As before: signing_key never checks parent-signature.
		{"primary as signing_key", "subaccount fixture", 0, mismatch},
		{"primary as signing_key", "primary account", 0, ""},
		{"parent_signing_key", "subaccount fixture", 0, ""},
		{"parent_signing_key", "subaccount fixture", 11 * time.Hour, ""},
		{"parent_signing_key", "subaccount fixture", 13 * time.Hour, expired},
		{"parent_signing_key", "subaccount fixture", -13 * time.Hour, expired},
		{"parent_signing_key", "subaccount", 0, ""},
		{"parent_signing_key", "another subaccount", 0, ""},
		{"parent_signing_key", "primary account", 0, ""},
		{"parent_signing_key", "forged parent", 0, neither},
		{"parent_signing_key", "parent-signature not hex", 0, neither},
		{"parent_signing_key", "parent-signature of another token", 0, neither},
		{"parent_signing_key", "parent-signature of another timestamp", 0, neither},
		{"parent_signing_key", "parent-signature only", 0, shape},
		{"parent_signing_key", "subaccount's signature in parent-signature", 0, neither},
		{"both", "subaccount fixture", 0, ""},
		{"both", "another subaccount", 0, ""},
		{"both", "primary account", 0, ""},
		{"both", "forged parent", 0, neither},
	} {
		name := tt.source + "/" + tt.delivery
		if tt.later != 0 {
			name += "/" + tt.later.String() + " later"
		}
		t.Run(name, func(t *testing.T) {
			now := at.Add(tt.later)
			a, err := mailgun.Mailgun{}.New(config.Source{Name: "mg", Verify: sources[tt.source]},
				listener.Env{Nonces: memNonces{}, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			err = a.Verify(context.Background(), httptest.NewRequest("POST", "/", nil), deliveries[tt.delivery])
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || err.Error() != tt.err) {
				t.Fatalf("Verify = %v, want %q", err, tt.err)
			}
		})
	}
}
