package listener_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/listener"
)

// TestWarnings: a basic password or a token written $NAME, as a shell
// would read a variable, is warned about as a likely slip for ${NAME},
// without quoting it; other secrets, and ${NAME} already expanded, are not.
func TestWarnings(t *testing.T) {
	const long = "a-long-enough-password"
	bare := `is "$" and a name, which is taken as it is, not read from the environment: write ${NAME} for an environment variable`
	tests := []struct {
		name string
		auth config.Auth
		want []string
	}{
		{name: "basic password $NAME", auth: config.Auth{Basic: &config.BasicAuth{User: "hookd", Password: "$MAILJET_HOOK_PASSWORD"}},
			want: []string{"auth.basic.password " + bare}},
		{name: "token $NAME", auth: config.Auth{Token: &config.TokenAuth{Value: "$HOOK_TOKEN_VALUE_1"}},
			want: []string{"auth.token.value " + bare}},
		{name: "a password with a $ inside", auth: config.Auth{Basic: &config.BasicAuth{User: "hookd", Password: "pa$$word-of-some-length"}}},
		{name: "a password starting with $ and a symbol", auth: config.Auth{Basic: &config.BasicAuth{User: "hookd", Password: "$-" + long}}},
		{name: "a long password", auth: config.Auth{Basic: &config.BasicAuth{User: "hookd", Password: long}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listener.Warnings(config.Source{Name: "s", Provider: "generic", Auth: tt.auth})
			got = slices.DeleteFunc(got, func(w string) bool { return strings.Contains(w, "shorter than") })
			if !slices.Equal(got, tt.want) {
				t.Errorf("Warnings = %q, want %q", got, tt.want)
			}
			for _, w := range got {
				if strings.Contains(w, "MAILJET_HOOK_PASSWORD") || strings.Contains(w, "HOOK_TOKEN") {
					t.Errorf("warning %q quotes the secret", w)
				}
			}
		})
	}
}
