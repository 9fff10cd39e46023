package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/store"
)

func TestSuppressions(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, e := range []string{"bob@a.com", "Ann@A.com", "cat+x@b.org"} {
		if _, err := st.Suppress(ctx, e, "hard bounce: user unknown", "clean-hard-bounces", "ev-"+e); err != nil {
			t.Fatal(err)
		}
	}
	e := testEcho(t)
	var logs testenv.Buffer
	api.Register(e.Group("/api"), api.Deps{Store: st, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	created := regexp.MustCompile(`"created":"[^"]+"`)
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"suppressions", "GET", "/api/suppressions", 200},
		{"suppressions_page", "GET", "/api/suppressions?limit=2", 200},
		{"suppressions_bad_cursor", "GET", "/api/suppressions?cursor=%21", 400},
		{"suppressions_unknown_param", "GET", "/api/suppressions?email=x", 400},
		{"unsuppress", "DELETE", "/api/suppressions/CAT%2Bx@b.org", 200},
		{"unsuppress_missing", "DELETE", "/api/suppressions/cat%2Bx@b.org", 404},
		{"unsuppress_not_address", "DELETE", "/api/suppressions/nobody", 400},
		{"suppressions_after_remove", "GET", "/api/suppressions", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			goldenJSON(t, tt.name, created.ReplaceAll(body, []byte(`"created":"TIME"`)))
		})
	}
	if want := `"msg":"suppression removed","email":"cat+x@b.org",`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, logs.String())
	}
}
