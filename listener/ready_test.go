package listener_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/listener"
)

// TestReadyz checks /readyz on the hooks listener and, with the error, on
// an admin route, against a real SQLite log whose write lock another
// connection takes, as another process could: not ready while the lock
// is held (the ping fails) and after a group commit failed, until a
// commit succeeds or the hold has passed; not ready once the group commit
// stopped.
func TestReadyz(t *testing.T) {
	for _, tc := range []struct {
		name string
		hold time.Duration
		// after is what /readyz answers once the lock is let go, before
		// any request succeeds: the failed commit still holds it, or the
		// hold has passed and the ping decides.
		after int
	}{
		{"failure held", time.Minute, http.StatusServiceUnavailable},
		{"hold passed", time.Nanosecond, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), sqlite.FileName)
			log, err := sqlite.Open(context.Background(), path, sqlite.Config{BusyTimeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			var logs testenv.Buffer
			l, err := listener.New(listener.Config{
				Sources:   []config.Source{{Name: "mailjet", Provider: "mailjet"}},
				ReadyHold: tc.hold,
			}, log, slog.New(slog.NewTextHandler(&logs, nil)), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			stopped := make(chan struct{})
			go func() { defer close(stopped); _ = l.Run(ctx) }()
			hooks := httptest.NewServer(l.Handler())
			defer hooks.Close()
			admin := listener.NewEcho(nil)
			listener.RouteReadyz(admin, l.Ready, true)
			adminSrv := httptest.NewServer(admin)
			defer adminSrv.Close()

			// check asks both listeners and returns the admin's error.
			check := func(step string, want int) string {
				t.Helper()
				h := post(t, "GET", hooks.URL+"/readyz", nil, nil)
				a := post(t, "GET", adminSrv.URL+"/readyz", nil, nil)
				wantStatus := map[int]string{200: "ready", 503: "unavailable"}[want]
				for _, r := range []reply{h, a} {
					if r.status != want || r.body["status"] != wantStatus {
						t.Fatalf("%s: /readyz = %d %v, want %d %q", step, r.status, r.body, want, wantStatus)
					}
				}
				if _, ok := h.body["error"]; ok {
					t.Errorf("%s: the hooks listener tells its error: %v", step, h.body)
				}
				msg, _ := a.body["error"].(string)
				if (want == 503) != (msg != "") {
					t.Errorf("%s: admin error = %q", step, msg)
				}
				return msg
			}
			check("at start", 200)
			if r := post(t, "HEAD", hooks.URL+"/readyz", nil, nil); r.status != 200 {
				t.Fatalf("HEAD /readyz = %d", r.status)
			}

			release := testenv.LockSQLite(t, path)
			if msg := check("while another connection holds the write lock", 503); !strings.Contains(msg, "event log") || !strings.Contains(msg, "locked") {
				t.Errorf("error = %q, want the event log's lock named", msg)
			}
			if r := post(t, "POST", hooks.URL+"/hooks/mailjet", fixture(t, "open.json"), nil); r.status != 503 {
				t.Fatalf("hook while locked = %d, want 503", r.status)
			}
			release()
			if msg := check("after the lock is let go", tc.after); tc.after == 503 && !strings.Contains(msg, "group commit failed") {
				t.Errorf("error = %q, want the failed commit named", msg)
			}
			if r := post(t, "POST", hooks.URL+"/hooks/mailjet", fixture(t, "open.json"), nil); r.status != 200 || r.body["accepted"] != 1.0 {
				t.Fatalf("hook after the lock = %d %v, want 200 and the event accepted", r.status, r.body)
			}
			check("after a commit succeeded", 200)
			out := logs.String()
			for msg, want := range map[string]int{
				`msg="not ready for hook requests"`:                1,
				`msg="ready for hook requests again"`:              1,
				`msg="event log unavailable: group commit failed"`: 1,
				`msg="event log available again" failures=1`:       1,
			} {
				if got := strings.Count(out, msg); got != want {
					t.Errorf("%s logged %d times, want %d:\n%s", msg, got, want, out)
				}
			}

			stop()
			<-stopped
			if msg := check("after the group commit stopped", 503); !strings.Contains(msg, "shutting down") {
				t.Errorf("error = %q", msg)
			}
		})
	}
}
