package config

import (
	"errors"
	"fmt"
	"net"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/pgconf"
	"github.com/hookd/hookd/internal/tlsfile"
)

// Defaults that SetDefaults fills in.
const (
	defaultListen            = ":8080"
	defaultAdminListen       = "127.0.0.1:8081"
	defaultQueryTimeout      = 30 * time.Second
	defaultThrottleFailures  = 10
	defaultThrottleWindow    = time.Minute
	defaultData              = "./data"
	defaultBackend           = "sqlite"
	defaultDriver            = "sqlite"
	defaultMaxBody           = 1 << 20
	defaultMaxEvents         = 10000
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = 30 * time.Second
	defaultBatchWait         = 250 * time.Microsecond
	maxBatchWait             = time.Second
	defaultBatchSize         = 1000
	maxBatchSize             = 100000
	defaultTokenParam        = "token"
	defaultMaxConcurrent     = 1024
	defaultMaxInflight       = 16 << 20
)

// eventsFor is the default max_events for bodies of up to maxBody:
// defaultMaxEvents a MiB, and at least defaultMaxEvents.
func eventsFor(maxBody ByteSize) int {
	mib := (int64(maxBody) + 1<<20 - 1) >> 20
	return int(max(1, mib)) * defaultMaxEvents
}

// minSecret is the shortest token accepted, so that a token in a URL cannot
// be guessed.
const minSecret = 16

// SetDefaults replaces every zero field of c that has a default with that
// default, as documented on each field. Load calls it.
func (c *Config) SetDefaults() {
	setDefault(&c.Listen, defaultListen)
	setDefault(&c.Admin.Listen, defaultAdminListen)
	setDefault(&c.Admin.Throttle.Failures, defaultThrottleFailures)
	setDefault(&c.Admin.Throttle.Window, defaultThrottleWindow)
	setDefault(&c.Data, defaultData)
	setDefault(&c.Log.Backend, defaultBackend)
	setDefault(&c.Store.Driver, defaultDriver)
	setDefault(&c.Limits.MaxBody, defaultMaxBody)
	setDefault(&c.Limits.MaxEvents, eventsFor(c.Limits.MaxBody))
	setDefault(&c.Limits.ReadHeaderTimeout, defaultReadHeaderTimeout)
	setDefault(&c.Limits.ReadTimeout, defaultReadTimeout)
	setDefault(&c.Limits.BatchWait, defaultBatchWait)
	setDefault(&c.Limits.BatchSize, defaultBatchSize)
	setDefault(&c.RequestLog, RequestLogAll)
	c.setMailDefaults()
	setDefault(&c.Limits.WriteTimeout, c.Limits.ReadTimeout+time.Minute)
	// Within the write timeout, so that the 504 can be sent: a file that
	// shortened it before admin.query_timeout existed stays valid.
	setDefault(&c.Admin.QueryTimeout, min(defaultQueryTimeout, c.Limits.WriteTimeout/2))
	setDefault(&c.Limits.MaxConcurrent, defaultMaxConcurrent)
	// Left out, the in-flight budget admits the largest body a source
	// takes: a file that raised max_body before max_inflight existed
	// stays valid.
	largest := c.Limits.MaxBody
	for _, s := range c.Sources {
		largest = max(largest, s.MaxBody)
	}
	setDefault(&c.Limits.MaxInflight, max(defaultMaxInflight, largest))
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.MaxBody > c.Limits.MaxBody && s.MaxEvents == 0 && c.Limits.MaxEvents < eventsFor(s.MaxBody) {
			// A source that takes larger bodies takes more events; one
			// that takes smaller ones keeps limits.max_events, as
			// written or defaulted.
			s.MaxEvents = eventsFor(s.MaxBody)
		}
		if s.Name != "" {
			setDefault(&s.Path, "/hooks/"+s.Name)
		}
		if s.Auth.Token != nil {
			setDefault(&s.Auth.Token.Param, defaultTokenParam)
		}
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports every problem of c, which has its defaults set, as
// *Error values joined with errors.Join; nil when there is none. With
// known, it also rejects a provider or log backend that is not listed.
// The errors name the field but not the file; Load adds the position.
func (c *Config) Validate(known ...Known) error {
	var k Known
	for _, kn := range known {
		k.Providers = append(k.Providers, kn.Providers...)
		k.Backends = append(k.Backends, kn.Backends...)
		if kn.Source != nil {
			k.Source = kn.Source
		}
	}
	var v validator
	v.address("listen", c.Listen)
	v.address("admin.listen", c.Admin.Listen)
	// Port 0 asks the kernel for a free port, so two of them never clash.
	if c.Admin.Listen != "" && c.Admin.Listen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		v.add("admin.listen", "same address as listen")
	} else if samePort(c.Listen, c.Admin.Listen) {
		v.add("admin.listen", "%q takes the port of listen %q: they cannot both listen on it", c.Admin.Listen, c.Listen)
	}
	v.tls("tls", c.TLS)
	v.tls("admin.tls", c.Admin.TLS)
	v.secret("admin.token", c.Admin.Token, false)
	if c.Admin.SecureCookie && c.Admin.Token == "" {
		v.add("admin.secure_cookie", "only used with admin.token: without it there is no login and no cookie")
	}
	if c.Admin.Throttle.Failures < 0 {
		v.add("admin.throttle.failures", "must be positive")
	}
	if c.Admin.Throttle.Window < 0 {
		v.add("admin.throttle.window", "must be positive")
	}
	for i, h := range c.Admin.Hosts {
		if !isHostName(h) && net.ParseIP(h) == nil {
			v.add(fmt.Sprintf("admin.hosts[%d]", i), "invalid host %q: want a name such as admin.example.com or an IP address, without scheme, port or path (any port is accepted)", h)
		}
	}
	if c.Data == "" {
		v.add("data", "required")
	}
	if c.Retention.Log > 0 && c.Retention.Log.Duration() < MinLogRetention {
		v.add("retention.log", "shorter than 1d: the log recognises a provider's retry by the messages it keeps, and providers retry for up to a day (Mailjet: 24 hours)")
	}
	if c.Retention.Log > 0 && c.Retention.Log < c.Retention.Events {
		v.add("retention.log", "shorter than retention.events: hookd rebuild would not find the older events in the log")
	}

	switch {
	case c.Log.Backend == "":
		v.add("log.backend", "required")
	case len(k.Backends) > 0 && !slices.Contains(k.Backends, c.Log.Backend):
		v.add("log.backend", "unknown backend %q (known: %s)", c.Log.Backend, strings.Join(k.Backends, ", "))
	}
	if c.Log.Backend == "postgres" && c.Log.DSN == "" {
		v.add("log.dsn", "required with backend postgres")
	}
	if c.Log.Backend == "postgres" && c.Log.DSN != "" {
		_, err := pgxpool.ParseConfig(c.Log.DSN)
		v.dsn("log.dsn", err)
	}
	if c.Log.Backend == "nats" && c.Log.URL == "" {
		v.add("log.url", "required with backend nats")
	}
	if c.Log.DSN != "" && c.Log.Backend != "postgres" {
		v.add("log.dsn", "only used with backend postgres")
	}
	if c.Log.URL != "" && c.Log.Backend != "nats" {
		v.add("log.url", "only used with backend nats")
	}
	if c.Log.Prefix != "" && !isIdentifier(c.Log.Prefix) {
		v.add("log.prefix", "invalid prefix %q: use letters, digits and '_', starting with a letter or '_'", c.Log.Prefix)
	} else if most := maxPostgresPrefix(); c.Log.Backend == "postgres" && len(c.Log.Prefix) > most {
		v.add("log.prefix", "%d bytes long, more than %d: the log's tables are named up to PREFIX_offsets_%s, and PostgreSQL cuts a name after %d bytes, so that two tables could become one", len(c.Log.Prefix), most, longestTopic(), maxPostgresName)
	} else if most := maxNATSPrefix(); c.Log.Backend == "nats" && len(c.Log.Prefix) > most {
		v.add("log.prefix", "%d bytes long, more than %d: the log's consumers are named up to %s_PREFIX_%s, and NATS JetStream refuses a stream or consumer name longer than %d bytes", len(c.Log.Prefix), most, natsGroup, longestTopic(), maxNATSName)
	}
	switch c.RequestLog {
	case RequestLogAll, RequestLogFailures, RequestLogNone:
	default:
		v.add("request_log", "unknown value %q (want all, failures or none)", c.RequestLog)
	}
	switch c.Store.Driver {
	case "sqlite":
		if c.Store.DSN != "" {
			v.add("store.dsn", "only used with driver postgres")
		}
	case "postgres":
		if c.Store.DSN == "" {
			v.add("store.dsn", "required with driver postgres")
		} else {
			_, err := pgx.ParseConfig(c.Store.DSN)
			v.dsn("store.dsn", err)
		}
	default:
		v.add("store.driver", "unknown driver %q (want sqlite or postgres)", c.Store.Driver)
	}

	lim := c.Limits
	for _, f := range []struct {
		field string
		bad   bool
	}{
		{"limits.max_body", lim.MaxBody <= 0},
		{"limits.max_events", lim.MaxEvents <= 0},
		{"limits.read_header_timeout", lim.ReadHeaderTimeout <= 0},
		{"limits.read_timeout", lim.ReadTimeout <= 0},
		{"limits.batch_wait", lim.BatchWait <= 0},
		{"limits.batch_size", lim.BatchSize <= 0},
		{"limits.write_timeout", lim.WriteTimeout <= 0},
		{"limits.max_concurrent", lim.MaxConcurrent <= 0},
		{"limits.max_inflight", lim.MaxInflight <= 0},
	} {
		if f.bad {
			v.add(f.field, "must be positive")
		}
	}
	if lim.MaxBody > 0 && lim.MaxInflight > 0 && lim.MaxBody > lim.MaxInflight {
		v.add("limits.max_inflight", "%s is less than limits.max_body (%s): a body that large could never be admitted", size(lim.MaxInflight), size(lim.MaxBody))
	}
	if lim.ReadTimeout > 0 && lim.WriteTimeout > 0 && lim.WriteTimeout <= lim.ReadTimeout {
		v.add("limits.write_timeout", "%v is not longer than limits.read_timeout (%v): it counts from the end of the request headers, so it must cover reading the body too", lim.WriteTimeout, lim.ReadTimeout)
	}
	if lim.Drain < 0 {
		v.add("limits.drain", "must not be negative")
	}
	switch qt := c.Admin.QueryTimeout; {
	case qt <= 0:
		v.add("admin.query_timeout", "must be positive")
	case lim.WriteTimeout > 0 && qt >= lim.WriteTimeout:
		v.add("admin.query_timeout", "%v is not shorter than limits.write_timeout (%v): the admin listener could not send the answer to a query that takes that long", qt, lim.WriteTimeout)
	}
	if lim.BatchWait > maxBatchWait {
		// Every request may wait this long for its answer, and shutdown
		// for the last batch.
		v.add("limits.batch_wait", "%v is longer than %v: every request waits for it", lim.BatchWait, maxBatchWait)
	}
	if lim.BatchSize > maxBatchSize {
		// The group commit's queue holds four batches' worth of requests,
		// allocated at start: a size in the billions fails the start for
		// want of memory.
		v.add("limits.batch_size", "%d is more than %d", lim.BatchSize, maxBatchSize)
	}

	if len(c.Sources) == 0 {
		v.add("sources", "at least one source is required")
	}
	names, paths := map[string]int{}, map[string]int{}
	for i, s := range c.Sources {
		at := fmt.Sprintf("sources[%d].", i)
		nameOK := false
		switch j, dup := names[s.Name]; {
		case s.Name == "":
			v.add(at+"name", "required")
		case !isURLSafe(s.Name):
			v.add(at+"name", "invalid name %q: use letters, digits, '.', '_', '~' and '-', starting with a letter or digit", s.Name)
		case dup:
			v.add(at+"name", "duplicate name %q (also sources[%d])", s.Name, j)
		default:
			names[s.Name] = i
			nameOK = true
		}
		if s.Provider == "" {
			v.add(at+"provider", "required")
		} else if len(k.Providers) > 0 && !slices.Contains(k.Providers, s.Provider) {
			v.add(at+"provider", "unknown provider %q (known: %s)", s.Provider, strings.Join(k.Providers, ", "))
		}
		switch j, dup := paths[s.Path]; {
		case s.Path == "" || !nameOK && s.Path == "/hooks/"+s.Name:
			// The default path of a bad name: the name's error says it.
		case !strings.HasPrefix(s.Path, "/"):
			v.add(at+"path", "must start with \"/\"")
		case path.Clean(s.Path) != s.Path || strings.ContainsAny(s.Path, "?#%:* \t\r\n"):
			v.add(at+"path", "must be a clean URL path: no trailing \"/\", \"..\", \"?\", \"#\", \"%%\", \":\", \"*\" or spaces")
		case dup:
			v.add(at+"path", "duplicate path %q (also sources[%d])", s.Path, j)
		default:
			paths[s.Path] = i
		}
		a := s.Auth
		if a.Basic != nil && a.Token != nil {
			v.add(at+"auth", "basic and token are exclusive: choose one")
		}
		if a.Basic != nil {
			if a.Basic.User == "" {
				v.add(at+"auth.basic.user", "required")
			} else if strings.Contains(a.Basic.User, ":") {
				v.add(at+"auth.basic.user", "must not contain \":\": basic auth splits user and password at the first one, so no request could match")
			}
			if a.Basic.Password == "" {
				v.add(at+"auth.basic.password", "required")
			}
		}
		if a.Token != nil {
			v.secret(at+"auth.token.value", a.Token.Value, true)
			if !isURLSafe(a.Token.Param) {
				v.add(at+"auth.token.param", "invalid query parameter name %q: use letters, digits, '.', '_', '~' and '-'", a.Token.Param)
			}
		}
		if lim.MaxInflight > 0 && s.MaxBody > lim.MaxInflight {
			v.add(at+"max_body", "%s is more than limits.max_inflight (%s): a body that large could never be admitted", size(s.MaxBody), size(lim.MaxInflight))
		}
		v.source(at, s, k)
	}

	v.validateMail(c)
	for i, r := range c.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if r == "" {
			v.add(field, "empty path")
		} else if _, err := filepath.Match(r, ""); err != nil {
			v.add(field, "invalid glob pattern %q", r)
		}
	}
	return errors.Join(v...)
}

// maxPostgresName is the longest name PostgreSQL keeps (NAMEDATALEN - 1);
// it cuts a longer one, with a notice only.
const maxPostgresName = 63

// longestTopic returns the longest of the log's topics.
func longestTopic() string {
	var longest string
	for _, t := range eventlog.Topics() {
		if len(t) > len(longest) {
			longest = t
		}
	}
	return longest
}

// maxPostgresPrefix returns the longest log.prefix of the postgres event
// log, whose tables are PREFIX_TOPIC, PREFIX_dedup_TOPIC and
// PREFIX_offsets_TOPIC: the longest that keeps each name whole.
func maxPostgresPrefix() int { return maxPostgresName - len("_offsets_") - len(longestTopic()) }

// maxNATSName is the longest stream or consumer name NATS JetStream
// accepts.
const maxNATSName = 255

// natsGroup is the consumer group of the store's projector (store.Group),
// the one hookd serve subscribes with; this package does not import the
// store.
const natsGroup = "store"

// maxNATSPrefix returns the longest log.prefix of the nats event log,
// whose streams are PREFIX_TOPIC and whose consumers GROUP_PREFIX_TOPIC:
// the longest that JetStream accepts for each.
func maxNATSPrefix() int { return maxNATSName - len(natsGroup+"__") - len(longestTopic()) }

// validator collects the problems Validate finds.
type validator []error

func (v *validator) add(field, format string, args ...any) {
	*v = append(*v, &Error{Field: field, Err: fmt.Errorf(format, args...)})
}

func (v *validator) address(field, addr string) {
	if addr == "" {
		v.add(field, "required")
	} else if _, port, err := net.SplitHostPort(addr); err != nil {
		v.add(field, "invalid address %q: want host:port, such as \":8080\" or \"127.0.0.1:8081\"", addr)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		v.add(field, "invalid port %q in %q: want 0 to 65535 or a service name", port, addr)
	}
}

// tls checks a listener's certificate and key: both or neither, and a pair
// that loads (readable, matching, not expired), each problem at the file
// at fault. It never quotes the key's content.
func (v *validator) tls(field string, t TLS) {
	switch {
	case !t.Enabled():
		return
	case t.Cert == "":
		v.add(field+".cert", "required with key")
		return
	case t.Key == "":
		v.add(field+".key", "required with cert")
		return
	}
	if _, err := tlsfile.Load(t.Cert, t.Key, time.Now()); err != nil {
		v.add(field+"."+tlsfile.At(err), "%v", err)
	}
}

// samePort reports whether listeners on addresses a and b would take the
// same port, so that the second fails to start: the same port number (not
// 0) on the same address, or on any address when one of them binds every
// interface (":8080", "0.0.0.0:8080", "[::]:8080": Go's listeners take
// IPv4 and IPv6 alike, so that on Linux even 0.0.0.0 and [::1] clash). A
// host name other than localhost is not resolved: it clashes only with
// every interface.
func samePort(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return false
	}
	na, errA := net.LookupPort("tcp", pa)
	nb, errB := net.LookupPort("tcp", pb)
	if errA != nil || errB != nil || na != nb || na == 0 {
		return false
	}
	ipa, ipb := listenIP(ha), listenIP(hb)
	if ipa.IsUnspecified() || ipb.IsUnspecified() {
		return true
	}
	return ipa != nil && ipa.Equal(ipb)
}

// listenIP returns the address a listener on host binds: every interface
// (IPv6's unspecified address) for "", 127.0.0.1 for localhost, nil for
// another name.
func listenIP(host string) net.IP {
	switch host {
	case "":
		return net.IPv6unspecified
	case "localhost":
		return net.IPv4(127, 0, 0, 1)
	}
	return net.ParseIP(host)
}

// dsn reports err, from parsing a PostgreSQL connection string with the
// parser of the package that opens it, with the reason alone: the string
// may hold a password.
func (v *validator) dsn(field string, err error) {
	if err != nil {
		v.add(field, "cannot parse: %s", pgconf.Reason(err))
	}
}

// secret checks a shared secret's length, and that it has no white
// space at its ends, without ever quoting it.
func (v *validator) secret(field, s string, required bool) {
	switch {
	case s == "" && required:
		v.add(field, "required")
	case s != "" && strings.TrimSpace(s) != s:
		// A value pasted with its line break or a stray space: a
		// client trims it, or cannot send it in a URL, and gets 401.
		v.add(field, "starts or ends with white space: remove it")
	case s != "" && len(s) < minSecret:
		v.add(field, "too short: want at least %d bytes", minSecret)
	}
}

// isURLSafe reports whether s is made of URL-safe characters (RFC 3986's
// unreserved set) and starts with a letter or a digit.
func isURLSafe(s string) bool {
	if s == "" || strings.IndexByte("._~-", s[0]) >= 0 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._~-", r)) {
			return false
		}
	}
	return true
}

// isHostName reports whether s is a DNS host name: dot-separated labels of
// ASCII letters, digits, '-' and '_', none empty (a trailing dot is a
// different name to a browser, and is refused too).
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// isIdentifier reports whether s can start a table or stream name: ASCII
// letters, digits and '_', not starting with a digit.
func isIdentifier(s string) bool {
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}
