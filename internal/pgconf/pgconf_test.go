package pgconf_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd/internal/pgconf"
)

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		dsn         string
		wantTimeout time.Duration
		wantAddr    string
		wantIdle    string // the idle_in_transaction_session_timeout parameter
		wantOptions string
	}{
		{"postgres://u:p@db.internal/x", pgconf.DefaultConnectTimeout, "db.internal:5432", "60000", ""},
		{"postgres://u:p@127.0.0.1:6543/x?connect_timeout=3", 3 * time.Second, "127.0.0.1:6543", "60000", ""},
		{"host=db.internal port=5433 user=u connect_timeout=20", 20 * time.Second, "db.internal:5433", "60000", ""},
		{"postgres://u:p@db.internal/x?idle_in_transaction_session_timeout=0", pgconf.DefaultConnectTimeout, "db.internal:5432", "0", ""},
		{"postgres://u:p@db.internal/x?options=-cidle_in_transaction_session_timeout%3D5s", pgconf.DefaultConnectTimeout, "db.internal:5432", "", "-cidle_in_transaction_session_timeout=5s"},
		{"host=db.internal options='-c search_path=s'", pgconf.DefaultConnectTimeout, "db.internal:5432", "60000", "-c search_path=s"},
	} {
		c, err := pgx.ParseConfig(tc.dsn)
		if err != nil {
			t.Fatal(err)
		}
		pgconf.Defaults(&c.Config)
		if c.ConnectTimeout != tc.wantTimeout || pgconf.Addr(&c.Config) != tc.wantAddr {
			t.Errorf("%s: connect timeout %v, address %s; want %v, %s", tc.dsn, c.ConnectTimeout, pgconf.Addr(&c.Config), tc.wantTimeout, tc.wantAddr)
		}
		if idle, options := c.RuntimeParams["idle_in_transaction_session_timeout"], c.RuntimeParams["options"]; idle != tc.wantIdle || options != tc.wantOptions {
			t.Errorf("%s: idle_in_transaction_session_timeout %q, options %q; want %q, %q", tc.dsn, idle, options, tc.wantIdle, tc.wantOptions)
		}
	}
}

// TestReason: the reason a DSN does not parse names the setting at fault
// and never quotes the DSN, nor its password.
func TestReason(t *testing.T) {
	const password = "s3cret-pw"
	for _, tc := range []struct {
		name, dsn, want string
	}{
		{"url, bad sslmode", "postgres://u:" + password + "@db/x?sslmode=bogus", "failed to configure TLS (sslmode is invalid)"},
		{"url, bad port", "postgres://u:" + password + "@db:abc/x", "invalid port"},
		{"url, bad escape in the password", "postgres://u:" + password + "%ZZ@db/x", "failed to parse as URL (invalid percent-encoded token in password)"},
		{"url, password in the query", "postgres://u@db/x?password=" + password + "&connect_timeout=x", `invalid connect_timeout (strconv.ParseInt: parsing "x": invalid syntax)`},
		{"keyword/value, bad sslmode", "host=db password=" + password + " sslmode=nope", "failed to configure TLS (sslmode is invalid)"},
		{"keyword/value, quoted password, bad port", "host=db password='" + password + " x' port=abc", "invalid port"},
		{"keyword/value, a password without its keyword", "host=db " + password + " sslmode=disable", `failed to parse as keyword/value (missing "=" after a word in connection info string)`},
		{"pool setting", "postgres://u:" + password + "@db/x?pool_max_conns=many", `cannot parse pool_max_conns (strconv.ParseInt: parsing "many": invalid syntax)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pgxpool.ParseConfig(tc.dsn)
			if err == nil {
				t.Fatal("ParseConfig succeeded")
			}
			if got := pgconf.Reason(err); got != tc.want {
				t.Errorf("Reason = %q, want %q", got, tc.want)
			}
		})
	}
	if got := pgconf.Reason(errors.New("postgres://u:" + password + "@db")); got != "cannot parse it" {
		t.Errorf("Reason of another error = %q, want %q", got, "cannot parse it")
	}
}
