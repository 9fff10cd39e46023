// Package listener is hookd's public HTTP side: one route per configured
// source, body limits, per-source authentication, decoding through the
// source's provider, and the group commit that answers 200 only once a
// request's events are durably in the event log.
//
// Provider adapters live in subpackages (listener/mailjet, ...) and register
// themselves with Register; import them for their side effect.
package listener

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/outage"
)

// Config configures a Listener. Zero values take the defaults documented on
// config.Limits.
type Config struct {
	// Sources are the routes to serve; each needs a registered provider.
	Sources []config.Source
	// MaxBody is the largest body accepted (default 1 MiB); larger gets 413.
	MaxBody int64
	// MaxEvents is the most events one request may carry (default 10000,
	// as limits.max_events); more gets 413 and the body is quarantined. A
	// source's MaxEvents overrides it.
	MaxEvents int
	// BatchSize is the most events one group commit holds (default 1000).
	BatchSize int
	// BatchWait is how long a group commit that is not full waits for more
	// requests (default 0: commit what has queued while the previous
	// commit ran, which is what a loaded server wants).
	BatchWait time.Duration
	// MaxConcurrent is the most hook requests served at once (default
	// 1024); a request beyond it is answered 503 at once. /healthz and
	// /readyz are not counted.
	MaxConcurrent int
	// MaxInflight is the most bytes of hook request bodies held at once
	// (default 16 MiB, as limits.max_inflight), which bounds the memory
	// that requests take together: a request is charged its
	// Content-Length once its body's first bytes arrive (a body of
	// unknown length, its bytes as they arrive), until it is answered, so
	// a client that declares a length and sends nothing holds nothing.
	// One that does not fit waits up to InflightWait for earlier ones to
	// finish, in arrival order, and is then answered 503 with
	// Retry-After, the rest of its body unread and its connection closed.
	// A body larger than MaxInflight is charged MaxInflight: it needs the
	// budget to itself.
	MaxInflight int64
	// InflightWait is how long a request waits for room under MaxInflight
	// (default 1s): long enough for the requests ahead of it to be
	// committed, short against a provider's timeout.
	InflightWait time.Duration
	// Nonces remembers providers' single-use tokens; nil keeps them in
	// memory only, which forgets them on restart (serve passes a file in
	// the data directory or a PostgreSQL table, see SQLNonces).
	Nonces Nonces
	// Client makes the adapters' outgoing requests; nil means a client
	// with a 10 s timeout.
	Client *http.Client
	// Now is the clock adapters check timestamps against; nil is
	// time.Now.
	Now func() time.Time
	// ReadyHold is how long Ready reports a failed group commit when no
	// commit has succeeded since (default DefaultReadyHold): long enough
	// for a load balancer to take hookd out, short enough that it is
	// tried again once no traffic comes to tell.
	ReadyHold time.Duration
	// CommitTimeout bounds how long a hook request waits for the
	// durability of its events, from when they are queued for the group
	// commit until the commit that holds them returns, the queue and the
	// commits ahead of it included (default DefaultCommitTimeout). A
	// request still waiting then is answered 503 with Retry-After, as when
	// the log fails; what the log stores of it all the same is a
	// duplicate when the provider retries. It also bounds each append to
	// the log, and the append of a quarantined body.
	CommitTimeout time.Duration
	// RequestLog is which requests get a line in the request log:
	// config.RequestLogAll (the default, also for ""),
	// config.RequestLogFailures (those answered 400 or more) or
	// config.RequestLogNone. Any other value is an error of New.
	RequestLog string
}

// DefaultReadyHold is the default of Config.ReadyHold.
const DefaultReadyHold = 10 * time.Second

// DefaultCommitTimeout is the default of Config.CommitTimeout: half the
// 10 s that hookd send waits for an answer, so that a client with such a
// timeout hears the 503 of a log that does not commit rather than nothing.
const DefaultCommitTimeout = 5 * time.Second

// pingTimeout bounds Ready's ping of the log.
const pingTimeout = 2 * time.Second

// Listener serves the hook routes. Create it with New, start its group
// commit with Run, and serve Handler.
type Listener struct {
	// routing is the hook routes being served; SetSources swaps in a new
	// one, serialized by reload. A request loads it once and keeps it.
	routing   atomic.Pointer[routing]
	reload    sync.Mutex
	handler   http.Handler
	log       eventlog.Log
	commit    *committer
	logger    *slog.Logger
	maxBody   int64
	maxEvents int
	metrics   *metrics
	bufs      sync.Pool
	env       Env
	slots     chan struct{} // one per request in progress

	// inflight holds the bytes of the bodies of requests in progress, at
	// most maxInflight; a request waits up to inflightWait for room.
	inflight     *semaphore.Weighted
	maxInflight  int64
	inflightWait time.Duration

	// quarantineOut logs failed quarantine appends, once an outage.
	quarantineOut *outage.Log

	readyHold time.Duration
	// logAccepted and logRefused say whether a request answered under
	// 400, and one answered 400 or more, gets a line in the request log.
	logAccepted, logRefused bool
	draining                atomic.Bool // Drain was called
	unready                 atomic.Bool // the last Ready returned an error; logged on change
}

// New builds a Listener over log. logger nil discards; reg nil registers the
// metrics nowhere.
func New(cfg Config, log eventlog.Log, logger *slog.Logger, reg prometheus.Registerer) (*Listener, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 10000
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 1024
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 16 << 20
	}
	if cfg.InflightWait <= 0 {
		cfg.InflightWait = time.Second
	}
	if cfg.Nonces == nil {
		cfg.Nonces = newMemNonces()
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.ReadyHold <= 0 {
		cfg.ReadyHold = DefaultReadyHold
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = DefaultCommitTimeout
	}
	var logAccepted, logRefused bool
	switch cfg.RequestLog {
	case "", config.RequestLogAll:
		logAccepted, logRefused = true, true
	case config.RequestLogFailures:
		logRefused = true
	case config.RequestLogNone:
	default:
		return nil, fmt.Errorf("request log %q: want %s, %s or %s", cfg.RequestLog, config.RequestLogAll, config.RequestLogFailures, config.RequestLogNone)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	l := &Listener{
		log:       log,
		logger:    logger,
		maxBody:   cfg.MaxBody,
		maxEvents: cfg.MaxEvents,
		metrics:   m,
		bufs:      sync.Pool{New: func() any { return new(bytes.Buffer) }},
		env:       Env{Logger: logger, Nonces: cfg.Nonces, Client: cfg.Client, Now: cfg.Now},
		slots:     make(chan struct{}, cfg.MaxConcurrent),

		inflight:     semaphore.NewWeighted(cfg.MaxInflight),
		maxInflight:  cfg.MaxInflight,
		inflightWait: cfg.InflightWait,

		quarantineOut: outage.New(logger, "quarantine failed", "quarantine succeeded again", 0),
		readyHold:     cfg.ReadyHold,
		logAccepted:   logAccepted,
		logRefused:    logRefused,
	}
	l.commit = newCommitter(log, cfg.BatchSize, cfg.BatchWait, cfg.CommitTimeout, m.batch.Observe, logger)
	r, err := l.newRouting(cfg.Sources, nil)
	if err != nil {
		return nil, err
	}
	l.routing.Store(r)
	l.handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		l.routing.Load().echo.ServeHTTP(w, req)
	})
	return l, nil
}

// Handler returns the HTTP handler of the hook routes, /healthz and
// /readyz. It serves each request with the sources of the last
// SetSources (or New) before the request came.
func (l *Listener) Handler() http.Handler { return l.handler }

// routing is one generation of the hook routes: the echo instance that
// serves them, and the hook of each source. It is never changed once
// built; SetSources builds the next.
type routing struct {
	echo   *echo.Echo
	hooks  map[string]*hook  // by source name
	routes map[string]string // each hook route's source, for requests no hook serves (405)
}

// SourceChanges names the sources a SetSources added, removed and changed,
// each list sorted.
type SourceChanges struct {
	Added, Removed, Changed []string
}

// Empty reports whether the SetSources changed nothing.
func (c SourceChanges) Empty() bool {
	return len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changed) == 0
}

// SetSources makes srcs the sources l serves, in place of those it served
// (config.Load's sources: validated, secrets resolved). A request in
// progress finishes with the sources it started with; every request after
// SetSources returns is served with srcs. A source whose settings are
// unchanged keeps its hook whole, its rate limiter and its adapter's state
// included; a changed one keeps its rate limiter when its rate_limit is
// the same. The replay tokens (Config.Nonces), the limits, the group
// commit and the metrics are l's and carry over. On an error (a source
// that no adapter takes) l serves on with the sources it had. Safe for
// concurrent use.
func (l *Listener) SetSources(srcs []config.Source) (SourceChanges, error) {
	l.reload.Lock()
	defer l.reload.Unlock()
	prev := l.routing.Load()
	next, err := l.newRouting(srcs, prev)
	if err != nil {
		return SourceChanges{}, err
	}
	l.routing.Store(next)
	var ch SourceChanges
	for name, h := range next.hooks {
		switch old, ok := prev.hooks[name]; {
		case !ok:
			ch.Added = append(ch.Added, name)
		case old != h:
			ch.Changed = append(ch.Changed, name)
		}
	}
	for name := range prev.hooks {
		if _, ok := next.hooks[name]; !ok {
			ch.Removed = append(ch.Removed, name)
		}
	}
	for _, s := range [][]string{ch.Added, ch.Removed, ch.Changed} {
		slices.Sort(s)
	}
	return ch, nil
}

// newRouting builds the routes of srcs, taking over from prev (nil at the
// start) the hooks of the sources that did not change.
func (l *Listener) newRouting(srcs []config.Source, prev *routing) (*routing, error) {
	r := &routing{echo: NewEcho(l.logger), hooks: map[string]*hook{}, routes: map[string]string{}}
	r.echo.Use(l.logRequests(r.routes))
	RouteHealthz(r.echo)
	RouteReadyz(r.echo, l.Ready, false)
	for _, src := range srcs {
		var old *hook
		if prev != nil {
			old = prev.hooks[src.Name]
		}
		h, err := l.hook(src, old)
		if err != nil {
			return nil, err
		}
		r.hooks[src.Name] = h
		path := pathOf(src)
		r.echo.POST(path, h.serve)
		r.routes[path] = src.Name
		if src.Auth.Token != nil {
			r.echo.POST(tokenPath(path), h.serve)
			r.routes[tokenPath(path)] = src.Name
		}
	}
	return r, nil
}

// InFlight returns how many hook requests are in progress: being read,
// verified and decoded, or waiting for the commit that holds their events.
// By Little's law it is the request rate times the latency, so it climbs
// when requests come faster than they can be answered. Safe for concurrent
// use.
func (l *Listener) InFlight() int { return len(l.slots) }

// Ready returns nil when l would take a hook request now, and otherwise
// an error saying why not: hookd is shutting down (Drain was called, or the
// group commit has stopped); a group commit failed less than Config.ReadyHold ago and none has
// succeeded since; or the log, where it can tell (eventlog.Pinger), did
// not answer a ping within 2 s. The hold is what reports failures a ping
// cannot see, such as a full disk; once it has passed with no request to
// try again, the ping decides, so that hookd is tried again.
//
// Ready logs a warning when it starts failing and an info line when it
// passes again. Safe for concurrent use.
func (l *Listener) Ready(ctx context.Context) error {
	err := l.ready(ctx)
	changed := l.unready.Swap(err != nil) != (err != nil)
	switch {
	case changed && err != nil:
		l.logger.Warn("not ready for hook requests", "err", err)
	case changed:
		l.logger.Info("ready for hook requests again")
	}
	return err
}

// Drain makes Ready fail from now on, as a stop begins: hook requests are
// still served, so that a load balancer that has not seen /readyz turn yet
// loses nothing.
func (l *Listener) Drain() { l.draining.Store(true) }

func (l *Listener) ready(ctx context.Context) error {
	if l.draining.Load() {
		return errStopped
	}
	select {
	case <-l.commit.stopped:
		return errStopped
	default:
	}
	if at, err := l.commit.out.Last(); err != nil {
		if ago := time.Since(at); ago < l.readyHold {
			return fmt.Errorf("the last group commit failed %s ago: %w", ago.Round(time.Millisecond), err)
		}
	}
	if p, ok := l.log.(eventlog.Pinger); ok {
		ctx, cancel := context.WithTimeout(ctx, pingTimeout)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Run runs the group commit until ctx ends. Stop serving (http.Server
// Shutdown) before ending ctx, so that no request is left waiting.
func (l *Listener) Run(ctx context.Context) error {
	l.commit.run(ctx)
	return nil
}

// hook returns the hook of src: old itself when it serves the same
// settings, else a new one, which takes over old's metrics, and its rate
// limiter when the rate limit is the same. old is nil for a source new to
// l. A new hook's warnings (no authentication, a weak password) are
// logged.
func (l *Listener) hook(src config.Source, old *hook) (*hook, error) {
	if old != nil && reflect.DeepEqual(old.src, src) {
		return old, nil
	}
	p, err := Lookup(src.Provider)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", src.Name, err)
	}
	env := l.env
	env.Logger = l.logger.With("source", src.Name)
	ad, err := p.New(src, env)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", src.Name, err)
	}
	auth, err := newAuth(src)
	if err != nil {
		return nil, err
	}
	if Unauthenticated(src) {
		l.logger.Warn("source accepts unauthenticated requests: anyone who knows the URL can post events",
			"source", src.Name, "path", pathOf(src))
	}
	for _, w := range Warnings(src) {
		l.logger.Warn(w, "source", src.Name)
	}
	h := &hook{l: l, src: src, ad: ad, auth: auth, maxBody: l.maxBody, maxEvents: l.maxEvents}
	if src.MaxBody > 0 {
		h.maxBody = int64(src.MaxBody)
	}
	if src.MaxEvents > 0 {
		h.maxEvents = src.MaxEvents
	}
	switch r := src.RateLimit.Rate; {
	case old != nil && old.src.RateLimit == src.RateLimit:
		h.limiter = old.limiter
	case r > 0:
		burst := src.RateLimit.Burst
		if burst <= 0 {
			burst = max(1, int(math.Ceil(r)))
		}
		h.limiter = rate.NewLimiter(rate.Limit(r), burst)
	}
	if old != nil {
		h.metrics = old.metrics
	} else {
		h.metrics = l.metrics.source(src.Name)
	}
	return h, nil
}

// tokenPath is the route of a source's path followed by its token as a
// path segment: /hooks/mailjet/:token, and /:token for the path "/".
func tokenPath(path string) string { return strings.TrimSuffix(path, "/") + "/:token" }

func pathOf(src config.Source) string {
	if src.Path != "" {
		return src.Path
	}
	return "/hooks/" + src.Name
}

// Unauthenticated reports whether src takes requests from anyone who knows
// its URL: it has neither basic nor token auth, and verifies no signature
// or header secret.
func Unauthenticated(src config.Source) bool {
	return src.Auth.Basic == nil && src.Auth.Token == nil && !signs(src)
}

// MinPassword is the length, in bytes, under which Warnings calls a basic
// auth password weak: that of a token (config.TokenAuth). A warning, not an
// error: the password is the provider account's setting as much as hookd's.
const MinPassword = 16

// signs reports whether src verifies a signature or a header secret.
func signs(src config.Source) bool {
	v := src.Verify
	return v.PublicKey != "" || v.SigningKey != "" || v.ParentSigningKey != "" || v.Secret != "" || len(v.TopicARNs) > 0 || v.Header != nil || v.HMAC != nil
}

// hook serves one source.
type hook struct {
	l         *Listener
	src       config.Source
	ad        Adapter
	auth      authenticator // nil: none
	maxBody   int64
	maxEvents int
	limiter   *rate.Limiter // nil: unlimited
	metrics   *sourceMetrics
}

// accepted is the body of a 200 answer.
type accepted struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

// write answers c with a as JSON, the bytes encoding/json would write. It
// is spelled out because it is every acknowledgement: through echo's JSON
// serializer it cost as much CPU as encoding the events.
func (a accepted) write(c echo.Context) error {
	b := make([]byte, 0, 48)
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(a.Accepted), 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(a.Duplicates), 10)
	b = append(b, "}\n"...)
	return c.JSONBlob(http.StatusOK, b)
}

func (h *hook) serve(c echo.Context) error {
	start := time.Now()
	l, req := h.l, c.Request()
	c.Set(logSource, h.src.Name)
	select {
	case l.slots <- struct{}{}:
		defer func() { <-l.slots }()
	default:
		l.metrics.rejected.WithLabelValues(h.src.Name, "busy").Inc()
		shed(c)
		c.Response().Header().Set("Retry-After", "1")
		return echo.NewHTTPError(http.StatusServiceUnavailable, "too many requests in progress, retry later")
	}
	// Credentials come before the rate limit, and a request whose
	// signature does not verify gives its token back: otherwise anyone who
	// knows the URL could spend the provider's rate with forged requests.
	if h.auth != nil {
		if err := h.auth.check(c); err != nil {
			l.metrics.rejected.WithLabelValues(h.src.Name, "auth").Inc()
			return err
		}
	}
	var res *rate.Reservation
	if h.limiter != nil {
		if res = h.limiter.ReserveN(start, 1); !res.OK() || res.DelayFrom(start) > 0 {
			wait := res.DelayFrom(start)
			res.CancelAt(start)
			l.metrics.rejected.WithLabelValues(h.src.Name, "rate").Inc()
			shed(c)
			c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
			return echo.NewHTTPError(http.StatusTooManyRequests, "rate limit exceeded, retry later")
		}
	}
	maxBody := h.maxBody
	if req.ContentLength > maxBody {
		l.metrics.rejected.WithLabelValues(h.src.Name, "too_large").Inc()
		return tooLarge(maxBody)
	}
	// The body is charged to the in-flight budget once its first bytes
	// arrive, so a client that declares a length and sends nothing holds
	// none of it.
	ch := &charge{l: l, ctx: req.Context(), limit: min(maxBody, l.maxInflight)}
	defer ch.free()
	buf := l.bufs.Get().(*bytes.Buffer)
	defer func() { l.putBuf(buf) }()
	buf.Reset()
	if req.ContentLength > 0 {
		// Room for a body of up to a chunk and the read that finds its
		// end; a larger one grows as it arrives.
		buf.Grow(int(min(req.ContentLength, chargeChunk)) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(&chargedBody{r: io.LimitReader(req.Body, maxBody+1), ch: ch, declared: req.ContentLength}); err != nil {
		if errors.Is(err, errNoRoom) {
			if res != nil {
				// Refused for hookd's load, not the source's rate.
				res.CancelAt(start)
			}
			l.metrics.rejected.WithLabelValues(h.src.Name, "inflight").Inc()
			shed(c)
			c.Response().Header().Set("Retry-After", "1")
			return echo.NewHTTPError(http.StatusServiceUnavailable, "too much request data in progress, retry later")
		}
		return h.unread(err)
	}
	if int64(buf.Len()) > maxBody {
		l.metrics.rejected.WithLabelValues(h.src.Name, "too_large").Inc()
		return tooLarge(maxBody)
	}
	// Held until the request is answered: what the body turned out to be.
	ch.trim(int64(buf.Len()))
	body := buf.Bytes()
	if err := h.ad.Verify(req.Context(), req, body); err != nil {
		if res != nil {
			// At start, the reservation's time: a reservation canceled
			// after its time gives nothing back.
			res.CancelAt(start)
		}
		return h.refuse(c, err)
	}
	if ctl, ok := h.ad.(Controller); ok {
		handled, err := ctl.Control(req.Context(), req.Header, body)
		if err != nil {
			return h.refuse(c, err)
		}
		if handled {
			return accepted{}.write(c)
		}
	}
	// Every adapter that takes an array makes an event of each element:
	// counted, too many are refused before any is decoded (a compressed
	// body is refused as such by decode).
	if n := arrayLen(bytes.TrimPrefix(body, utf8BOM)); n > h.maxEvents && encodingErr(req.Header) == nil {
		return h.tooMany(c, start, body, n)
	}
	events, err := decode(h.ad, req.Header, body)
	if err != nil {
		l.metrics.rejected.WithLabelValues(h.src.Name, "malformed").Inc()
		return h.quarantine(c, start, body, malformed, err)
	}
	if len(events) > h.maxEvents {
		// An object that holds several events (SES: one a recipient).
		return h.tooMany(c, start, body, len(events))
	}
	c.Set(logEvents, len(events))
	// The events hold copies of what they keep of the body (Decode must
	// not keep it), so the buffer can serve another request while this
	// one waits for its commit.
	l.putBuf(buf)
	buf = nil
	// From here the request holds its events' records only: the events
	// themselves, with the provider's objects that the records' JSON
	// holds again, are garbage once the records are made.
	recs := make([]record, len(events))
	received := start.UTC()
	for i := range events {
		e := &events[i]
		e.Source = h.src.Name
		e.Received = received
		if e.Time.IsZero() {
			e.Time = received
		}
		payload, err := e.Marshal()
		if err != nil {
			return err
		}
		recs[i] = record{id: e.ID, typ: e.Type, payload: payload}
	}
	var dup []bool
	if len(recs) > 0 {
		// The body is whole and decoded, so a client that hangs up now
		// changes nothing: its events are committed (its retry will be a
		// duplicate), and a 503 no one hears is not logged as an outage.
		dup, err = l.commit.submit(recs)
		if err != nil {
			l.metrics.rejected.WithLabelValues(h.src.Name, "unavailable").Inc()
			// The committer logs why a commit failed; a request that did
			// not wait for one was cut short by shutdown, or by its
			// deadline behind commits that were slow or failed.
			c.Set(logCauseShown, true)
			return l.unavailable(c, err)
		}
	}
	dups := h.metrics.observe(recs, dup, time.Since(start))
	c.Set(logDuplicates, dups)
	return accepted{Accepted: len(recs) - dups, Duplicates: dups}.write(c)
}

// chargeChunk is the most of a body read at once, and so held beyond the
// in-flight budget before it is charged.
const chargeChunk = 64 << 10

// errNoRoom is chargedBody's error when the in-flight budget had no room
// for the body's next bytes within the listener's inflightWait.
var errNoRoom = errors.New("no room in the in-flight budget")

// charge is what one request holds of the listener's in-flight budget: at
// most limit, its largest body (or the whole budget, when that is less).
type charge struct {
	l     *Listener
	ctx   context.Context
	limit int64
	held  int64
}

// cover makes c hold n bytes, or its limit when that is less; false when
// the budget had no room in time.
func (c *charge) cover(n int64) bool {
	n = min(n, c.limit)
	if c.held >= n {
		return true
	}
	if !c.l.admit(c.ctx, n-c.held) {
		return false
	}
	c.held = n
	return true
}

// trim gives back what c holds beyond n bytes.
func (c *charge) trim(n int64) {
	if c.held > n {
		c.l.release(c.held - n)
		c.held = n
	}
}

// free gives back all c holds.
func (c *charge) free() { c.trim(0) }

// chargedBody reads a request's body at most a chunk at a time and
// charges it to ch once bytes have arrived: the declared length whole at
// the first bytes, so that requests never hold part of what they need
// while they wait for the rest (and crowd each other out); a body of
// unknown length, what has arrived, as it arrives.
type chargedBody struct {
	r        io.Reader
	ch       *charge
	declared int64 // Content-Length; -1 unknown
	n        int64 // read so far
}

func (b *chargedBody) Read(p []byte) (int, error) {
	p = p[:min(len(p), chargeChunk)]
	n, err := b.r.Read(p)
	b.n += int64(n)
	if n > 0 && !b.ch.cover(max(b.n, b.declared)) {
		return n, errNoRoom
	}
	return n, err
}

// admit charges n bytes of body to the in-flight budget, waiting up to
// l.inflightWait (or until ctx ends) for room, and reports whether it did.
// A request that fits at once pays no timer.
func (l *Listener) admit(ctx context.Context, n int64) bool {
	if !l.inflight.TryAcquire(n) {
		ctx, cancel := context.WithTimeout(ctx, l.inflightWait)
		defer cancel()
		if l.inflight.Acquire(ctx, n) != nil {
			return false
		}
	}
	l.metrics.inflight.Add(float64(n))
	return true
}

// release gives back n bytes that admit charged.
func (l *Listener) release(n int64) {
	l.inflight.Release(n)
	l.metrics.inflight.Sub(float64(n))
}

// putBuf gives a request's body buffer back to the pool, unless it is nil
// or has grown past 4 MiB.
func (l *Listener) putBuf(buf *bytes.Buffer) {
	if buf != nil && buf.Cap() <= 4<<20 {
		buf.Reset()
		l.bufs.Put(buf)
	}
}

var utf8BOM = []byte("\ufeff")

// unread answers a request whose body could not be read: 408 when the
// server's read timeout ended it, 400 when the client broke it off. Neither
// is quarantined, there being no whole body to keep, and the message leaves
// out the connection's addresses that the error holds.
func (h *hook) unread(err error) error {
	code, reason, msg := http.StatusBadRequest, "read", "read body: the request body ended early"
	if errors.Is(err, os.ErrDeadlineExceeded) {
		code, reason, msg = http.StatusRequestTimeout, "timeout", "read body: not received within the read timeout"
	}
	h.l.metrics.rejected.WithLabelValues(h.src.Name, reason).Inc()
	return echo.NewHTTPError(code, msg).SetInternal(err)
}

// shed makes the answer to a request refused for load, before its body was
// read, the connection's last. net/http would otherwise read and discard up
// to 256 KB of the body before it answers, to keep the connection open: work
// an overloaded server should not do, and, for a client that stalls
// mid-body, no answer until the read timeout.
func shed(c echo.Context) { c.Response().Header().Set(echo.HeaderConnection, "close") }

// refuse answers a request that failed verification: 401, or the status
// the error carries. The request log's line (a warning) has the status and
// what the client was told; refuse adds no line of its own but at debug
// level, so a flood of forged requests costs one line each, as any
// request does.
func (h *hook) refuse(c echo.Context, err error) error {
	code := http.StatusUnauthorized
	var sc StatusCoder
	if errors.As(err, &sc) {
		code = sc.StatusCode()
	}
	reason := "auth"
	if code == http.StatusServiceUnavailable {
		reason = "unavailable"
		c.Response().Header().Set("Retry-After", retryAfter)
		h.l.logger.Error("cannot verify request", "source", h.src.Name, "err", errors.Unwrap(err))
		c.Set(logCauseShown, true)
	} else {
		h.l.logger.Debug("request refused", "source", h.src.Name, "err", err)
	}
	h.l.metrics.rejected.WithLabelValues(h.src.Name, reason).Inc()
	return echo.NewHTTPError(code, err.Error()).SetInternal(err)
}

// checkEvents checks what every adapter must guarantee of its events, so
// that a wrong mapping is a malformed body rather than a bad row.
//
// Data must be UTF-8, as JSON exchanged between systems must be (RFC 8259):
// hookd serves it as it came, so other bytes would make every answer that
// holds the event invalid JSON, and an address with them would be read
// with U+FFFD in their place, giving two recipients one event id.
func checkEvents(events []event.Event) error {
	for i, e := range events {
		switch {
		case e.ID == "":
			return fmt.Errorf("event %d: empty id", i)
		case len(e.ID) > event.MaxText, len(e.Type) > event.MaxText, len(e.Email) > event.MaxText,
			len(e.MessageID) > event.MaxText, len(e.Campaign) > event.MaxText:
			return fmt.Errorf("event %d: %s", i, tooLong(e))
		case !e.Time.IsZero() && (e.Time.Year() < event.MinYear || e.Time.Year() > event.MaxYear):
			return fmt.Errorf("event %d: time %s is outside the years %d to %d", i, e.Time.UTC().Format(time.RFC3339), event.MinYear, event.MaxYear)
		case !utf8.Valid(e.Data):
			return fmt.Errorf("event %d: not UTF-8 at byte %d of the event's object (JSON must be UTF-8)", i, invalidUTF8(e.Data))
		case !e.Category.Valid():
			return fmt.Errorf("event %d: category %q: want one of %v", i, e.Category, event.Categories)
		case !e.BounceClass.Valid():
			return fmt.Errorf("event %d: bounce_class %q: want hard or soft", i, e.BounceClass)
		}
	}
	return nil
}

// tooLong names e's first normalized field longer than event.MaxText.
func tooLong(e event.Event) string {
	for _, f := range [...]struct{ name, v string }{
		{"id", e.ID}, {"type", e.Type}, {"email", e.Email}, {"message_id", e.MessageID}, {"campaign", e.Campaign},
	} {
		if len(f.v) > event.MaxText {
			return fmt.Sprintf("%s of %d bytes, more than the %d hookd keeps", f.name, len(f.v), event.MaxText)
		}
	}
	return ""
}

// invalidUTF8 returns the offset of the first byte of b that does not start
// a valid UTF-8 sequence.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// refusal is why a body from a source whose authentication passed is
// quarantined instead of stored: the answer's status and what the answer
// and the log line call the body.
type refusal struct {
	code int
	what string
}

var (
	// malformed is a body that could not be decoded.
	malformed = refusal{http.StatusBadRequest, "malformed body"}
	// overfull is a body of more events than the source's max_events.
	overfull = refusal{http.StatusRequestEntityTooLarge, "body with too many events"}
)

// tooMany refuses a body of n events, more than the source's max_events,
// and quarantines it: a provider retries a 413 as it retries any answer
// but 200, then gives the batch up, so the copy in quarantine is what
// remains of a genuine batch that large once it has.
func (h *hook) tooMany(c echo.Context, start time.Time, body []byte, n int) error {
	h.l.metrics.rejected.WithLabelValues(h.src.Name, "too_many_events").Inc()
	c.Set(logEvents, n)
	return h.quarantine(c, start, body, overfull, fmt.Errorf("%d events in one request, more than max_events (%d)", n, h.maxEvents))
}

// quarantine keeps a body that is refused for why in the log's quarantine
// topic, then answers why.code. If even that fails the answer is 503, so
// the provider retries and nothing is lost.
//
// A provider retries a 400 or a 413 as it retries any answer but 200
// (Mailjet every 30 s for a day), so the same body and error from the same
// source are kept once: the log recognises the retry by a key made of
// them, as it recognises a retried event.
func (h *hook) quarantine(c echo.Context, start time.Time, body []byte, why refusal, derr error) error {
	q := event.Quarantined{
		ID:          event.Hash("quarantine", start, h.src.Name, strconv.FormatInt(start.UnixNano(), 10), string(body)),
		Source:      h.src.Name,
		Received:    start.UTC(),
		Error:       derr.Error(),
		ContentType: c.Request().Header.Get(echo.HeaderContentType),
		Body:        bytes.Clone(body),
	}
	payload, err := jsonMarshal(q)
	if err != nil {
		return err
	}
	m := message.NewMessage(q.ID, payload)
	m.Metadata.Set(eventlog.DedupKey, event.Hash("quarantine", time.Time{}, h.src.Name, q.Error, string(body)))
	// Not the request's context: a client that hangs up after sending
	// its body still has it kept, and is no quarantine outage.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), h.l.commit.timeout)
	defer cancel()
	dup, err := h.l.log.Append(ctx, eventlog.TopicQuarantine, []*message.Message{m})
	if err != nil {
		h.l.quarantineOut.Fail(err, "source", h.src.Name)
		c.Set(logCauseShown, true)
		return h.l.unavailable(c, err)
	}
	h.l.quarantineOut.OK()
	if dup[0] {
		h.l.logger.Info(why.what+" already quarantined", "source", h.src.Name, "err", derr)
		return echo.NewHTTPError(why.code, why.what+" (already quarantined: the same body was sent before): "+derr.Error())
	}
	h.l.logger.Warn(why.what+" quarantined", "source", h.src.Name, "quarantine_id", q.ID, "err", derr)
	return echo.NewHTTPError(why.code, why.what+" (quarantined as "+q.ID+"): "+derr.Error())
}

func tooLarge(max int64) error {
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
		fmt.Sprintf("body larger than %d bytes", max))
}

// retryAfter is the Retry-After, in seconds, of a request the event log
// did not take, as of one that came while hookd was starting.
const retryAfter = "5"

// unavailable answers c, whose events the event log did not take because
// of err, 503 with Retry-After. The answer does not say the events are not
// stored: a commit that failed or was given up on hookd's side may have
// been stored on the log's, and so may one that returned after c stopped
// waiting. The provider's retry of those is answered as duplicates.
func (l *Listener) unavailable(c echo.Context, err error) error {
	c.Response().Header().Set("Retry-After", retryAfter)
	msg := "event log unavailable, retry later"
	if errors.Is(err, errLate) {
		msg = "event log did not commit the events within " + l.commit.timeout.String() +
			", retry later (any it stored meanwhile are then answered as duplicates)"
	}
	return echo.NewHTTPError(http.StatusServiceUnavailable, msg).SetInternal(err)
}

// decode turns body, a verified delivery with the request headers h, into
// ad's events, as the hook handler and Preview do: a compressed body is
// refused, a byte order mark trimmed (it is not JSON, but RFC 8259 lets a
// parser ignore one, and some senders' libraries write it), an empty body
// refused, and the events checked (checkEvents).
func decode(ad Adapter, h http.Header, body []byte) ([]event.Event, error) {
	if err := encodingErr(h); err != nil {
		return nil, err
	}
	events, err := ad.Decode(h, bytes.TrimPrefix(body, utf8BOM))
	if err == nil && len(body) == 0 {
		err = errors.New("empty body")
	}
	if err == nil {
		err = checkEvents(events)
	} else {
		err = bodyHint(h, body, err)
	}
	return events, err
}

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// bodyHint says what was sent when a body that does not decode is a
// common mistake of a hand-made request, where the decoder's error
// names only its first byte: a gzip stream without its Content-Encoding,
// or an HTML form. It runs on the error path alone.
func bodyHint(h http.Header, body []byte, err error) error {
	switch {
	case bytes.HasPrefix(body, gzipMagic):
		return fmt.Errorf("body is gzip-compressed, sent without Content-Encoding: hookd takes bodies uncompressed: %w", err)
	case strings.HasPrefix(strings.ToLower(h.Get(echo.HeaderContentType)), echo.MIMEApplicationForm):
		return fmt.Errorf("body sent as a form (Content-Type %s), not JSON: %w", echo.MIMEApplicationForm, err)
	}
	return err
}

// encodingErr refuses a body sent compressed: no provider compresses its
// webhooks, and the decoders would only say the first byte is not JSON.
func encodingErr(h http.Header) error {
	if enc := h.Get(echo.HeaderContentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
		return fmt.Errorf("body sent with Content-Encoding %q: hookd takes bodies uncompressed", enc)
	}
	return nil
}
