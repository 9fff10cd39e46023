package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/hookd/hookd/config"
	eventlogsqlite "github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/internal/datafile"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/store"
)

func newBackupCmd() *cobra.Command {
	var (
		flags config.Flags
		to    string
	)
	cmd := &cobra.Command{
		Use:   "backup --to DIR",
		Short: "Copy the data directory's SQLite files consistently, also while hookd serve runs",
		Long: `backup writes a consistent copy of the data directory's SQLite databases
into the directory --to, which it creates (or which must be empty; not in
the data directory, where it would be lost with it), while
hookd serve runs or not: each database is copied with SQLite's VACUUM INTO,
from one read transaction, so that the copy is the database as of one
commit, compacted (the free pages that retention left are not copied), and
then checked with PRAGMA quick_check. A plain cp of the files of a running
hookd is not a backup: it can copy the database and its WAL at different
moments, and the copy may be corrupt.

The store (store.db) is copied before the event log (hookd.db), so the
copy of the store is never ahead of the copy of the log; when the copy is
restored, hookd serve finds the store behind the log and stores the events
in between (it logs so). Then the replay nonces (nonces.db) and the action
runner's id (runner-id), when they exist. The lock file is not copied. The
files are created readable and writable by their owner only.

To restore, stop hookd, put the copy's files in place of the data directory's
(or point --data at the copy) and start hookd serve.

A store or an event log on PostgreSQL, or a log on NATS, is not in the data
directory: back it up with its own tools (pg_dump; nats stream backup), in
the same order, the store first: a PostgreSQL store before this backup
copies the SQLite log, a log elsewhere after it copied the SQLite store.
When neither the store nor the log is SQLite, backup has nothing to copy
and fails.`,
		Example: `  hookd backup --data ./data --to /backups/hookd-$(date +%F)
  hookd backup --config hookd.yaml --to /backups/hookd-$(date +%F)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return usagef("backup: --to is required")
			}
			// The data directory and the backends are all this needs.
			flags.Only = []string{"data", "store", "log"}
			cfg, err := flags.Load(knownNames())
			if err != nil {
				return err
			}
			return backup(cmd.Context(), cfg, to, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	dataFlags(cmd, &flags, "data directory and store")
	cmd.Flags().StringVar(&to, "to", "", "`directory` to write the copy to: new, or empty")
	return cmd
}

// backupFile is a file of the data directory that backup copies.
type backupFile struct {
	name string
	// db tells an SQLite database, copied with VACUUM INTO; the others
	// are copied as they are.
	db bool
	// required tells that the file must exist: the store and the log
	// of a configuration that keeps them in the data directory.
	required bool
}

// backup copies the files of cfg's data directory to the new or empty
// directory to, in the order of backupFiles, and reports each on out and
// what it did not copy on errOut. On error it removes what it wrote.
func backup(ctx context.Context, cfg *config.Config, to string, out, errOut io.Writer) (err error) {
	files := backupFiles(cfg)
	// What is not in the data directory is backed up with its own tools,
	// in the same order, the store first: a PostgreSQL store before this
	// backup copies the SQLite log, a log elsewhere after the SQLite store.
	var before, after []string
	if cfg.Store.Driver == "postgres" {
		before = append(before, "the store is on PostgreSQL: back it up with pg_dump")
	}
	switch cfg.Log.Backend {
	case "postgres":
		after = append(after, "the event log is on PostgreSQL: back it up with pg_dump")
	case "nats":
		after = append(after, "the event log is on NATS JetStream: back up its streams with nats stream backup")
	}
	if len(files) == 0 {
		return fmt.Errorf("backup: nothing in %s to back up: %s", cfg.Data, strings.Join(append(before, after...), "; "))
	}
	if fi, err := os.Stat(cfg.Data); err != nil {
		return fmt.Errorf("backup: data directory: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("backup: data directory %s is not a directory", cfg.Data)
	}
	if within(cfg.Data, to) {
		return fmt.Errorf("backup: %s is in the data directory %s: a copy there is lost with it; choose a directory outside it", to, cfg.Data)
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(cfg.Data, f.name)); f.required && errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup: no %s in %s (hookd serve creates it)", f.name, cfg.Data)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup: %w", err)
		}
	}
	created, err := backupDir(to)
	if err != nil {
		return err
	}
	var written []string
	defer func() {
		if err == nil {
			return
		}
		if created {
			os.RemoveAll(to)
			return
		}
		for _, path := range written {
			os.Remove(path)
		}
	}()
	for _, f := range files {
		src, dst := filepath.Join(cfg.Data, f.name), filepath.Join(to, f.name)
		if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
			continue // not required, checked above
		}
		// Created 0600 before anything writes to it: SQLite would create
		// it 0644 less the umask.
		if err := datafile.Create(dst); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		written = append(written, dst)
		if f.db {
			err = copyDB(ctx, src, dst)
		} else {
			err = copyFile(src, dst)
		}
		if err != nil {
			return fmt.Errorf("backup %s: %w", src, err)
		}
		fi, err := os.Stat(dst)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		fmt.Fprintf(out, "%s\t%d bytes\n", dst, fi.Size())
	}
	if err := syncDir(to); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	for _, e := range before {
		fmt.Fprintf(errOut, "hookd: backup: %s, before this backup, so that the copy of the store is never ahead of the copy of the log (if the dump was taken after it, take this backup again)\n", e)
	}
	for _, e := range after {
		fmt.Fprintf(errOut, "hookd: backup: %s, after this backup\n", e)
	}
	return nil
}

// backupFiles returns the files of the data directory that cfg keeps
// there, in the order backup copies them: the store before the log, so
// that a restored store is at most behind the restored log, which hookd
// serve makes good (see store.CatchUp), never ahead of it.
func backupFiles(cfg *config.Config) []backupFile {
	var files []backupFile
	sqliteStore := cfg.Store.Driver == "" || cfg.Store.Driver == "sqlite"
	if sqliteStore {
		files = append(files, backupFile{name: store.FileName, db: true, required: true})
	}
	if cfg.Log.Backend == "" || cfg.Log.Backend == "sqlite" {
		files = append(files, backupFile{name: eventlogsqlite.FileName, db: true, required: true})
	}
	if len(files) == 0 {
		return nil
	}
	if sqliteStore {
		// Beside a PostgreSQL store, the nonces are in its database.
		files = append(files, backupFile{name: listener.NonceFile, db: true})
	}
	// The action runner's owner id (see runnerOwner): a restored hookd
	// takes back the jobs that the copy of the store says it held.
	return append(files, backupFile{name: "runner-id"})
}

// within tells whether path is dir or under it, by their absolute paths
// with the symbolic links of their existing parts resolved.
func within(dir, path string) bool {
	dir, path = resolved(dir), resolved(path)
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// resolved returns path absolute, with the symbolic links of its longest
// existing part resolved (the rest may not exist yet).
func resolved(path string) string {
	path, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	var rest []string
	for p := path; ; p = filepath.Dir(p) {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(append([]string{real}, rest...)...)
		}
		if filepath.Dir(p) == p {
			return path
		}
		rest = append([]string{filepath.Base(p)}, rest...)
	}
}

// backupDir creates the directory dir, readable by its owner only, and its
// missing parents, as mkdir -p does, and reports true, or checks that it is
// an empty directory and reports false.
func backupDir(dir string) (created bool, err error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return false, fmt.Errorf("backup: create %s: %w", filepath.Dir(dir), err)
	}
	err = os.Mkdir(dir, 0o700)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return false, fmt.Errorf("backup: create %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("backup: %s exists and is not a directory we can read: %w", dir, err)
	}
	if len(entries) > 0 {
		return false, fmt.Errorf("backup: %s exists and is not empty: choose a new directory, so that no backup is mixed with another", dir)
	}
	return false, nil
}

// copyDB writes a copy of the SQLite database src into dst, an empty file,
// with VACUUM INTO from one read transaction, checks the copy with PRAGMA
// quick_check and syncs it to disk. src is opened read-write, as a running
// hookd's WAL needs, but only read.
func copyDB(ctx context.Context, src, dst string) error {
	src, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	dst, err = filepath.Abs(dst)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", datafile.DSN(src, "busy_timeout(5000)"))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("vacuum into %s: %w", dst, err)
	}
	if err := db.Close(); err != nil {
		return err
	}
	copied, err := sql.Open("sqlite", datafile.DSN(dst, "query_only(1)"))
	if err != nil {
		return err
	}
	defer copied.Close()
	var check string
	if err := copied.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check); err != nil {
		return fmt.Errorf("check the copy %s: %w", dst, err)
	}
	if check != "ok" {
		return fmt.Errorf("check the copy %s: %s", dst, check)
	}
	if err := copied.Close(); err != nil {
		return err
	}
	return syncFile(dst)
}

// copyFile copies src into dst, which exists, and syncs it to disk.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, datafile.Mode); err != nil {
		return err
	}
	return syncFile(dst)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

// syncDir makes the names of the files created in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
