package listener_test

import (
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
