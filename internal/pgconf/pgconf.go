// Package pgconf holds what every PostgreSQL connection of hookd (the event
// log, the store, the replay tokens) sets the same way.
package pgconf

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultConnectTimeout bounds connecting to the server when the DSN does
// not (connect_timeout), so that a server that does not answer fails
// hookd's start, or a request, with an error instead of hanging it.
const DefaultConnectTimeout = 10 * time.Second

// IdleInTransactionTimeout is the server's idle_in_transaction_session_timeout
// on hookd's connections when the DSN does not set it: a replica that stops
// answering with a transaction open (a paused virtual machine, a stopped
// process, a network partition, whose connections stay open and silent)
// loses it after this long. Until then it holds what the transaction holds:
// the store's write lock, and the event log's consumer group positions and
// its visibility horizon, which stop the store, the rules and the actions of
// every other replica. It exceeds the event log's ack deadline (30s), the
// longest a subscriber keeps a transaction open by design.
const IdleInTransactionTimeout = time.Minute

// Defaults sets on c what its DSN left out: the connect timeout and the
// idle_in_transaction_session_timeout (IdleInTransactionTimeout).
func Defaults(c *pgconn.Config) {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	const idle = "idle_in_transaction_session_timeout"
	if _, ok := c.RuntimeParams[idle]; !ok && !strings.Contains(c.RuntimeParams["options"], idle) {
		if c.RuntimeParams == nil {
			c.RuntimeParams = map[string]string{}
		}
		c.RuntimeParams[idle] = strconv.FormatInt(IdleInTransactionTimeout.Milliseconds(), 10)
	}
}

// ErrNoSchema is the error of a connection on which SELECT current_schema()
// answered NULL: no schema of its search_path exists, so hookd could
// create no table (PostgreSQL's own error says only "no schema has been
// selected to create in").
var ErrNoSchema = errors.New("no schema of the DSN's search_path exists in the database: create it (CREATE SCHEMA name) or correct search_path")

// Addr returns the server's address in c, host and port, for messages: the
// DSN itself may hold a password.
func Addr(c *pgconn.Config) string {
	return fmt.Sprintf("%s:%d", c.Host, c.Port)
}

// Reason says why a DSN does not parse, from err, the error of pgx's
// ParseConfig (pgx, pgconn or pgxpool) on it, without quoting the DSN:
// pgx's own message quotes it with its passwords masked on a best-effort
// basis only, which a malformed DSN can defeat. What remains names the
// setting at fault and may quote its value (a port, an sslmode), except a
// word of the keyword/value form without its "=", which may be a password
// written without its keyword and is left out.
func Reason(err error) string {
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) {
		return "cannot parse it"
	}
	bare := *pce
	bare.ConnString = ""
	reason := strings.TrimPrefix(bare.Error(), "cannot parse ``: ")
	return wordWithoutEquals.ReplaceAllLiteralString(reason, `missing "=" after a word`)
}

// wordWithoutEquals is pgx's message for a keyword/value DSN with a word
// that has no "=", which it quotes.
var wordWithoutEquals = regexp.MustCompile(`missing "=" after "(?:[^"\\]|\\.)*"`)
