// Package pgconf holds what every PostgreSQL connection of hookd (the event
// log, the store, the replay tokens) sets the same way.
package pgconf

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultConnectTimeout bounds connecting to the server when the DSN does
// not (connect_timeout), so that a server that does not answer fails
// hookd's start, or a request, with an error instead of hanging it.
const DefaultConnectTimeout = 10 * time.Second

// Defaults sets on c what its DSN left out: the connect timeout.
func Defaults(c *pgconn.Config) {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
}

// Addr returns the server's address in c, host and port, for messages: the
// DSN itself may hold a password.
func Addr(c *pgconn.Config) string {
	return fmt.Sprintf("%s:%d", c.Host, c.Port)
}
