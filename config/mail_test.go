package config_test

import (
	"strings"
	"testing"

	"github.com/hookd/hookd/config"
)

// TestMailErrorsHoldNoSecret checks that no smtp or mailjet error quotes
// the password or the API secret.
func TestMailErrorsHoldNoSecret(t *testing.T) {
	_, err := config.Load("testdata/errors/mail.yaml", known)
	if err == nil {
		t.Fatal("Load: no error")
	}
	for _, secret := range []string{"do-not-print-this-password", "do-not-print-this-secret", "user:pw"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error quotes a secret %q:\n%v", secret, err)
		}
	}
}
