package main

import (
	"log/slog"
	"strings"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/store"
)

// unusedDataFile returns whether a file of the data directory, by its name,
// is an SQLite file that serve does not open with cfg: the log's when the
// log is not SQLite, the store's and the replay tokens' when the store is
// PostgreSQL (the tokens are kept beside it). Such a file was left by an
// earlier configuration or an older hookd.
func unusedDataFile(cfg *config.Config) func(name string) bool {
	var unused []string
	if cfg.Log.Backend != "sqlite" {
		unused = append(unused, sqlite.FileName)
	}
	if cfg.Store.Driver == "postgres" {
		unused = append(unused, store.FileName, listener.NonceFile)
	}
	return func(name string) bool {
		for _, db := range unused {
			if name == db || name == db+"-wal" || name == db+"-shm" || name == db+"-journal" {
				return true
			}
		}
		return false
	}
}

// splitUnused returns the entries of exposed (datafile.Exposed's "name
// mode") of files in use, and logs, at info level, those of files unused
// says hookd does not use: their mode exposes nothing hookd writes, and
// they can be deleted.
func splitUnused(exposed []string, unused func(name string) bool, data string, logger *slog.Logger) []string {
	var used, idle []string
	for _, f := range exposed {
		name, _, _ := strings.Cut(f, " ")
		if unused(name) {
			idle = append(idle, name)
		} else {
			used = append(used, f)
		}
	}
	if len(idle) > 0 {
		logger.Info("data files not used with this configuration (left by an earlier one or an older hookd): hookd neither reads nor writes them; delete them once they are not needed",
			"data", data, "files", idle)
	}
	return used
}
