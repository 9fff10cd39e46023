package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/store"
)

// TestStoreUnavailable serves the API over a PostgreSQL store whose
// database then stops taking connections and loses the ones it had: every
// route that reads or writes the store answers 503 with a JSON error that
// says to retry later, where it answered 500.
func TestStoreUnavailable(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	ctx := context.Background()
	name := "hookd_test_" + testenv.Random()
	// admin runs sql on the server's own database and returns the first
	// column of its one row, if any.
	admin := func(sql string) (n int64) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, sql)
		if err == nil {
			if rows.Next() {
				err = rows.Scan(&n)
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	admin("CREATE DATABASE " + name)
	t.Cleanup(func() { admin("DROP DATABASE " + name + " WITH (FORCE)") })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	st, err := store.Open(ctx, store.Config{Driver: "postgres", DSN: u.String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seed(t, st)
	e := listener.NewEcho(nil)
	api.Register(e.Group("/api"), api.Deps{Store: st})
	srv := httptest.NewServer(e)
	defer srv.Close()
	if code, body := do(t, srv, http.MethodGet, "/api/events"); code != http.StatusOK {
		t.Fatalf("GET /api/events with the database up: %d %s", code, body)
	}

	admin("ALTER DATABASE " + name + " ALLOW_CONNECTIONS false")
	// pg_terminate_backend only signals: wait until the backends are gone.
	admin("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" + name + "'")
	for deadline := time.Now().Add(10 * time.Second); admin("SELECT count(*) FROM pg_stat_activity WHERE datname = '"+name+"'") > 0; {
		if time.Now().After(deadline) {
			t.Fatal("the store's connections are still there 10s after pg_terminate_backend")
		}
		time.Sleep(10 * time.Millisecond)
	}
	const want = `{"error":"store unavailable, retry later"}` + "\n"
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/api/events"},
		{http.MethodGet, "/api/events/ev-00"},
		{http.MethodGet, "/api/stats"},
		{http.MethodGet, "/api/quarantine"},
		{http.MethodGet, "/api/jobs"},
		{http.MethodGet, "/api/jobs/1"},
		{http.MethodGet, "/api/deadletters"},
		{http.MethodPost, "/api/deadletters/1/retry"},
		{http.MethodGet, "/api/targets"},
		{http.MethodPost, "/api/targets/1/resume"},
		{http.MethodGet, "/api/suppressions"},
		{http.MethodDelete, "/api/suppressions/ann@a.com"},
		{http.MethodGet, "/api/deliverability"},
		{http.MethodGet, "/api/rules/activity"},
		{http.MethodGet, "/api/live"},
	} {
		if code, body, h := doHeader(t, srv, r.method, r.path); code != http.StatusServiceUnavailable || string(body) != want || h.Get("Retry-After") != "5" {
			t.Errorf("%s %s with the database away: %d %s (Retry-After %q), want 503 %s (Retry-After 5)", r.method, r.path, code, body, h.Get("Retry-After"), want)
		}
	}
	if code, _ := do(t, srv, http.MethodHead, "/api/events"); code != http.StatusServiceUnavailable {
		t.Errorf("HEAD /api/events with the database away: %d, want 503", code)
	}
}
