package dashboard

import (
	"container/list"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of ThrottleConfig.
const (
	defaultFailures = 10
	defaultWindow   = time.Minute
	defaultClients  = 10000
)

// ThrottleConfig configures a Throttle. A zero field takes its default.
type ThrottleConfig struct {
	// Failures is how many wrong tokens one client may send within
	// Window: Failures at once, then one more every Window/Failures.
	// Default 10.
	Failures int
	// Window is the time over which Failures are allowed, and how long a
	// client is remembered after its last check. Default one minute.
	Window time.Duration
	// MaxClients bounds how many clients are remembered at once; past it
	// the one that sent a token least recently is forgotten. Default
	// 10,000, about 2.5 MB.
	MaxClients int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Throttle limits how fast one client may guess the admin token: the
// bearer token on /api and the dashboard, and the login form's. A client
// is the TCP peer's address (an IPv6 address's /64 prefix, which one
// machine usually holds whole); X-Forwarded-For is not read, since any
// client can send one and would get a fresh limit with each value it
// makes up, or spend another client's. Behind a reverse proxy every
// client is the proxy.
//
// Each token check takes one of the client's attempts before the token
// is compared, and gives it back when the token was right, so that
// concurrent guesses cannot overtake the count and a script that uses
// the right token is never throttled. A client with no attempt left is
// refused without its token being compared, so that a throttled client
// cannot tell the right token from a wrong one. The session cookie is not
// throttled: it holds 256 random bits, which no one guesses, and a
// logged-in operator keeps working while someone behind the same address
// guesses the token.
//
// The limits are golang.org/x/time/rate token buckets, one per client,
// in a table bounded by MaxClients (the least recently used client is
// forgotten first) whose entries expire Window after their last check,
// when the bucket is full again. echo's RateLimiter middleware does not
// fit: it counts every request rather than wrong tokens, and its store
// has no bound. A Throttle is safe for concurrent use; a nil *Throttle
// throttles nothing.
type Throttle struct {
	cfg ThrottleConfig

	mu      sync.Mutex
	clients map[netip.Addr]*list.Element // of *client
	order   list.List                    // of *client, the most recently checked first
}

// client is one client's bucket and when it last sent a token.
type client struct {
	addr netip.Addr
	lim  *rate.Limiter
	seen time.Time
}

// NewThrottle returns a Throttle configured by cfg.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.Failures <= 0 {
		cfg.Failures = defaultFailures
	}
	if cfg.Window <= 0 {
		cfg.Window = defaultWindow
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = defaultClients
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Throttle{cfg: cfg, clients: map[netip.Addr]*list.Element{}}
}

// attempt is one check of a token, taken by begin and settled by done.
type attempt struct {
	res *rate.Reservation
	at  time.Time
}

// done settles the attempt: a right token gives it back.
func (a attempt) done(right bool) {
	if a.res != nil && right {
		a.res.CancelAt(a.at)
	}
}

// begin takes one attempt of r's client. When the client has none left,
// it returns false and how long until it has one.
func (t *Throttle) begin(r *http.Request) (attempt, time.Duration, bool) {
	if t == nil {
		return attempt{}, 0, true
	}
	key := clientOf(r.RemoteAddr)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	t.expire(now)
	var c *client
	if el, ok := t.clients[key]; ok {
		c = el.Value.(*client)
		t.order.MoveToFront(el)
	} else {
		if t.order.Len() >= t.cfg.MaxClients {
			t.forget(t.order.Back())
		}
		c = &client{addr: key, lim: rate.NewLimiter(rate.Every(t.cfg.Window/time.Duration(t.cfg.Failures)), t.cfg.Failures)}
		t.clients[key] = t.order.PushFront(c)
	}
	c.seen = now
	res := c.lim.ReserveN(now, 1)
	if wait := res.DelayFrom(now); wait > 0 {
		res.CancelAt(now)
		return attempt{}, wait, false
	}
	return attempt{res: res, at: now}, 0, true
}

// expire forgets the clients not seen for Window, whose buckets are full
// again: they are as if never seen.
func (t *Throttle) expire(now time.Time) {
	for el := t.order.Back(); el != nil && now.Sub(el.Value.(*client).seen) >= t.cfg.Window; el = t.order.Back() {
		t.forget(el)
	}
}

func (t *Throttle) forget(el *list.Element) {
	delete(t.clients, el.Value.(*client).addr)
	t.order.Remove(el)
}

// clientOf returns the client of a remote address (host:port): the IPv4
// address, or the /64 prefix of the IPv6 one. Every address that does not
// parse is one client, the zero Addr.
func clientOf(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}
