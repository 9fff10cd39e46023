package dashboard

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// GuardConfig configures Guard.
type GuardConfig struct {
	// Loopback tells that the admin listener binds a loopback address
	// only (config.Admin.Loopback), so that any name in Host other than
	// localhost, an IP address or one of Hosts was given to it by a page
	// that had its own name resolved to this machine.
	Loopback bool
	// Hosts are the further names Host may hold, with any port
	// (admin.hosts), compared without regard to case. When Loopback is
	// false and Hosts is empty, any Host is accepted: the operator exposed
	// the listener on purpose, under names hookd cannot know.
	Hosts []string
}

// Guard returns middleware for the whole admin listener, to be installed
// with echo's Pre so that it covers every route (the API, the dashboard,
// /metrics and the probes) and requests that match none. It refuses what
// a web page of another origin could make a browser send:
//
//   - a request whose Host is not a name of the listener (see
//     GuardConfig): 421. A page under a name of its own that resolves to
//     127.0.0.1 (DNS rebinding) is same-origin to itself, and could read
//     every answer without this check. An IP address is always accepted:
//     a page can only send one as Host from its own origin, which is then
//     hookd itself.
//   - a cross-origin request with a method that may change state (any but
//     GET, HEAD and OPTIONS): 403. net/http's CrossOriginProtection tells
//     them apart by Sec-Fetch-Site, or by Origin against Host in a browser
//     that sends no Sec-Fetch-Site. Another site's form, a no-cors fetch,
//     and a page on another port or subdomain of the same site, which
//     SameSite=Strict does not stop from sending the session cookie, are
//     all cross-origin. Requests with neither header (curl, scripts) are
//     not from a browser page and pass.
//
// Both answer JSON errors through the echo instance's error handler.
//
// Every answer, those two included, carries security headers: a
// Content-Security-Policy, X-Frame-Options DENY, X-Content-Type-Options
// nosniff and Referrer-Policy same-origin (see securityHeaders).
func Guard(cfg GuardConfig) echo.MiddlewareFunc {
	hosts := slices.Clone(cfg.Hosts)
	anyHost := !cfg.Loopback && len(hosts) == 0
	cop := http.NewCrossOriginProtection()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			for _, kv := range securityHeaders {
				h.Set(kv[0], kv[1])
			}
			r := c.Request()
			if !anyHost && !knownHost(r.Host, hosts) {
				return echo.NewHTTPError(http.StatusMisdirectedRequest, fmt.Sprintf(
					"Host %q is not a name of this admin listener: reach it as localhost or by IP address, or add the name to admin.hosts", r.Host))
			}
			if err := cop.Check(r); err != nil {
				return echo.NewHTTPError(http.StatusForbidden,
					"cross-origin request refused: a page of another origin (another site, port or scheme) cannot change hookd's state; use the dashboard itself, or a client that sends no Origin header")
			}
			return next(c)
		}
	}
}

// securityHeaders are set on every answer of the admin listener (see
// Guard). The policy is the dashboard's: its pages load scripts, styles
// and data from the listener itself and nowhere else, run no inline
// script or style (so that markup slipped into a page would run nothing),
// post forms only to the listener, and show in no frame, so that a page
// of another site cannot overlay them to steal clicks. On the API's JSON
// and the metrics the same headers cost nothing and keep a browser from
// taking them for anything else.
var securityHeaders = [...][2]string{
	{"Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
	{"X-Frame-Options", "DENY"},           // frame-ancestors for browsers that predate it
	{"X-Content-Type-Options", "nosniff"}, // an answer is what its Content-Type says, never a script guessed from its bytes
	{"Referrer-Policy", "same-origin"},
}

// knownHost reports whether host, a Host header, is empty (HTTP/1.0,
// which no browser sends), an IP address, localhost or one of names, with
// or without a port.
func knownHost(host string, names []string) bool {
	if host == "" {
		return true
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		name = host[1 : len(host)-1]
	}
	if net.ParseIP(name) != nil || strings.EqualFold(name, "localhost") {
		return true
	}
	return slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) })
}
