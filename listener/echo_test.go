package listener_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/listener"
)

// TestErrorHandlerLog checks which server errors the error handler logs:
// those with a cause to tell, by their route, never by a path that can
// hold a source's token.
func TestErrorHandlerLog(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantLog string // "" for no line
	}{
		{"unexpected error", errors.New("disk on fire"), `level=ERROR msg="request failed" method=POST route=/in/tok/:token status=500 err="disk on fire"`},
		{"server error with a cause", echo.NewHTTPError(http.StatusServiceUnavailable, "unavailable").SetInternal(errors.New("locked")), `route=/in/tok/:token status=503`},
		{"server error made on purpose", echo.NewHTTPError(http.StatusServiceUnavailable, "too many requests in progress, retry later"), ""},
		{"client error", echo.NewHTTPError(http.StatusBadRequest, "bad"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			e := listener.NewEcho(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			})))
			e.POST("/in/tok/:token", func(echo.Context) error { return tt.err })
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/in/tok/"+token, nil))
			got := out.String()
			if strings.Contains(got, token) {
				t.Errorf("the log holds the token: %s", got)
			}
			if tt.wantLog == "" && got != "" || !strings.Contains(got, tt.wantLog) {
				t.Errorf("log = %q, want %q", got, tt.wantLog)
			}
		})
	}
}

// TestMethodNotAllowed asks routes of a group with middleware, as the
// admin listener's /api is, and a route beside it, with methods they do
// not serve: 405 with the route's Allow header and a JSON error, as for a
// route outside a group, after the group's middleware has let the request
// through; 404 for a path no route serves.
func TestMethodNotAllowed(t *testing.T) {
	e := listener.NewEcho(nil)
	ok := func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"path": c.Path()}) }
	e.GET("/metrics", ok)
	g := e.Group("/api")
	g.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Header.Get("X-Key") != "k" {
				return echo.NewHTTPError(http.StatusUnauthorized, "no key")
			}
			return next(c)
		}
	})
	g.Match([]string{http.MethodGet, http.MethodHead}, "/events", ok)
	g.Match([]string{http.MethodGet, http.MethodHead}, "/events/:id", func(echo.Context) error { return echo.ErrNotFound })
	g.POST("/deadletters/:id/retry", ok)
	g.Match([]string{http.MethodGet, http.MethodHead}, "/suppressions", ok)
	g.DELETE("/suppressions/:email", ok)
	g.GET("/live", ok)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	for _, tt := range []struct {
		name, method, path string
		noKey              bool
		want               int
		allow, err         string
	}{
		{"GET on a POST route", http.MethodGet, "/api/deadletters/2/retry", false, 405, "OPTIONS, POST", "method GET not allowed"},
		{"POST on a GET route", http.MethodPost, "/api/events", false, 405, "OPTIONS, GET, HEAD", "method POST not allowed"},
		{"DELETE beside a DELETE route", http.MethodDelete, "/api/suppressions", false, 405, "OPTIONS, GET, HEAD", "method DELETE not allowed"},
		{"PUT on a DELETE route", http.MethodPut, "/api/suppressions/a@b.c", false, 405, "OPTIONS, DELETE", "method PUT not allowed"},
		{"HEAD on a GET-only route", http.MethodHead, "/api/live", false, 405, "OPTIONS, GET", ""},
		{"OPTIONS", http.MethodOptions, "/api/events", false, 204, "OPTIONS, GET, HEAD", ""},
		{"outside the group", http.MethodPost, "/metrics", false, 405, "OPTIONS, GET", "method POST not allowed"},
		{"the group's middleware first", http.MethodPost, "/api/events", true, 401, "", "no key"},
		{"no route for the path", http.MethodGet, "/api/nope", false, 404, "", "not found: no route for /api/nope"},
		{"no route for the path, another method", http.MethodPost, "/api/deadletters/2", false, 404, "", "not found: no route for /api/deadletters/2"},
		{"no route outside the group", http.MethodGet, "/nope", false, 404, "", "not found: no route for /nope"},
		{"a handler's own not found", http.MethodGet, "/api/events/x", false, 404, "", "not found: no route for /api/events/x"},
		{"a route's method", http.MethodGet, "/api/events", false, 200, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.noKey {
				req.Header.Set("X-Key", "k")
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Error string }
			if tt.method != http.MethodHead && tt.want != http.StatusNoContent {
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatalf("%s %s: the answer is not JSON: %v", tt.method, tt.path, err)
				}
			}
			if resp.StatusCode != tt.want || resp.Header.Get("Allow") != tt.allow || body.Error != tt.err {
				t.Errorf("%s %s: %d, Allow %q, error %q; want %d, Allow %q, error %q", tt.method, tt.path,
					resp.StatusCode, resp.Header.Get("Allow"), body.Error, tt.want, tt.allow, tt.err)
			}
		})
	}
}
