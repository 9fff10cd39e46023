package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// rejectLogEvery is the least time between two log lines of failed admin
// authentication from one class of remote address.
const rejectLogEvery = time.Minute

// adminRejects counts the admin listener's requests refused for want of
// the admin token, and those refused because their address sent too many
// wrong ones (see dashboard.Throttle), as
// hookd_admin_rejected_total{reason}, and logs them at most once a minute
// per class of remote address (loopback, private, public), so that
// someone guessing tokens is seen without flooding the log. Nothing of
// what the request sent as a token is logged.
type adminRejects struct {
	counter *prometheus.CounterVec
	logger  *slog.Logger
	now     func() time.Time

	mu     sync.Mutex
	last   map[string]time.Time // by class: when last logged
	unsaid map[string]int       // by class: rejections since
}

// Reasons of hookd_admin_rejected_total.
const (
	rejectAPI   = "api"   // /api without a valid token or session
	rejectLogin = "login" // a wrong token in the dashboard's login form
	rejectUI    = "ui"    // a dashboard file without a session
	// A bearer token or a login from an address that sent too many wrong
	// tokens, answered 429 without the token being checked.
	rejectThrottled = "throttled"
)

// newAdminRejects returns an adminRejects with its counter registered in
// reg, each reason at 0.
func newAdminRejects(reg prometheus.Registerer, logger *slog.Logger) (*adminRejects, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookd_admin_rejected_total",
		Help: "Admin listener requests answered 401 for want of the admin token, by reason: api (no or a wrong token or session on /api), login (a wrong token in the dashboard's login form), ui (a dashboard file without a session); and throttled, answered 429 without the token being checked, from an address that sent too many wrong tokens.",
	}, []string{"reason"})
	for _, r := range []string{rejectAPI, rejectLogin, rejectUI, rejectThrottled} {
		c.WithLabelValues(r)
	}
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("register admin metrics: %w", err)
	}
	return &adminRejects{counter: c, logger: logger, now: time.Now, last: map[string]time.Time{}, unsaid: map[string]int{}}, nil
}

// Middleware counts and logs the requests that the handlers and the
// middleware after it answer 401, and 429: on the admin listener only the
// throttle of wrong tokens answers 429.
func (a *adminRejects) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		status := c.Response().Status
		if he := (*echo.HTTPError)(nil); errors.As(err, &he) {
			status = he.Code
		} else if err != nil {
			return err
		}
		r := c.Request()
		var reason string
		switch {
		case status == http.StatusTooManyRequests:
			reason = rejectThrottled
		case status != http.StatusUnauthorized:
			return err
		case strings.HasPrefix(r.URL.Path, "/api"):
			reason = rejectAPI
		case r.URL.Path == "/ui/login":
			reason = rejectLogin
		default:
			reason = rejectUI
		}
		a.reject(reason, r)
		return err
	}
}

// reject counts a rejection and logs it, unless one from the same class
// of address was logged less than rejectLogEvery ago.
func (a *adminRejects) reject(reason string, r *http.Request) {
	a.counter.WithLabelValues(reason).Inc()
	class := addrClass(r.RemoteAddr)
	a.mu.Lock()
	now := a.now()
	if last, ok := a.last[class]; ok && now.Sub(last) < rejectLogEvery {
		a.unsaid[class]++
		a.mu.Unlock()
		return
	}
	unsaid := a.unsaid[class]
	a.last[class], a.unsaid[class] = now, 0
	a.mu.Unlock()
	attrs := []any{"reason", reason, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "class", class}
	if unsaid > 0 {
		attrs = append(attrs, "more_since_last_line", unsaid)
	}
	msg := "admin request rejected: missing or wrong admin token (logged at most once a minute per class of remote address; hookd_admin_rejected_total counts them all)"
	if reason == rejectThrottled {
		msg = "admin request rejected: too many wrong admin tokens from its address, answered 429 without checking the token (logged at most once a minute per class of remote address; hookd_admin_rejected_total counts them all)"
	}
	a.logger.Warn(msg, attrs...)
}

// addrClass returns the class of a remote address (host:port): loopback,
// private (RFC 1918, unique local, link-local) or public; unknown when it
// does not parse.
func addrClass(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "unknown"
	}
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate(), ip.IsLinkLocalUnicast():
		return "private"
	}
	return "public"
}
