package listener

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Keys of the request facts a hook records in its echo.Context for the
// request log.
const (
	logSource     = "hookd.source"
	logEvents     = "hookd.events"
	logDuplicates = "hookd.duplicates"
	// logCauseShown marks a server error whose cause the hook has logged
	// already, so ErrorHandler does not log it again for every request.
	logCauseShown = "hookd.cause_shown"
)

// logRequests is middleware that writes one line per request once it is
// answered: method, route, source, status, events decoded, duplicates among
// them, latency in milliseconds, and the client's address as the connection
// gives it (never a forwarding header, which the client writes), so that a
// flood of refused requests can be traced; a refused request (4xx) also
// has its error (the message the client was told, or for 404 and 405
// echo's status text, without the path). The route is the path pattern
// ("/hooks/mailjet/:token"), never the request's path, which may hold a
// source's token; a request no route matches is logged as "(no route)". Errors are handed to the echo error
// handler here, so the status logged is the one sent. GET /healthz and
// /readyz are not logged: probes would drown the rest (Ready logs its own
// changes). Config.RequestLog drops the lines of accepted requests, or of
// all; an accepted request then returns before anything is read for its
// line, and a refused one is still counted in the metrics. routes maps each
// hook route to its source.
func (l *Listener) logRequests(routes map[string]string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return l.logRequest(routes, next)
	}
}

func (l *Listener) logRequest(routes map[string]string, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		if status < 400 && !l.logAccepted {
			return nil
		}
		req := c.Request()
		route := c.Path()
		if route == "/healthz" || route == "/readyz" {
			return nil
		}
		if route == "" || c.Response().Status == 404 && route == req.URL.Path {
			route = "(no route)"
		}
		source, _ := c.Get(logSource).(string)
		events, _ := c.Get(logEvents).(int)
		dups, _ := c.Get(logDuplicates).(int)
		// The hook handler counts what it refuses; these it never sees. A
		// provider's callback URL with a wrong path or method shows here.
		switch {
		case status == http.StatusNotFound && route == "(no route)":
			l.metrics.rejected.WithLabelValues("", "not_found").Inc()
		case status == http.StatusMethodNotAllowed:
			source = routes[route]
			l.metrics.rejected.WithLabelValues(source, "method").Inc()
		}
		if status >= 400 && !l.logRefused {
			return nil
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		} else if status >= 400 {
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{slog.String("method", req.Method), slog.String("route", route),
			slog.String("source", source), slog.Int("status", status),
			slog.Int("events", events), slog.Int("duplicates", dups), slog.String("remote", req.RemoteAddr),
			slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000)}
		if he, ok := errors.AsType[*echo.HTTPError](err); ok && status < 500 {
			// What the client was told, such as a stale signature's
			// timestamp: the status alone cannot tell clock skew from a
			// wrong secret. It never holds a secret; 5xx causes are
			// logged where they happen.
			attrs = append(attrs, slog.String("error", fmt.Sprint(he.Message)))
		}
		l.logger.LogAttrs(req.Context(), level, "hook request", attrs...)
		return nil
	}
}
