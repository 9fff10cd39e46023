// Package dashboard is hookd's web UI, served at /ui on the admin listener:
// overview charts, deliverability per domain, a live event stream, search
// with each event's rules and action jobs, rule activity and load errors,
// dead letters and suspended targets with Retry and Resume, the
// suppression list, and the quarantine of bodies that could not be
// decoded. It is a client of the admin API (/api) and nothing
// else, so everything it shows can be had with curl as well.
//
// The page is plain HTML, CSS and JavaScript modules embedded in the
// binary: no build step, no CDN, no third-party code, so it works offline
// and go run serves it as it is in the repository. Charts are SVG drawn by
// static/chart.js (about a hundred lines); a chart library would have added
// more bytes than the charts it draws.
//
// When the admin token is set, the dashboard and the API take either the
// token as "Authorization: Bearer TOKEN" or the session cookie that the
// login form at /ui/login sets. It is HttpOnly, so no script reads it, and
// SameSite=Strict, so a page of another site does not make the browser
// send it; a page of the same site does, on another port of the same host
// or on a sibling subdomain, which is why Guard refuses every cross-origin
// request that may change state (a retry, a resume, a removal, the login
// and the logout) whatever authorizes it. The page's Log out button posts
// to /ui/logout.
//
// A login is a session: a random id in the cookie, kept in Config.Sessions
// (the store, which replicas share) until SessionAge has passed or the
// user logs out, whichever comes first.
//
// A Throttle, when configured, bounds how fast one client address may
// guess the token: past its limit of wrong tokens, the bearer token and
// the login form are answered 429 with Retry-After without the token
// being compared, so that the answer tells nothing of a guess.
//
// Guard, which hookd serve puts in front of the whole admin listener, also
// sets security headers, among them a Content-Security-Policy without
// 'unsafe-inline': the page, the login form and the scripts use no inline
// script, style attribute or eval.
package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/event"
)

//go:embed static
var static embed.FS

// CookieName is the name of the session cookie the login form sets.
const CookieName = "hookd_session"

// SessionAge is how long a login lasts, from the login on, however much
// the dashboard is used meanwhile: a working day, after which the token
// is asked for again.
const SessionAge = 12 * time.Hour

// sessionRecheck is how often a request authorized by a session's
// cookie, while it lasts, looks the session up again (see whileSession).
var sessionRecheck = 10 * time.Second

// Sessions keeps the sessions of the login form, each under a MAC of its
// id (never the id itself) until it expires. *store.Store keeps them in
// the store's database, so that every replica sharing it knows every
// session, and a logout at one ends it at all. The methods may be called
// concurrently; their errors are answered 503.
type Sessions interface {
	// AddSession keeps a session under mac until expires; it may delete
	// sessions that expired before now.
	AddSession(ctx context.Context, mac string, now, expires time.Time) error
	// Session returns when the session under mac expires, and false when
	// there is none.
	Session(ctx context.Context, mac string) (expires time.Time, ok bool, err error)
	// DeleteSession ends the session under mac; one that is not there is
	// not an error.
	DeleteSession(ctx context.Context, mac string) error
}

// Config configures the dashboard.
type Config struct {
	// Token is the admin token; empty means the dashboard and the API are
	// open to whoever reaches the admin listener.
	Token string
	// Sessions keeps the logins' sessions. Required when Token is set.
	Sessions Sessions
	// SecureCookie marks the session cookie Secure on every login. When
	// false it is Secure when the login came over TLS, or with
	// X-Forwarded-Proto: https (a TLS proxy in front), and not otherwise.
	SecureCookie bool
	// Now is the clock sessions are issued and expire by; nil means
	// time.Now.
	Now func() time.Time
	// Throttle limits how many wrong tokens, as a bearer token or in the
	// login form, one client address may send (see Throttle); nil means
	// no limit. The same one is given to Register and APIAuth, so that
	// guesses at the API and at the login form count together.
	Throttle *Throttle
	// Logger receives the cause of a server error that the dashboard
	// answers a browser with a page (see Register); nil discards it.
	Logger *slog.Logger
}

// pageData is what index.html is rendered with. The search form's
// suggestions of a category and a bounce class come from the event
// package, whose lists /api/events checks them against, so that the two
// cannot drift apart.
type pageData struct {
	// Logout shows the Log out button: there is a session to end.
	Logout        bool
	Categories    []event.Category
	BounceClasses []event.BounceClass
}

// getHead are the methods of the dashboard's GET routes: each answers HEAD
// as it answers GET, without the body, as the API's do.
var getHead = []string{http.MethodGet, http.MethodHead}

// Register serves the dashboard on e: the page at /ui/ (and /ui redirecting
// to it), its assets under /ui/static/, and, when cfg.Token is set, the
// login form at /ui/login and POST /ui/logout, with a Log out button on
// the page. An error of a /ui route (a 503 while the store does not
// answer, say) is answered to a browser, a request that accepts
// text/html, as a small HTML page with its status and headers, and to
// any other client as e's error handler answers it (JSON). With
// cfg.Token set, a /ui request with a token in its query string, the
// login's included, is answered 400 (see noTokenInURL). It panics when
// cfg.Token is set without cfg.Sessions.
func Register(e *echo.Echo, cfg Config) {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	index := template.Must(template.ParseFS(sub, "index.html"))
	assets := assetNames(sub)
	page := func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
		c.Response().WriteHeader(http.StatusOK)
		return index.Execute(c.Response(), pageData{
			Logout:        cfg.Token != "",
			Categories:    event.Categories,
			BounceClasses: []event.BounceClass{event.Hard, event.Soft},
		})
	}
	g := e.Group("/ui")
	// First, so that it answers the errors of every route and middleware
	// of the group.
	g.Use(errorPages(cfg.Logger))
	var root []echo.MiddlewareFunc
	if cfg.Token != "" {
		a := newAuth(cfg)
		g.Use(noTokenInURL)
		root = append(root, noTokenInURL)
		g.Match(getHead, "/login", loginForm(http.StatusOK, ""))
		g.POST("/login", a.login)
		g.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				p := c.Request().URL.Path
				if p == "/ui/login" || p == "/ui/static/style.css" || p == "/ui/static/login.js" {
					return next(c)
				}
				if ok, _, err := a.check(c.Request()); err != nil {
					return refused(c, err)
				} else if ok {
					return next(c)
				}
				if strings.HasPrefix(p, "/ui/static/") {
					return echo.NewHTTPError(http.StatusUnauthorized, "log in at /ui/login")
				}
				return c.Redirect(http.StatusSeeOther, "/ui/login")
			}
		})
		// Behind the session: a POST without it is sent to the login
		// form. Guard has refused one from a page of another origin
		// before, with the cookie (same site) or without.
		g.POST("/logout", a.logout)
		g.Match(getHead, "/logout", func(c echo.Context) error {
			c.Response().Header().Set(echo.HeaderAllow, http.MethodPost)
			return echo.NewHTTPError(http.StatusMethodNotAllowed, "log out with POST, as the dashboard's Log out button does")
		})
	}
	e.Match(getHead, "/ui", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/ui/") }, root...)
	// The admin listener's root is where a browser goes first.
	e.Match(getHead, "/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/ui/") }, root...)
	g.Match(getHead, "/", page)
	g.Match(getHead, "/static/*", func(c echo.Context) error {
		// Only an asset's own name: the path as decoded, so that neither
		// a dot segment (x/../) nor an escaped slash (..%2f) reaches the
		// embedded tree, whose directory listing is its index.html.
		name := strings.TrimPrefix(c.Request().URL.Path, "/ui/static/")
		if !assets[name] {
			return echo.NewHTTPError(http.StatusNotFound, "not found: the dashboard is at /ui/")
		}
		http.ServeFileFS(c.Response(), c.Request(), sub, name)
		return nil
	})
}

// assetNames returns the names of the files of the embedded static tree
// that /ui/static/ serves: all but index.html, the page's template,
// which is served rendered at /ui/.
func assetNames(sub fs.FS) map[string]bool {
	names := map[string]bool{}
	err := fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && name != "index.html" {
			names[name] = true
		}
		return err
	})
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	return names
}

// APIAuth returns middleware for the API that lets a request through when
// it carries cfg.Token as a bearer token or the cookie of a live session
// of the dashboard, and answers 401 otherwise; a request with a token in
// its query string is answered 400 (see noTokenInURL); a bearer token from a
// client that cfg.Throttle throttles is answered 429 with Retry-After,
// whether it is right or not. The context of a request that a session
// let through ends when the session does, by a logout or its expiry, so
// that a stream (GET /api/live) does not outlast it. cfg.Token must not
// be empty, and cfg.Sessions must be set.
func APIAuth(cfg Config) echo.MiddlewareFunc {
	a := newAuth(cfg)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := tokenInURL(c); err != nil {
				return err
			}
			if ok, mac, err := a.check(c.Request()); err != nil {
				return refused(c, err)
			} else if ok {
				if mac != "" {
					ctx, stop := a.whileSession(c.Request().Context(), mac)
					defer stop()
					c.SetRequest(c.Request().WithContext(ctx))
				}
				return next(c)
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="hookd"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "missing or wrong admin token: send Authorization: Bearer TOKEN, or log in at /ui/login")
		}
	}
}

// noTokenInURL is middleware that answers 400 to a request with a token
// parameter in its query string, before anything reads it; see tokenInURL.
func noTokenInURL(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := tokenInURL(c); err != nil {
			return err
		}
		return next(c)
	}
}

// tokenInURL returns a 400 error when c's query string has a token
// parameter, whatever its value: a URL is kept by the browser's history
// and by the logs of the proxies it passes, so the admin token is taken
// only from the Authorization header or the login form's body, and a
// request offering it in the URL is refused rather than let through or
// counted as a wrong guess.
func tokenInURL(c echo.Context) error {
	if !c.Request().URL.Query().Has("token") {
		return nil
	}
	return echo.NewHTTPError(http.StatusBadRequest, "the admin token is not taken in the URL, which browsers' history and proxies' logs keep: send it as Authorization: Bearer TOKEN, or in the body of the login form at /ui/login")
}

// auth checks the admin token and the sessions of the login form.
type auth struct {
	token    string
	sessions Sessions
	secure   bool
	now      func() time.Time
	throttle *Throttle
}

func newAuth(cfg Config) *auth {
	if cfg.Token == "" || cfg.Sessions == nil {
		panic("dashboard: the admin token and its Sessions are both required")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &auth{token: cfg.Token, sessions: cfg.Sessions, secure: cfg.SecureCookie, now: now, throttle: cfg.Throttle}
}

// cookie returns the session cookie of value id, lasting maxAge seconds
// (negative: dropped at once), for r. It is Secure, so that the browser
// sends it over HTTPS only, when configured so or when r came over HTTPS:
// TLS to hookd, or a proxy's X-Forwarded-Proto (its first value, the
// scheme the browser used). The header is taken from anyone: a client
// that sends it untruthfully only gets itself a cookie its browser will
// not send back over plain HTTP.
func (a *auth) cookie(r *http.Request, id string, maxAge int) *http.Cookie {
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return &http.Cookie{
		Name: CookieName, Value: id, Path: "/", MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: a.secure || r.TLS != nil || strings.EqualFold(strings.TrimSpace(proto), "https"),
	}
}

// sessionBytes is the size of a session's random id.
const sessionBytes = 32

// check tells whether r carries the token as a bearer token or the cookie
// of a session that has neither expired nor been ended, and, for the
// cookie, the MAC the session is kept under. The token is compared in
// constant time, unless the throttle refuses r's client, which check
// returns as a *throttledError; the session is looked up by its MAC. It
// returns an error when the sessions cannot be read.
func (a *auth) check(r *http.Request) (ok bool, mac string, err error) {
	// The scheme's name is case-insensitive (RFC 9110, section 11.1).
	if scheme, got, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
		at, wait, ok := a.throttle.begin(r)
		if !ok {
			return false, "", &throttledError{wait}
		}
		right := a.isToken(got)
		at.done(right)
		return right, "", nil
	}
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return false, "", nil
	}
	mac, ok = a.mac(ck.Value)
	if !ok {
		return false, "", nil
	}
	live, err := a.live(r.Context(), mac)
	if err != nil || !live {
		return false, "", err
	}
	return true, mac, nil
}

// live tells whether the session under mac is kept and has not expired.
func (a *auth) live(ctx context.Context, mac string) (bool, error) {
	expires, ok, err := a.sessions.Session(ctx, mac)
	if err != nil {
		return false, err
	}
	return ok && a.now().Before(expires), nil
}

// whileSession returns a context of ctx that ends, besides with ctx, once
// the session under mac has: it is looked up again every sessionRecheck,
// so that a request that lasts, such as the live stream, ends within that
// of a logout (at any replica sharing the sessions) or of the session's
// expiry, as the session's next request would be refused. A lookup that
// fails leaves the request going, as a store that stopped answering for a
// while does not end the session. stop must be called when the request
// is done.
func (a *auth) whileSession(ctx context.Context, mac string) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		tick := time.NewTicker(sessionRecheck)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if live, err := a.live(ctx, mac); err == nil && !live {
				cancel()
				return
			}
		}
	}()
	return ctx, cancel
}

func (a *auth) isToken(got string) bool {
	x, y := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(a.token))
	return subtle.ConstantTimeCompare(x[:], y[:]) == 1
}

// mac returns what the session of the cookie value id is kept under: a
// MAC of the id under the token, so that the store does not hold what a
// cookie holds, and a new token ends every session. It returns false when
// id is not a session id (sessionBytes of base64url), which is not
// looked up.
func (a *auth) mac(id string) (string, bool) {
	if b, err := base64.RawURLEncoding.DecodeString(id); err != nil || len(b) != sessionBytes {
		return "", false
	}
	m := hmac.New(sha256.New, []byte(a.token))
	m.Write([]byte("hookd dashboard session v2\n"))
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil)), true
}

// throttledError is check's error for a client that the throttle refuses
// for wait.
type throttledError struct{ wait time.Duration }

func (e *throttledError) Error() string {
	return fmt.Sprintf("too many wrong admin tokens from this address: retry in %d s", retrySeconds(e.wait))
}

// retrySeconds is wait as Retry-After says it: whole seconds, rounded up,
// at least 1.
func retrySeconds(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// refused is the answer to a request that check returned err for: 429
// with Retry-After for a throttled client, 503 when the sessions cannot be
// read.
func refused(c echo.Context, err error) error {
	if te := (*throttledError)(nil); errors.As(err, &te) {
		c.Response().Header().Set("Retry-After", strconv.Itoa(retrySeconds(te.wait)))
		return echo.NewHTTPError(http.StatusTooManyRequests, te.Error()+" (the token was not checked)")
	}
	return unavailable(c, err)
}

// unavailable is the answer when the sessions cannot be read or written,
// as the API's when the store does not answer.
func unavailable(c echo.Context, err error) error {
	c.Response().Header().Set("Retry-After", "5")
	return echo.NewHTTPError(http.StatusServiceUnavailable, "sessions unavailable (the store does not answer), retry later").SetInternal(err)
}

// login starts a session when the form's token is right: a new random
// id, whatever cookie the browser had, so that an id someone else set
// before the login is never the session's. A client that the throttle
// refuses gets the form again, 429 with Retry-After, its token unchecked.
func (a *auth) login(c echo.Context) error {
	at, wait, ok := a.throttle.begin(c.Request())
	if !ok {
		s := retrySeconds(wait)
		c.Response().Header().Set("Retry-After", strconv.Itoa(s))
		return loginForm(http.StatusTooManyRequests, fmt.Sprintf("Too many wrong tokens from your address: try again in %d seconds.", s))(c)
	}
	// The body's only: a token in the query string was refused before.
	right := a.isToken(c.Request().PostFormValue("token"))
	at.done(right)
	if !right {
		return loginForm(http.StatusUnauthorized, "Wrong token.")(c)
	}
	b := make([]byte, sessionBytes)
	rand.Read(b) // never fails (crypto/rand: it crashes the program instead)
	id := base64.RawURLEncoding.EncodeToString(b)
	mac, _ := a.mac(id)
	now := a.now()
	if err := a.sessions.AddSession(c.Request().Context(), mac, now, now.Add(SessionAge)); err != nil {
		return unavailable(c, err)
	}
	c.SetCookie(a.cookie(c.Request(), id, int(SessionAge.Seconds())))
	return c.Redirect(http.StatusSeeOther, "/ui/")
}

// logout ends the session of the request's cookie, at every replica that
// shares the sessions, and has the browser drop the cookie.
func (a *auth) logout(c echo.Context) error {
	if ck, err := c.Request().Cookie(CookieName); err == nil {
		if mac, ok := a.mac(ck.Value); ok {
			if err := a.sessions.DeleteSession(c.Request().Context(), mac); err != nil {
				return unavailable(c, err)
			}
		}
	}
	c.SetCookie(a.cookie(c.Request(), "", -1))
	return c.Redirect(http.StatusSeeOther, "/ui/login")
}

// errorPages returns middleware that answers an *echo.HTTPError of a
// request that accepts text/html (a browser's navigation, a form's post)
// with a page that says what the JSON error would, with the same status
// and the headers set so far (Retry-After); a server error's cause is
// logged to logger, as the echo error handler logs it for the others.
// Other requests (HEAD, the dashboard's scripts, curl), and a path no
// route serves, get the error back, for the error handler.
func errorPages(logger *slog.Logger) echo.MiddlewareFunc {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			he, ok := errors.AsType[*echo.HTTPError](err)
			r := c.Request()
			// The router's own 404, which the error handler turns into a
			// 405 with Allow for a path served with other methods, is
			// left to it.
			if !ok || errors.Is(err, echo.ErrNotFound) || c.Response().Committed || r.Method == http.MethodHead || !acceptsHTML(r) {
				return err
			}
			msg, _ := he.Message.(string)
			if msg == "" {
				msg = http.StatusText(he.Code)
			}
			if he.Code >= 500 && he.Internal != nil {
				logger.Error("request failed", "method", r.Method, "route", c.Path(), "status", he.Code, "err", err)
			}
			status := fmt.Sprintf("%d %s", he.Code, http.StatusText(he.Code))
			return c.HTML(he.Code, `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>hookd: `+status+`</title>
<link rel="stylesheet" href="/ui/static/style.css"></head>
<body class="login"><main><h1>hookd</h1><p class="error" id="error">`+template.HTMLEscapeString(status+": "+msg)+`</p>
<p><a href="/ui/">Back to the dashboard</a></p></main></body></html>`)
		}
	}
}

// acceptsHTML reports whether r's Accept header names text/html, as a
// browser's navigation does; a script's fetch sends */* unless told.
func acceptsHTML(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get(echo.HeaderAccept), ",") {
		media, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(media), echo.MIMETextHTML) {
			return true
		}
	}
	return false
}

// loginForm answers the login page with code, and problem shown when not
// empty. Its script, static/login.js, adds the page's
// fragment to the form's action, so that the redirect after logging in,
// which keeps it, lands on the dashboard page that sent the browser here
// (/ui/#/deadletters goes to /ui/login#/deadletters).
func loginForm(code int, problem string) echo.HandlerFunc {
	return func(c echo.Context) error {
		msg := ""
		if problem != "" {
			msg = `<p class="error" id="login-error">` + template.HTMLEscapeString(problem) + `</p>`
		}
		return c.HTML(code, `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>hookd: log in</title>
<link rel="stylesheet" href="/ui/static/style.css"></head>
<body class="login"><main><h1>hookd</h1>`+msg+`
<form method="post" action="/ui/login" id="login-form"><label>Admin token <input type="password" name="token" id="token" autofocus required></label>
<p class="muted" id="login-help">The <code>admin.token</code> of hookd's configuration.</p>
<button type="submit" class="primary" id="login">Log in</button></form>
</main><script src="/ui/static/login.js"></script></body></html>`)
	}
}
