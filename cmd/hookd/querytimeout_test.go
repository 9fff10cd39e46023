package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/store"
)

// TestAdminQueryTimeout runs hookd serve with admin.query_timeout set and
// holds the store's write lock from another connection, as a long write
// of another process would: an API request that writes is answered 504
// with a JSON error naming the limit, and logged, instead of waiting for
// the lock; once the lock is released the same request is answered as
// usual.
func TestAdminQueryTimeout(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(cfg, []byte("admin:\n  query_timeout: 200ms\nsources:\n  - name: mailjet\n    provider: mailjet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHookd(t, filepath.Join(dir, "data"), "--config", cfg)

	db, err := sql.Open("sqlite", filepath.Join(dir, "data", store.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	post := func() (int, string) {
		t.Helper()
		resp, err := client.Post(p.admin+"/api/deadletters/1/retry", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	tests := []struct {
		name     string
		locked   bool
		wantCode int
		wantBody string
	}{
		{name: "write lock held", locked: true, wantCode: http.StatusGatewayTimeout,
			wantBody: `{"error":"store query took longer than 200ms (admin.query_timeout): narrow it (a shorter range, a filter) or retry later"}` + "\n"},
		{name: "write lock released", wantCode: http.StatusNotFound, wantBody: `{"error":"no dead job 1"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.locked {
				if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
					t.Fatal(err)
				}
			}
			if code, body := post(); code != tt.wantCode || body != tt.wantBody {
				t.Errorf("POST /api/deadletters/1/retry: %d %s, want %d %s", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
	logged := false
	for line := range strings.Lines(p.output()) {
		var rec struct {
			Msg, Route string
			Status     int
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "request failed" && rec.Status == http.StatusGatewayTimeout {
			logged = rec.Route == "/api/deadletters/:id/retry"
		}
	}
	if !logged {
		t.Errorf("the 504 is not logged with its route:\n%s", p.output())
	}
}
