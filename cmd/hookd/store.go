package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/store"
)

// access is how a command opens the store.
type access int

const (
	// readStore opens it read-only, which suffices for listings.
	readStore access = iota
	// writeStore opens it for writing beside a running server, which may
	// be an older hookd: a store of an older schema is refused rather
	// than migrated under it (see store.Config.NoMigrate).
	writeStore
	// migrateStore opens it for writing and migrates it, for a command
	// that refuses to run beside a server (rebuild).
	migrateStore
)

// withStore opens the store of the configuration that flags load (its
// data and store keys only, see config.Flags.Only), which
// must exist (a command never creates an empty one; on postgres, a store
// not migrated yet is an error), runs fn on it and
// closes it. op names the command in errors.
func withStore(ctx context.Context, op string, flags config.Flags, mode access, fn func(*store.Store) error) error {
	readOnly := mode == readStore
	// The store is all this needs: the sources' secrets need not be in
	// the environment of whoever runs the command.
	flags.Only = []string{"data", "store"}
	cfg, err := flags.Load()
	if err != nil {
		return err
	}
	if cfg.Store.Driver == "postgres" {
		// The store is in the database, not in the data directory.
	} else if fi, err := os.Stat(cfg.Data); errors.Is(err, fs.ErrNotExist) {
		where := cfg.Data
		if abs, err := filepath.Abs(where); err == nil && abs != where {
			where += " (" + abs + ")"
		}
		return fmt.Errorf("%s: data directory %s does not exist (hookd serve creates it; choose another with --data, or with a data key in the --config file, which resolves against the file's directory)", op, where)
	} else if err != nil {
		return fmt.Errorf("%s: data directory: %w", op, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("%s: data directory %s is not a directory", op, cfg.Data)
	}
	// A writable Open would create a missing store rather than fail.
	if driver := cfg.Store.Driver; !readOnly && (driver == "" || driver == "sqlite") {
		if _, err := os.Stat(filepath.Join(cfg.Data, store.FileName)); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: no store in %s (hookd serve creates it)", op, cfg.Data)
		}
	}
	st, err := store.Open(ctx, store.Config{
		Driver: cfg.Store.Driver, DSN: cfg.Store.DSN, Dir: cfg.Data, ReadOnly: readOnly,
		NoMigrate: mode == writeStore,
	}, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer st.Close()
	return fn(st)
}
