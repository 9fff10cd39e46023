package api_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/store"
)

// bigTable is how many events TestQueryTimeout writes into a SQLite
// store for a query that reads them all: a scan that takes a good hundred
// times the 1 ms it is given on the reference machine.
const bigTable = 300_000

// TestQueryTimeout makes the store query of a request take longer than
// the API's query timeout on real databases, and checks the answer, 504
// with a JSON error, and that the query was cancelled in the database.
// On SQLite a read scans a large table under a 1 ms timeout, and a write
// waits for the write lock that another connection holds; on PostgreSQL
// (HOOKD_TEST_POSTGRES_DSN) each query waits for a lock on its table
// that another connection holds, and the server shows it cancelled while
// the lock is still held. The lock never lets such a query end in time,
// whatever the machine's speed.
func TestQueryTimeout(t *testing.T) {
	const wantErr = `{"error":"store query took longer than %s (admin.query_timeout): narrow it (a shorter range, a filter) or retry later"}` + "\n"
	tests := []struct {
		name    string
		driver  string
		timeout time.Duration
		method  string
		path    string
		// hold takes what keeps the query from ending in time on the
		// database of st (whose SQLite file is in dir, whose PostgreSQL
		// DSN is dsn), and returns what lets it go.
		hold func(t *testing.T, st *store.Store, dir, dsn string) (release func())
		// after, when not nil, checks the database once the lock is
		// released.
		after func(t *testing.T, srv *httptest.Server)
	}{
		{
			name: "sqlite events scan", driver: "sqlite", timeout: time.Millisecond,
			method: http.MethodGet, path: "/api/events?bounce_class=hard", hold: fillSQLite,
		},
		{
			name: "sqlite events export", driver: "sqlite", timeout: time.Millisecond,
			method: http.MethodGet, path: "/api/events?bounce_class=hard&format=ndjson", hold: fillSQLite,
		},
		{
			name: "sqlite retry waits for the write lock", driver: "sqlite", timeout: 100 * time.Millisecond,
			method: http.MethodPost, path: "/api/deadletters/1/retry", hold: lockSQLite,
			after: retryAgain,
		},
		{
			name: "postgres events", driver: "postgres", timeout: 100 * time.Millisecond,
			method: http.MethodGet, path: "/api/events", hold: lockPostgres("events"),
		},
		{
			name: "postgres stats", driver: "postgres", timeout: 100 * time.Millisecond,
			method: http.MethodGet, path: "/api/stats", hold: lockPostgres("counts_hour"),
		},
		{
			name: "postgres jobs", driver: "postgres", timeout: 100 * time.Millisecond,
			method: http.MethodGet, path: "/api/jobs", hold: lockPostgres("jobs"),
		},
		{
			name: "postgres retry", driver: "postgres", timeout: 100 * time.Millisecond,
			method: http.MethodPost, path: "/api/deadletters/1/retry", hold: lockPostgres("jobs"),
			after: retryAgain,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			cfg, dir, dsn := store.Config{Dir: t.TempDir()}, "", ""
			if tt.driver == "postgres" {
				// An application name of its own finds the store's
				// connections on the server.
				u, err := url.Parse(testenv.PostgresSchema(t))
				if err != nil {
					t.Fatal(err)
				}
				q := u.Query()
				q.Set("application_name", "hookd-test-"+testenv.Random())
				u.RawQuery = q.Encode()
				dsn = u.String()
				cfg = store.Config{Driver: "postgres", DSN: dsn}
			} else {
				dir = cfg.Dir
			}
			st, err := store.Open(ctx, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			seedJobs(t, st)
			e := testEcho(t)
			api.Register(e.Group("/api"), api.Deps{Store: st, QueryTimeout: tt.timeout})
			srv := httptest.NewServer(e)
			t.Cleanup(srv.Close)
			// A query that the timeout did not end hangs until the lock
			// goes: fail rather than wait for the test's deadline.
			srv.Client().Timeout = 30 * time.Second

			release := tt.hold(t, st, dir, dsn)
			code, body := do(t, srv, tt.method, tt.path)
			if want := strings.Replace(wantErr, "%s", tt.timeout.String(), 1); code != http.StatusGatewayTimeout || string(body) != want {
				t.Errorf("%s %s: %d %s, want 504 %s", tt.method, tt.path, code, body, want)
			}
			if tt.driver == "postgres" {
				waitCancelled(t, dsn)
			}
			release()
			if tt.after != nil {
				tt.after(t, srv)
			}
		})
	}
}

// fillSQLite writes bigTable events, all of source "mailjet" and none a
// bounce, into the SQLite store in dir, in one statement of its own
// connection: a filter by bounce class, which no index holds nor the count
// tables count, reads them all.
func fillSQLite(t *testing.T, _ *store.Store, dir, _ string) func() {
	t.Helper()
	db := rawSQLite(t, dir)
	defer db.Close()
	_, err := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO events (id, source, provider, type, time_ns, received_ns, email, domain, message_id, campaign, data)
		SELECT 'big-' || i, 'mailjet', 'mailjet', 'open', i * 1000000000, i * 1000000000,
			'u' || i || '@example.com', 'example.com', i, '', '{"event":"open"}' FROM n`, bigTable)
	if err != nil {
		t.Fatal(err)
	}
	return func() {}
}

// lockSQLite takes the write lock of the SQLite store in dir on a
// connection of its own, as another process's writer would hold it.
func lockSQLite(t *testing.T, _ *store.Store, dir, _ string) func() {
	t.Helper()
	db := rawSQLite(t, dir)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Error(err)
		}
		conn.Close()
		db.Close()
	}
}

// rawSQLite opens the SQLite store in dir beside the Store.
func rawSQLite(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, store.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// lockPostgres returns a hold that locks table against every access, in
// a transaction of a connection of its own, until released.
func lockPostgres(table string) func(t *testing.T, st *store.Store, dir, dsn string) func() {
	return func(t *testing.T, _ *store.Store, _, dsn string) func() {
		t.Helper()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := conn.Begin(ctx)
		if err == nil {
			_, err = tx.Exec(ctx, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE")
		}
		if err != nil {
			conn.Close(ctx)
			t.Fatal(err)
		}
		return func() {
			if err := tx.Rollback(ctx); err != nil {
				t.Error(err)
			}
			conn.Close(ctx)
		}
	}
}

// waitCancelled waits, at most 10 s, until no connection of the store of
// dsn runs a query on the server: the one the timeout ended was
// cancelled there, not left waiting for the lock.
func waitCancelled(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	app := u.Query().Get("application_name")
	conn, err := pgx.Connect(ctx, testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; {
		var active []string
		rows, err := conn.Query(ctx, `SELECT query FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`, app)
		if err == nil {
			active, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(active) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the 504, the store still runs %q on the server", active)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// retryAgain retries dead job 1 once nothing holds the database: it is
// still dead, so the request that ran out of time did not retry it later.
// On a machine busy enough that the retry itself outlasts the test's short
// query timeout, it asks again: a 504 retried nothing either.
func retryAgain(t *testing.T, srv *httptest.Server) {
	t.Helper()
	code, body := do(t, srv, http.MethodPost, "/api/deadletters/1/retry")
	// On a busy machine a retry here may time out too, and one that timed
	// out after its transaction committed has retried the job: the next
	// then finds no dead job. Only the first answer after the lock tells
	// whether the request that timed out under it retried the job.
	first := code
	for i := 0; code == http.StatusGatewayTimeout && i < 50; i++ {
		code, body = do(t, srv, http.MethodPost, "/api/deadletters/1/retry")
	}
	if code == http.StatusNotFound && first == http.StatusGatewayTimeout {
		t.Logf("a retry after the lock timed out and may have committed: %d %s", code, body)
		return
	}
	if code != http.StatusOK {
		t.Errorf("retry once the lock is released: %d %s, want 200: the request that timed out must not have retried it", code, body)
	}
}

// TestStreamsOutlastQueryTimeout checks that the streams, GET /api/live and
// an export of /api/events, are bounded query by query, not as a whole:
// each is still open, and still reads from the store, after several times
// the query timeout.
func TestStreamsOutlastQueryTimeout(t *testing.T) {
	// Long enough for one page of the export's query on a machine busy
	// with the rest of the suite (100 ms was not, in CI), short enough to
	// wait three times over.
	const timeout = 2 * time.Second
	// exported events of 8 KiB each: more than the loopback connection
	// buffers, so that the export waits for its client, which reads on
	// only after the timeout, before it queries its later pages.
	const exported = 4000
	tests := []struct {
		name string
		path string
		// read reads the stream until it has seen the first of what it
		// waits for, lets several timeouts pass, then reads the rest.
		read func(t *testing.T, st *store.Store, sc *bufio.Scanner)
	}{
		{
			name: "live", path: "/api/live",
			read: func(t *testing.T, st *store.Store, sc *bufio.Scanner) {
				for sc.Scan() && sc.Text() != ": hookd live" {
				}
				time.Sleep(3 * timeout)
				if err := st.Insert(context.Background(), event.Event{ID: "late", Source: "mailjet", Type: "open", Time: base}); err != nil {
					t.Fatal(err)
				}
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "data: ") {
						if !strings.Contains(sc.Text(), `"id":"late"`) {
							t.Errorf("live sent %s, want the event stored after %v", sc.Text(), 3*timeout)
						}
						return
					}
				}
				t.Errorf("the live stream ended (%v) before the event stored after %v", sc.Err(), 3*timeout)
			},
		},
		{
			name: "export", path: "/api/events?format=ndjson",
			read: func(t *testing.T, st *store.Store, sc *bufio.Scanner) {
				n := 0
				for sc.Scan() {
					if n++; n == 1 {
						time.Sleep(3 * timeout)
					}
				}
				if err := sc.Err(); err != nil || n != exported {
					t.Errorf("export read %d events (%v), want %d", n, err, exported)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, store.Config{Dir: t.TempDir()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			data := json.RawMessage(`{"pad":"` + strings.Repeat("x", 8<<10) + `"}`)
			batch := make([]event.Event, 0, exported)
			for i := range exported {
				batch = append(batch, event.Event{ID: fmt.Sprintf("pad-%d", i), Source: "mailjet", Type: "open",
					Time: base.Add(time.Duration(i) * time.Second), Data: data})
			}
			if err := st.Insert(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			e := testEcho(t)
			api.Register(e.Group("/api"), api.Deps{Store: st, QueryTimeout: timeout})
			srv := httptest.NewServer(e)
			t.Cleanup(srv.Close)
			reqCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", tt.path, resp.StatusCode)
			}
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			tt.read(t, st, sc)
		})
	}
}
