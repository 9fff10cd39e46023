package mailjet_test

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/listener/mailjet"
	"github.com/hookd/hookd/listener/providertest"
)

// TestConformance runs the provider suite over a Mailjet source with basic
// auth, the way Mailjet authenticates (it signs nothing).
func TestConformance(t *testing.T) {
	const pass = "mailjet-hook-password"
	providertest.Run(t, providertest.Case{
		Source:   config.Source{Provider: mailjet.Provider, Auth: config.Auth{Basic: &config.BasicAuth{User: "hookd", Password: pass}}},
		Valid:    readFile(t, filepath.Join("testdata", "grouped-v2.json")),
		Events:   7,
		BadBatch: readFile(t, filepath.Join("testdata", "malformed-one-bad-element.json")),
		Sign: func(_ testing.TB, body []byte, _ time.Time, wrong bool) (http.Header, []byte) {
			r, _ := http.NewRequest("POST", "/", nil)
			p := pass
			if wrong {
				p += "x"
			}
			r.SetBasicAuth("hookd", p)
			return r.Header, body
		},
	})
}
