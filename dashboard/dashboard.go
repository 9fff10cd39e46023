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
package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/event"
)

//go:embed static
var static embed.FS

// CookieName is the name of the session cookie the login form sets.
const CookieName = "hookd_session"

// sessionAge is how long a login lasts.
const sessionAge = 7 * 24 * time.Hour

// Config configures the dashboard.
type Config struct {
	// Token is the admin token; empty means the dashboard and the API are
	// open to whoever reaches the admin listener.
	Token string
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

// Register serves the dashboard on e: the page at /ui/ (and /ui redirecting
// to it), its assets under /ui/static/, and, when cfg.Token is set, the
// login form at /ui/login and POST /ui/logout, with a Log out button on
// the page.
func Register(e *echo.Echo, cfg Config) {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	index := template.Must(template.ParseFS(sub, "index.html"))
	assets := http.StripPrefix("/ui/static/", http.FileServer(http.FS(sub)))
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
	if cfg.Token != "" {
		g.GET("/login", loginForm(""))
		g.POST("/login", login(cfg.Token))
		g.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				p := c.Request().URL.Path
				if p == "/ui/login" || p == "/ui/static/style.css" || authorized(c.Request(), cfg.Token) {
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
		g.POST("/logout", logout)
		g.GET("/logout", func(c echo.Context) error {
			c.Response().Header().Set(echo.HeaderAllow, http.MethodPost)
			return echo.NewHTTPError(http.StatusMethodNotAllowed, "log out with POST, as the dashboard's Log out button does")
		})
	}
	e.GET("/ui", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/ui/") })
	// The admin listener's root is where a browser goes first.
	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/ui/") })
	g.GET("/", page)
	g.GET("/static/*", func(c echo.Context) error {
		// index.html is the page's template, served rendered at /ui/.
		if name := c.Param("*"); name == "" || name == "index.html" {
			return echo.NewHTTPError(http.StatusNotFound, "not found: the dashboard is at /ui/")
		}
		assets.ServeHTTP(c.Response(), c.Request())
		return nil
	})
}

// APIAuth returns middleware for the API that lets a request through when
// it carries token as a bearer token or the dashboard's session cookie,
// and answers 401 otherwise. token must not be empty.
func APIAuth(token string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if authorized(c.Request(), token) {
				return next(c)
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="hookd"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "missing or wrong admin token: send Authorization: Bearer TOKEN, or log in at /ui/login")
		}
	}
}

// authorized tells whether r carries the token as a bearer token or a
// valid session cookie. Both comparisons take constant time.
func authorized(r *http.Request, token string) bool {
	// The scheme's name is case-insensitive (RFC 9110, section 11.1).
	if scheme, got, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
		a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(token))
		return subtle.ConstantTimeCompare(a[:], b[:]) == 1
	}
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(ck.Value), []byte(session(token)))
}

// session is the session cookie's value: a MAC of a fixed text under the
// token, so the cookie does not hold the token itself, and changing the
// token ends every session.
func session(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("hookd dashboard session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

func login(token string) echo.HandlerFunc {
	return func(c echo.Context) error {
		got := c.FormValue("token")
		a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			return loginForm("Wrong token.")(c)
		}
		c.SetCookie(&http.Cookie{
			Name: CookieName, Value: session(token), Path: "/", MaxAge: int(sessionAge.Seconds()),
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Request().TLS != nil,
		})
		return c.Redirect(http.StatusSeeOther, "/ui/")
	}
}

func logout(c echo.Context) error {
	c.SetCookie(&http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return c.Redirect(http.StatusSeeOther, "/ui/login")
}

// loginForm answers the login page, with problem shown when not empty
// (401 then, 200 otherwise). Its script adds the page's fragment to the
// form's action, so that the redirect after logging in, which keeps it,
// lands on the dashboard page that sent the browser here (/ui/#/deadletters
// goes to /ui/login#/deadletters).
func loginForm(problem string) echo.HandlerFunc {
	return func(c echo.Context) error {
		code, msg := http.StatusOK, ""
		if problem != "" {
			code, msg = http.StatusUnauthorized, `<p class="error" id="login-error">`+problem+`</p>`
		}
		return c.HTML(code, `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>hookd: log in</title>
<link rel="stylesheet" href="/ui/static/style.css"></head>
<body class="login"><main><h1>hookd</h1>`+msg+`
<form method="post" action="/ui/login" id="login-form"><label>Admin token <input type="password" name="token" id="token" autofocus required></label>
<button type="submit" id="login">Log in</button></form>
<script>document.getElementById("login-form").action += location.hash;</script></main></body></html>`)
	}
}
