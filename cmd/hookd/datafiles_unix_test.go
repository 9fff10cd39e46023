//go:build unix

package main

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog"
)

// TestDataFilesUnusedNotWarned puts files of mode 0644 in a data directory,
// as an older hookd left them, and checks what serve's start says of them
// with each configuration: the files it uses are warned of as open to other
// users; those it does not use with it (nonces.db beside a PostgreSQL
// store, hookd.db beside a NATS log) are not, but named as unused.
func TestDataFilesUnusedNotWarned(t *testing.T) {
	files := []string{"hookd.db", "hookd.db-wal", "nonces.db", "nonces.db-wal", "runner-id", "store.db"}
	tests := []struct {
		name       string
		log        eventlog.Config
		store      config.Store
		wantWarned []string
		wantUnused []string
	}{
		{"sqlite", eventlog.Config{Backend: "sqlite"}, config.Store{Driver: "sqlite"},
			files, nil},
		{"postgres store", eventlog.Config{Backend: "sqlite"}, config.Store{Driver: "postgres"},
			[]string{"hookd.db", "hookd.db-wal", "runner-id"}, []string{"nonces.db", "nonces.db-wal", "store.db"}},
		{"postgres log and store", eventlog.Config{Backend: "postgres"}, config.Store{Driver: "postgres"},
			[]string{"runner-id"}, []string{"hookd.db", "hookd.db-wal", "nonces.db", "nonces.db-wal", "store.db"}},
		{"nats log", eventlog.Config{Backend: "nats"}, config.Store{Driver: "sqlite"},
			[]string{"nonces.db", "nonces.db-wal", "runner-id", "store.db"}, []string{"hookd.db", "hookd.db-wal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			for _, f := range files {
				path := filepath.Join(data, f)
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var buf strings.Builder
			logger := slog.New(slog.NewJSONHandler(&buf, nil))
			warnExposed(data, unusedDataFile(&config.Config{Log: tt.log, Store: tt.store}), logger)
			var warned, unused []string
			for line := range strings.Lines(buf.String()) {
				var rec struct {
					Level, Msg string
					Files      []string
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatal(err)
				}
				switch {
				case rec.Level == "WARN" && strings.HasPrefix(rec.Msg, exposedMsg):
					for _, f := range rec.Files {
						name, _, _ := strings.Cut(f, " ")
						warned = append(warned, name)
					}
				case rec.Level == "INFO" && strings.HasPrefix(rec.Msg, "data files not used"):
					unused = rec.Files
				default:
					t.Errorf("logged %s", line)
				}
			}
			if !slices.Equal(warned, tt.wantWarned) || !slices.Equal(unused, tt.wantUnused) {
				t.Errorf("warned of %q and named unused %q; want %q and %q", warned, unused, tt.wantWarned, tt.wantUnused)
			}
		})
	}
}
