package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/eventlogtest"
	"github.com/hookd/hookd/internal/testenv"
)

// TestAppendAfterTerminate terminates the log's own connections
// (pg_terminate_backend, as a failover or an administrator does) between
// appends: the next Append, on a pooled connection used less than a
// second before (which the pool does not ping), succeeds on a fresh one,
// and each event is stored once. So does the next Ping.
func TestAppendAfterTerminate(t *testing.T) {
	app := "hookd_test_" + testenv.Random()
	dsn := withParam(t, testenv.PostgresSchema(t), "application_name", app)
	l := open(t, dsn)
	ctx := context.Background()
	var ids []string
	for round := range 4 {
		batch := make([]*message.Message, 3)
		for i := range batch {
			id := fmt.Sprintf("r%d-e%d", round, i)
			ids = append(ids, id)
			batch[i] = eventlogtest.Msg(id, id)
		}
		if round > 0 {
			if n := terminate(t, app); n == 0 {
				t.Fatalf("round %d: no connection of the log to terminate", round)
			}
		}
		dup, err := l.Append(ctx, eventlog.TopicEvents, batch)
		if err != nil {
			t.Fatalf("round %d: Append after its connections were terminated: %v", round, err)
		}
		for i, d := range dup {
			if d {
				t.Errorf("round %d: event %d reported a duplicate", round, i)
			}
		}
	}
	assertStoredOnce(t, dsn, ids)
	// /readyz's ping: a live connection replaces the dead one.
	if _, err := l.Append(ctx, eventlog.TopicEvents, []*message.Message{eventlogtest.Msg("last", "last")}); err != nil {
		t.Fatal(err)
	}
	terminate(t, app)
	if err := l.Ping(ctx); err != nil {
		t.Errorf("Ping after the log's connections were terminated: %v", err)
	}
}

// TestAppendCommitCut cuts the log's connection at its COMMIT, through a
// relay between the log and the server: before the server has it (the
// transaction rolls back) and after the server committed it, with its
// answer lost (the outcome the log cannot know from the connection). Both
// Appends succeed on a fresh connection, report the events as new, not as
// duplicates of themselves, and store each once.
func TestAppendCommitCut(t *testing.T) {
	for _, tc := range []struct {
		name    string
		forward bool // the COMMIT reaches the server
	}{
		{"before the server has the commit", false},
		{"after the server committed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := testenv.PostgresSchema(t)
			p := startRelay(t, dsn)
			l := open(t, p.dsn)
			ctx := context.Background()
			warm := eventlogtest.Msg("warm", "warm")
			if _, err := l.Append(ctx, eventlog.TopicEvents, []*message.Message{warm}); err != nil {
				t.Fatal(err)
			}
			ids := []string{"warm", "a", "b", "c"}
			batch := []*message.Message{eventlogtest.Msg("a", "a"), eventlogtest.Msg("b", "b"), eventlogtest.Msg("c", "c")}
			p.cutAtCommit(tc.forward)
			dup, err := l.Append(ctx, eventlog.TopicEvents, batch)
			if !p.didCut() {
				t.Fatal("the relay did not cut the connection at the commit")
			}
			if err != nil {
				t.Fatalf("Append with its commit cut: %v", err)
			}
			for i, d := range dup {
				if d {
					t.Errorf("event %d reported a duplicate of itself", i)
				}
			}
			dup, err = l.Append(ctx, eventlog.TopicEvents, []*message.Message{eventlogtest.Msg("a", "a")})
			if err != nil || !dup[0] {
				t.Errorf("Append of a again = %v, %v; want a duplicate", dup, err)
			}
			assertStoredOnce(t, dsn, ids)
		})
	}
}

// withParam returns dsn, a URL, with the query parameter key set to value.
func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// terminate terminates the backends of application name app, and only
// those, waits until they are gone, and returns how many there were.
func terminate(t *testing.T, app string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n); err != nil {
		t.Fatalf("terminate the backends of %s: %v", app, err)
	}
	// pg_terminate_backend only signals.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var left int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backends of %s left 10s after pg_terminate_backend", left, app)
		}
		time.Sleep(time.Millisecond)
	}
}

// assertStoredOnce checks that the events topic holds each of ids once
// and nothing else.
func assertStoredOnce(t *testing.T, dsn string, ids []string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT uuid, count(*) FROM hookd_events GROUP BY uuid`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		got[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("event %s stored %d times, want once", id, got[id])
		}
		delete(got, id)
	}
	if len(got) > 0 {
		t.Errorf("events stored that were not appended: %v", got)
	}
}

// relay passes TCP connections between the log and the PostgreSQL server
// and, when armed, cuts the next one that sends a COMMIT.
type relay struct {
	dsn     string // the test's DSN, through the relay
	mode    atomic.Int32
	cut     atomic.Bool
	closers sync.WaitGroup
}

// The modes of a relay.
const (
	relayPass    = iota
	relayDrop    // cut before the server has the COMMIT
	relayForward // cut once the server answered the COMMIT, dropping the answer
)

// commitMsg is the simple-protocol Query message of pgx's Tx.Commit.
var commitMsg = []byte("Q\x00\x00\x00\x0bcommit\x00")

func startRelay(t *testing.T, dsn string) *relay {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	server := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Host = ln.Addr().String()
	r := &relay{dsn: u.String()}
	t.Cleanup(func() {
		ln.Close()
		r.closers.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", server)
			if err != nil {
				c.Close()
				continue
			}
			r.closers.Add(1)
			go r.pass(c, s)
		}
	}()
	return r
}

// cutAtCommit arms r for the next COMMIT: forward tells whether the server
// receives it.
func (r *relay) cutAtCommit(forward bool) {
	if forward {
		r.mode.Store(relayForward)
	} else {
		r.mode.Store(relayDrop)
	}
}

func (r *relay) didCut() bool { return r.cut.Load() }

// pass relays between the client c and the server s until either closes
// or the cut.
func (r *relay) pass(c, s net.Conn) {
	defer r.closers.Done()
	defer c.Close()
	defer s.Close()
	var muted atomic.Bool
	answered := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := s.Read(buf)
			if n > 0 {
				if muted.Load() {
					select {
					case answered <- struct{}{}:
					default:
					}
				} else if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				c.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if bytes.Contains(buf[:n], commitMsg) {
				switch r.mode.Swap(relayPass) {
				case relayDrop:
					r.cut.Store(true)
					return
				case relayForward:
					muted.Store(true)
					if _, err := s.Write(buf[:n]); err != nil {
						return
					}
					select {
					case <-answered:
					case <-time.After(5 * time.Second):
					}
					r.cut.Store(true)
					return
				}
			}
			if _, err := s.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
