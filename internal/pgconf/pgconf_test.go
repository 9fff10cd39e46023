package pgconf_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/internal/pgconf"
)

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		dsn         string
		wantTimeout time.Duration
		wantAddr    string
	}{
		{"postgres://u:p@db.internal/x", pgconf.DefaultConnectTimeout, "db.internal:5432"},
		{"postgres://u:p@127.0.0.1:6543/x?connect_timeout=3", 3 * time.Second, "127.0.0.1:6543"},
		{"host=db.internal port=5433 user=u connect_timeout=20", 20 * time.Second, "db.internal:5433"},
	} {
		c, err := pgx.ParseConfig(tc.dsn)
		if err != nil {
			t.Fatal(err)
		}
		pgconf.Defaults(&c.Config)
		if c.ConnectTimeout != tc.wantTimeout || pgconf.Addr(&c.Config) != tc.wantAddr {
			t.Errorf("%s: connect timeout %v, address %s; want %v, %s", tc.dsn, c.ConnectTimeout, pgconf.Addr(&c.Config), tc.wantTimeout, tc.wantAddr)
		}
	}
}
