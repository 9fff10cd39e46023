package listener

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

var jsonMarshal = json.Marshal

// StatusCoder is implemented by errors that carry their HTTP status.
type StatusCoder interface {
	StatusCode() int
}

// NewEcho returns an echo instance set up the way every hookd listener is:
// no banner, and one error handler that answers every error as
// {"error": "..."} JSON with its status code. Server errors are logged with
// their cause; the client sees only the public message.
func NewEcho(logger *slog.Logger) *echo.Echo {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = ErrorHandler(logger)
	e.JSONSerializer = jsonSerializer{}
	return e
}

// jsonSerializer is echo's JSON serializer without HTML escaping: an
// answer is JSON, never HTML, and a provider's object in it (a click's url
// with "&", a campaign name with "<") comes back with the bytes it was
// sent with, as the CLI and the store keep it.
type jsonSerializer struct{ echo.DefaultJSONSerializer }

// Serialize implements echo.JSONSerializer.
func (jsonSerializer) Serialize(c echo.Context, i any, indent string) error {
	enc := json.NewEncoder(c.Response())
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(i)
}

// ErrorHandler returns an echo.HTTPErrorHandler that writes {"error": msg}.
// *echo.HTTPError keeps its code and message; an error implementing
// StatusCoder keeps its code and its Error text; anything else is a 500
// whose cause is logged, not shown. A request that no route takes (echo's
// ErrNotFound) for a path a route serves with other methods is answered
// 405 with their Allow header, or 204 with it for OPTIONS, as echo's router
// answers itself unless a group's catch-all took the request; a path no
// route serves stays a 404.
func ErrorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code, msg := http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError)
		var he *echo.HTTPError
		var sc StatusCoder
		switch {
		case errors.As(err, &he):
			code = he.Code
			msg = http.StatusText(code)
			if m, ok := he.Message.(string); ok && m != "" {
				msg = m
			}
			switch code {
			case http.StatusNotFound:
				if !errors.Is(err, echo.ErrNotFound) {
					break
				}
				if allow := allowed(c); allow != "" {
					// The catch-all route of a group with middleware
					// (echo.Group.Use) takes the requests that the router
					// would have answered 405: answer them so.
					c.Response().Header().Set(echo.HeaderAllow, allow)
					if c.Request().Method == http.MethodOptions {
						if err := c.NoContent(http.StatusNoContent); err != nil {
							logger.Debug("write options response", "err", err)
						}
						return
					}
					code, msg = http.StatusMethodNotAllowed, "method "+c.Request().Method+" not allowed"
					break
				}
				msg = "not found: no route for " + c.Request().URL.Path + slashHint(c.Echo(), c.Request().URL.Path)
			case http.StatusMethodNotAllowed:
				msg = "method " + c.Request().Method + " not allowed"
			}
		case errors.As(err, &sc):
			code, msg = sc.StatusCode(), err.Error()
		}
		// A server error is logged with its cause unless the handler did
		// so, or made it on purpose with nothing more to say (a busy
		// server's 503). The route, not the path: a path can hold a
		// source's token.
		if shown, _ := c.Get(logCauseShown).(bool); code >= 500 && !shown && (he == nil || he.Internal != nil) {
			logger.Error("request failed", "method", c.Request().Method, "route", c.Path(), "status", code, "err", err)
		}
		if c.Request().Method == http.MethodHead {
			// The headers of the GET's answer, without its body.
			c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			err = c.NoContent(code)
		} else {
			err = c.JSON(code, map[string]string{"error": msg})
		}
		if err != nil {
			logger.Debug("write error response", "err", err)
		}
	}
}

// allowMethods are the methods an Allow header lists, in the order echo's
// router lists them, after OPTIONS, which echo answers on every route.
var allowMethods = []string{
	http.MethodConnect, http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodPatch,
	http.MethodPost, "PROPFIND", http.MethodPut, http.MethodTrace, "REPORT",
}

// allowed returns the Allow header of a route that serves the path of c's
// request with other methods than the request's, as echo's router writes
// it for a 405 ("OPTIONS, GET, HEAD"), or "" when no route serves the path
// with another method. A method counts when the router finds, for it, a
// route registered with that method, not a RouteNotFound catch-all.
func allowed(c echo.Context) string {
	e := c.Echo()
	routes := make(map[string]bool)
	for _, r := range e.Routes() {
		routes[r.Method+" "+r.Path] = true
	}
	req := c.Request()
	var ms []string
	for _, m := range allowMethods {
		fc := e.NewContext(req, nil)
		e.Router().Find(m, echo.GetPath(req), fc)
		if routes[m+" "+fc.Path()] {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 || slices.Contains(ms, req.Method) {
		return ""
	}
	return http.MethodOptions + ", " + strings.Join(ms, ", ")
}

// Healthz answers {"status":"ok"}: the process is up and serving. It is a
// liveness check; RouteReadyz tells whether hook requests would be taken.
func Healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// RouteHealthz serves Healthz at GET and HEAD /healthz of e: some load
// balancers and uptime checks probe with HEAD.
func RouteHealthz(e *echo.Echo) {
	e.Match([]string{http.MethodGet, http.MethodHead}, "/healthz", Healthz)
}

// RouteReadyz serves GET and HEAD /readyz of e: 200 {"status":"ready"} when
// ready returns nil, else 503 {"status":"unavailable"}, with "error" set to
// what ready said when detail is set (the admin listener; the hooks
// listener faces the internet and does not tell its internals).
func RouteReadyz(e *echo.Echo, ready func(context.Context) error, detail bool) {
	e.Match([]string{http.MethodGet, http.MethodHead}, "/readyz", func(c echo.Context) error {
		if err := ready(c.Request().Context()); err != nil {
			body := map[string]string{"status": "unavailable"}
			if detail {
				body["error"] = err.Error()
			}
			return c.JSON(http.StatusServiceUnavailable, body)
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})
}

// slashHint returns " (did you mean /hooks/x?)" for a path that a route
// serves without its trailing slash, as a callback URL pasted with one
// has, and "" for another path.
func slashHint(e *echo.Echo, path string) string {
	trimmed := strings.TrimRight(path, "/")
	if trimmed == path || trimmed == "" {
		return ""
	}
	for _, r := range e.Routes() {
		if r.Path == trimmed {
			return " (did you mean " + trimmed + "?)"
		}
	}
	return ""
}
