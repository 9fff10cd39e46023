package listener

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

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
// whose cause is logged, not shown.
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
				if errors.Is(err, echo.ErrNotFound) {
					msg = "not found: no route for " + c.Request().URL.Path
				}
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
			err = c.NoContent(code)
		} else {
			err = c.JSON(code, map[string]string{"error": msg})
		}
		if err != nil {
			logger.Debug("write error response", "err", err)
		}
	}
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
