// Package config loads hookd's YAML configuration: the listeners, the data
// directory, the event log and store backends, limits and the webhook sources.
// It is a top-level package (not part of configs/, which holds only YAML) so
// that every command loads and validates the file the same way.
package config

import (
	"net"
	"time"

	"github.com/hookd/hookd/eventlog"
)

// Config is the whole configuration file. Every field has a default that
// SetDefaults fills in where the field is zero, so a file with only sources
// works; Load reads, defaults and validates a file in one step.
type Config struct {
	// Listen is the address of the public hooks listener. Default ":8080".
	Listen string `yaml:"listen"`
	// TLS, when set, makes the hooks listener serve HTTPS. Default: plain
	// HTTP (behind a proxy that terminates TLS).
	TLS TLS `yaml:"tls"`
	// Admin is the API, dashboard and metrics listener.
	Admin Admin `yaml:"admin"`
	// Data is the directory where SQLite files live. Default "./data". A
	// relative data in a configuration file, or the default when a file
	// leaves it out, resolves against that file's directory; a --data
	// flag, and the default of the built-in configuration, against the
	// working directory.
	Data string `yaml:"data"`
	// Log selects the event log backend. Default backend sqlite.
	Log eventlog.Config `yaml:"log"`
	// Store selects the read model's database. Default driver sqlite.
	Store Store `yaml:"store"`
	// Limits bound what one request may cost.
	Limits Limits `yaml:"limits"`
	// RequestLog is which hook requests serve logs a line for:
	// RequestLogAll (default), RequestLogFailures or RequestLogNone. It
	// is a key of its own, not one under log, which is the event log.
	RequestLog string `yaml:"request_log"`
	// Sources are the webhook senders hookd accepts, one route each.
	Sources []Source `yaml:"sources"`
	// SMTP is the mail server of the email action; off unless given.
	SMTP SMTP `yaml:"smtp"`
	// Mailjet holds the Mailjet API keys of the mailjet_* actions and
	// `hookd mailjet`; off unless given.
	Mailjet Mailjet `yaml:"mailjet"`
	// Rules are rule file paths or globs, relative to the config file.
	Rules []string `yaml:"rules"`
	// Retention bounds how long old rows are kept. Default: forever.
	Retention Retention `yaml:"retention"`

	// File is the path the configuration was loaded from, as given to Load
	// ("" for the built-in default); relative rule paths resolve against its
	// directory.
	File string `yaml:"-"`
}

// Retention says how long hookd serve keeps old rows; it deletes older
// ones in the background, a few at a time. A zero field keeps rows forever.
type Retention struct {
	// Events is how long the store keeps events (with their explanations
	// and the action jobs done for them), by event time, and quarantined
	// bodies, by receipt: "90d".
	Events Period `yaml:"events"`
	// Log is how long the event log keeps messages, by append time:
	// "400d". A message a consumer group has not processed is kept
	// whatever its age. It may not be shorter than Events, so that hookd
	// rebuild finds every stored event in the log, nor than
	// MinLogRetention, since the sqlite and postgres logs recognise a
	// provider's retried delivery by the dedup key of a message they
	// still hold.
	Log Period `yaml:"log"`
}

// The values of Config.RequestLog.
const (
	// RequestLogAll logs a line for every hook request: at info when it
	// was answered under 400, else as a warning or an error.
	RequestLogAll = "all"
	// RequestLogFailures logs the requests answered 400 or more only,
	// which a provider retries or which show a wrong callback URL or
	// secret, and drops the accepted ones, which at a provider's rate
	// are most of the log's volume.
	RequestLogFailures = "failures"
	// RequestLogNone logs no line per request; the refusals are still
	// counted in hookd_requests_rejected_total.
	RequestLogNone = "none"
)

// MinLogRetention is the shortest Retention.Log: a day, the longest that
// providers retry a delivery (Mailjet: 24 hours).
const MinLogRetention = 24 * time.Hour

// Admin configures the admin listener.
type Admin struct {
	// Listen is the admin address. Default "127.0.0.1:8081".
	Listen string `yaml:"listen"`
	// TLS, when set, makes the admin listener serve HTTPS. Default:
	// plain HTTP.
	TLS TLS `yaml:"tls"`
	// Token, when set, is required on /api and /ui as a bearer token, or
	// as the session cookie the dashboard's login form sets. It must be at
	// least 16 bytes long.
	Token string `yaml:"token"`
	// QueryTimeout bounds how long the store queries of one request of the
	// API (and so of the dashboard) may take; a request that runs out of
	// it is answered 504 and its query cancelled in the database. Streams
	// (/api/live, exports) bound each query, not their whole length. It
	// must be shorter than limits.write_timeout, or the answer could not
	// be sent. Default 30s, or half of limits.write_timeout when that is
	// shorter than a minute.
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// Hosts are further names under which browsers may reach the admin
	// listener, such as the name a reverse proxy passes on in Host. A
	// request is answered only when its Host header is an IP address,
	// localhost, or one of these names (with any port): a page of another
	// site that had its own name resolved to this machine (DNS rebinding)
	// gets 421. When Listen is not a loopback address and Hosts is empty,
	// any Host is accepted, as the listener was exposed on purpose.
	// Names are compared without regard to case. Default: none.
	Hosts []string `yaml:"hosts"`
	// SecureCookie, when true, marks the dashboard's session cookie Secure
	// on every login, so that the browser sends it over HTTPS only. Set it
	// when browsers reach the admin listener through a TLS proxy that does
	// not send X-Forwarded-Proto. When false (the default), the cookie is
	// Secure when the login came over TLS, or with X-Forwarded-Proto:
	// https from a proxy, and not otherwise, so that plain
	// http://127.0.0.1:8081 keeps working. Only used with Token.
	SecureCookie bool `yaml:"secure_cookie"`
	// Throttle bounds how fast one client address may guess Token. Only
	// used with Token.
	Throttle Throttle `yaml:"throttle"`
}

// Throttle bounds the wrong admin tokens, as a bearer token or in the
// dashboard's login form, that one client address (the TCP peer's; an
// IPv6 address's /64) may send: Failures at once, then one more every
// Window/Failures. Past that its token checks are answered 429 with
// Retry-After, without the token being compared, until it has one again.
type Throttle struct {
	// Failures is how many wrong tokens one address may send within
	// Window. Default 10.
	Failures int `yaml:"failures"`
	// Window is the time over which Failures are allowed. Default 1m.
	Window time.Duration `yaml:"window"`
}

// Loopback reports whether a.Listen binds a loopback address only
// (127.0.0.1, ::1, localhost), so that only this machine reaches it. An
// address without a host (":8081") binds every interface.
func (a Admin) Loopback() bool {
	host, _, err := net.SplitHostPort(a.Listen)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	return host == "localhost"
}

// TLS is the certificate and private key a listener serves HTTPS with
// (TLS 1.2 at least). Both or neither. Each is a PEM file, relative to
// the configuration file: the certificate first, then its chain, as
// certbot's fullchain.pem; the key unencrypted, as privkey.pem. The pair
// must match and the certificate must not have expired. hookd serve reads
// the files again on SIGHUP, and when their modification time or size
// changed (looked at, at most, every 10 s as clients connect), so that a
// renewal that replaces them takes effect without a restart; a pair that
// does not load then keeps the previous certificate, and is logged.
type TLS struct {
	// Cert is the certificate file.
	Cert string `yaml:"cert"`
	// Key is the private key file. Its path is not a secret; its
	// content is, and is never logged or printed.
	Key string `yaml:"key"`
}

// Enabled reports whether t names a certificate or a key: the listener
// serves HTTPS.
func (t TLS) Enabled() bool { return t.Cert != "" || t.Key != "" }

// Store configures the read model.
type Store struct {
	// Driver is sqlite (default) or postgres.
	Driver string `yaml:"driver"`
	// DSN is the connection string for postgres; it is an error with
	// sqlite, which keeps its file in Config.Data.
	DSN string `yaml:"dsn"`
}

// Limits bound request sizes and timings. A zero field takes its default.
type Limits struct {
	// MaxBody is the largest request body accepted, e.g. "1MiB" (default).
	// Larger bodies get 413.
	MaxBody ByteSize `yaml:"max_body"`
	// MaxEvents is the most events one request may carry. Default 10000
	// a MiB of max_body (10000 with the default 1 MiB): the providers that
	// batch (Mailjet's Version 2, SendGrid) bound a batch by its size, and
	// 1 MiB of the smallest event they document (SendGrid's 181-byte
	// spamreport) is under 6,000 events; the others send one event a
	// request (SES one a recipient). More get 413 and the body is
	// quarantined. A source with a larger max_body and no max_events of
	// its own gets 10000 a MiB of it.
	MaxEvents int `yaml:"max_events"`
	// ReadHeaderTimeout bounds how long a client may take to send its
	// request headers. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds how long a client may take to send a whole
	// request. Default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// BatchWait is how long the group commit waits for more events before
	// it commits a batch that is not full. Default 250µs: on the 2-core
	// reference machine 1ms left the group commit waiting while the CPU had
	// nothing else to do (BenchmarkIngest: about 16,000 against 20,000
	// events/s).
	BatchWait time.Duration `yaml:"batch_wait"`
	// BatchSize is the most events one group commit holds. Default 1000,
	// at most 100000.
	BatchSize int `yaml:"batch_size"`
	// WriteTimeout bounds how long writing a response may take, counted
	// from the end of the request headers, so it covers reading the body
	// and the commit as well: it must be longer than ReadTimeout, or a
	// slow body's events would be committed and their 200 never sent.
	// The admin API's streams, which last as long as their client, are
	// bounded by it write by write instead. Default read_timeout + 1m.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxConcurrent is the most hook requests served at once; more get
	// 503 at once. Default 1024.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxInflight is the most bytes of hook request bodies held at once,
	// e.g. "16MiB". Default 16 MiB, or the largest max_body (limits' or a
	// source's) when that is more. A request is charged its
	// Content-Length once its body's first bytes arrive (a body of
	// unknown length, as it arrives), until it is answered; one that does
	// not fit waits up to a second for earlier ones to finish, then gets
	// 503 with Retry-After: 1, the rest of its body unread. It bounds the
	// memory of hook requests: decoded, encoded and committed, a request's
	// events take at most about 15 times its body when they are tiny (90
	// bytes each) and 4 to 5 times with the events the providers document,
	// less while they wait for their commit, so the default holds hook
	// requests under about 250 MB of live heap. It may not be less than
	// max_body, nor than any source's max_body.
	MaxInflight ByteSize `yaml:"max_inflight"`
	// Drain is how long serve goes on serving after SIGTERM or SIGINT
	// with /readyz answering 503, so that a load balancer stops sending
	// before the listeners close. Default 0: they close at once.
	Drain time.Duration `yaml:"drain"`
}

// Source is one webhook sender.
type Source struct {
	// Name identifies the source in events and routes. Required, unique,
	// and URL-safe: letters, digits, '.', '_', '~' and '-', starting with a
	// letter or a digit.
	Name string `yaml:"name"`
	// Provider is the adapter that decodes its bodies, e.g. mailjet.
	Provider string `yaml:"provider"`
	// Path is the route; default "/hooks/{name}". It starts with "/" and is
	// unique among the sources.
	Path string `yaml:"path"`
	// Auth is how a request proves it comes from the source. Empty means
	// none, which is logged as a warning at start.
	Auth Auth `yaml:"auth"`
	// Verify is how the provider's signature is checked over the raw body;
	// which keys apply depends on the provider (see Verify).
	Verify Verify `yaml:"verify"`
	// Map maps a generic provider's payload to the event's fields.
	Map Map `yaml:"map"`
	// MaxBody, when set, overrides limits.max_body for this source.
	MaxBody ByteSize `yaml:"max_body"`
	// MaxEvents, when set, overrides limits.max_events for this source.
	MaxEvents int `yaml:"max_events"`
	// RateLimit, when set, bounds the requests per second this source
	// accepts; more get 429 with Retry-After.
	RateLimit RateLimit `yaml:"rate_limit"`
}

// Auth holds at most one authentication method; with neither, the source
// accepts any request.
type Auth struct {
	Basic *BasicAuth `yaml:"basic"`
	Token *TokenAuth `yaml:"token"`
}

// BasicAuth is HTTP basic authentication: Mailjet sends the user:pass@ of the
// registered callback URL as an Authorization header. Both fields are
// required.
type BasicAuth struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"`
}

// TokenAuth is a shared secret in the URL: as the query parameter Param
// (default "token") or as the path segment after the source's path
// ("/hooks/mailjet/SECRET"). Value must be at least 16 bytes long.
type TokenAuth struct {
	Value string `yaml:"value"`
	Param string `yaml:"param"`
}

// ByteSize is a size in bytes written as "512KiB", "1MiB", "1MB" or a number.
// KiB and MiB are powers of 1024, kB and MB powers of 1000; case and a space
// before the unit do not matter.
type ByteSize int64
