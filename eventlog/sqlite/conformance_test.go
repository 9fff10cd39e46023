package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/eventlogtest"
	"github.com/hookd/hookd/eventlog/sqlite"
)

// TestConformance runs the event log suite with a database file per storage
// name, every Log on it opened as another process would.
func TestConformance(t *testing.T) {
	root := t.TempDir()
	var (
		mu    sync.Mutex
		paths = map[string]string{}
	)
	eventlogtest.Run(t, eventlogtest.Backend{
		Name:     "sqlite",
		Features: withDisturb(features, root),
		Open: func(t *testing.T, name string) eventlog.Log {
			mu.Lock()
			path, ok := paths[name]
			if !ok {
				dir, err := os.MkdirTemp(root, "db")
				if err != nil {
					mu.Unlock()
					t.Fatal(err)
				}
				path = filepath.Join(dir, sqlite.FileName)
				paths[name] = path
			}
			mu.Unlock()
			// TestContinueAfterErrors nacks 300 times in a row; at the
			// default back-off of 100ms that one test would sleep 30s.
			l, err := sqlite.Open(context.Background(), path, sqlite.Config{NackBackoff: 10 * time.Millisecond, Logger: warnLogger()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := l.Close(); err != nil {
					t.Error(err)
				}
			})
			return l
		},
	})
}
