package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
)

func TestVerifyUnused(t *testing.T) {
	all := config.Verify{PublicKey: "p", SigningKey: "s", ParentSigningKey: "ps", Secret: "w", Tolerance: time.Minute,
		TopicARNs: []string{"arn"}, ConfirmSubscription: true, Header: &config.HeaderSecret{}, HMAC: &config.HMAC{}}
	keys := []string{"public_key", "signing_key", "parent_signing_key", "secret", "tolerance", "topic_arns", "confirm_subscription", "header", "hmac"}
	for _, tc := range []struct {
		name string
		v    config.Verify
		use  []string
		want []string // fields reported
	}{
		{"nothing set", config.Verify{}, []string{"secret"}, nil},
		{"only what is used", config.Verify{Secret: "w", Tolerance: time.Minute}, []string{"secret", "tolerance"}, nil},
		{"every other key", all, []string{"secret", "tolerance"},
			[]string{"public_key", "signing_key", "parent_signing_key", "topic_arns", "confirm_subscription", "header", "hmac"}},
		{"every key, none used", all, nil, keys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, err := range tc.v.Unused("prov", tc.use...) {
				var ce *config.Error
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), "not used by prov") {
					t.Fatalf("error %v: want a *config.Error saying not used by prov", err)
				}
				got = append(got, strings.TrimPrefix(ce.Field, "verify."))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Unused reported %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMapUnused(t *testing.T) {
	if err := (config.Map{}).Unused(); err != nil {
		t.Fatalf("empty map: %v", err)
	}
	var ce *config.Error
	if err := (config.Map{Type: "event"}).Unused(); !errors.As(err, &ce) || ce.Field != "map" {
		t.Fatalf("set map: %v, want a *config.Error on field map", err)
	}
}
