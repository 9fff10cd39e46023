package listener_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/listener"
)

// TestSQLNonces checks both kinds of durable nonce table, each through two
// handles on one database, as two processes (or replicas) have: a nonce is
// reused only with another binding, whichever handle saw it first; an
// expired one is recorded anew; a reopened table remembers; and of many
// uses at once with distinct bindings exactly one is not a reuse.
func TestSQLNonces(t *testing.T) {
	// Each backend's opener of handles on one database of the test's own.
	backends := map[string]func(t *testing.T) func(context.Context) (*listener.SQLNonces, error){
		"sqlite": func(t *testing.T) func(context.Context) (*listener.SQLNonces, error) {
			dir := t.TempDir()
			return func(ctx context.Context) (*listener.SQLNonces, error) { return listener.OpenNonces(ctx, dir) }
		},
		"postgres": func(t *testing.T) func(context.Context) (*listener.SQLNonces, error) {
			dsn := testenv.PostgresSchema(t)
			return func(ctx context.Context) (*listener.SQLNonces, error) { return listener.OpenPostgresNonces(ctx, dsn) }
		},
	}
	for name, backend := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			open := backend(t)
			newHandle := func() *listener.SQLNonces {
				n, err := open(ctx)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { n.Close() })
				return n
			}
			a, b := newHandle(), newHandle()
			later := time.Now().Add(time.Hour)
			steps := []struct {
				on                    *listener.SQLNonces
				scope, nonce, binding string
				expires               time.Time
				reused                bool
			}{
				{a, "mailgun/mg", "t1", "body1", later, false},
				{a, "mailgun/mg", "t1", "body1", later, false}, // the provider's retry
				{b, "mailgun/mg", "t1", "body1", later, false}, // its retry to the other replica
				{b, "mailgun/mg", "t1", "body2", later, true},  // a replay with another body
				{a, "mailgun/mg", "t1", "body2", later, true},
				{b, "mailgun/other", "t1", "body2", later, false}, // another source's token
				{a, "mailgun/mg", "t2", "body1", time.Now().Add(-time.Second), false},
				{b, "mailgun/mg", "t2", "body2", later, false}, // t2 had expired
				{a, "mailgun/mg", "t2", "body1", later, true},
			}
			for i, s := range steps {
				reused, err := s.on.Use(ctx, s.scope, s.nonce, s.binding, s.expires)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if reused != s.reused {
					t.Errorf("step %d: Use(%s, %s, %s) reused = %v, want %v", i, s.scope, s.nonce, s.binding, reused, s.reused)
				}
			}

			// A reopened table remembers.
			if reused, err := newHandle().Use(ctx, "mailgun/mg", "t1", "body3", later); err != nil || !reused {
				t.Errorf("after reopening, a replay of t1: reused %v, err %v; want reused", reused, err)
			}

			// Uses at once, through both handles: one records its binding.
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				fresh int
			)
			for i := range 8 {
				wg.Go(func() {
					h := a
					if i%2 == 1 {
						h = b
					}
					reused, err := h.Use(ctx, "mailgun/mg", "t3", fmt.Sprint("body", i), later)
					if err != nil {
						t.Error(err)
						return
					}
					if !reused {
						mu.Lock()
						fresh++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if fresh != 1 {
				t.Errorf("%d of 8 concurrent uses with distinct bindings were not reuses, want 1", fresh)
			}
		})
	}
}

// TestPostgresNoncesOpenedAtOnce opens the PostgreSQL nonce table from
// several handles at once on a database where it does not exist yet, as
// replicas started together do: every one opens it, where PostgreSQL's
// CREATE TABLE IF NOT EXISTS alone lets all but one fail on the catalog's
// unique index.
func TestPostgresNoncesOpenedAtOnce(t *testing.T) {
	dsn := testenv.PostgresSchema(t)
	ctx := context.Background()
	const replicas = 8
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	start := make(chan struct{})
	for i := range replicas {
		wg.Go(func() {
			<-start
			n, err := listener.OpenPostgresNonces(ctx, dsn)
			if err != nil {
				errs[i] = err
				return
			}
			if _, err := n.Use(ctx, "mailgun/mg", fmt.Sprint("t", i), "body", time.Now().Add(time.Hour)); err != nil {
				errs[i] = err
			}
			n.Close()
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("handle %d: %v", i, err)
		}
	}
}
