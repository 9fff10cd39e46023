package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	eventlogsqlite "github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/store"
)

// TestBackupWhileServing backs up a data directory while hookd serve
// stores a steady load, restores the copy into a new data directory and
// starts hookd on it: every event answered 200 before the backup started
// is in the restored store, and so is every event of the restored log,
// the store catching up with the log where its copy is behind.
func TestBackupWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs hookd serve under load; run without -short")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	p := startHookd(t, data)
	var next atomic.Int64
	load := startLoad(t, p.hooks, 8, &next, map[string]bool{}, false)
	for deadline := time.Now().Add(20 * time.Second); load.oks.Load() < 200; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests answered 200 in 20 s", load.oks.Load())
		}
	}
	before := load.ackedSoFar()
	backupDir := filepath.Join(dir, "backup")
	out, err := exec.Command(hookdBinary(t), "backup", "--data", data, "--to", backupDir).CombinedOutput()
	if err != nil {
		t.Fatalf("hookd backup: %v\n%s", err, out)
	}
	during := load.oks.Load()
	time.Sleep(200 * time.Millisecond) // more load after the backup
	load.stop()
	if load.oks.Load() == during {
		t.Fatal("no request was answered after the backup: the load did not run beside it")
	}
	p.stop(t)
	t.Logf("hookd backup:\n%s", out)

	// The copy holds the store, the log, the nonces and the runner id,
	// private to their owner, and no lock, WAL or shared-memory file.
	entries, err := os.ReadDir(backupDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, fmt.Sprintf("%s %v", e.Name(), info.Mode().Perm()))
	}
	if got, want := strings.Join(names, ", "),
		"hookd.db -rw-------, nonces.db -rw-------, runner-id -rw-------, store.db -rw-------"; got != want {
		t.Errorf("backup holds %s, want %s", got, want)
	}

	// What the copy of the log holds, and how far its store and its
	// store's consumer group got.
	restored := filepath.Join(dir, "restored")
	if err := os.Rename(backupDir, restored); err != nil {
		t.Fatal(err)
	}
	log := openDataLog(t, restored)
	inLog := map[string]bool{}
	recs, err := log.(eventlog.Reader).Read(context.Background(), eventlog.TopicEvents, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		e, err := event.Unmarshal(r.Message.Payload)
		if err != nil {
			t.Fatal(err)
		}
		inLog[e.ID] = true
	}
	var acked0 int64
	lags, err := log.(eventlog.Lagger).Lag(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range lags {
		if g.Topic == eventlog.TopicEvents && g.Group == store.Group {
			acked0 = g.Acked
		}
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Config{Dir: restored, ReadOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	offsets, err := st.LogOffsets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for id := range before {
		if !inLog[id] {
			t.Fatalf("event %s, answered 200 before the backup, is not in the copy of the log", id)
		}
	}
	t.Logf("the copy: %d events in the log, %d answered before the backup; %d in the store, at offset %d, its group at %d",
		len(inLog), len(before), stored, offsets[eventlog.TopicEvents], acked0)

	p = startHookd(t, restored)
	if missing := waitStored(t, p.admin, before); len(missing) > 0 {
		t.Fatalf("%d of %d events answered 200 before the backup are not in the restored store, e.g. %s\n%s",
			len(missing), len(before), missing[0], p.output())
	}
	if missing := waitStored(t, p.admin, inLog); len(missing) > 0 {
		t.Fatalf("%d of the %d events of the restored log are not in the restored store, e.g. %s\n%s",
			len(missing), len(inLog), missing[0], p.output())
	}
	caughtUp := strings.Contains(p.output(), "the projector resumes from the store's offset")
	if behind := offsets[eventlog.TopicEvents] < acked0; caughtUp != behind {
		t.Errorf("store at offset %d, its group at %d: logged catching up = %v, want %v\n%s",
			offsets[eventlog.TopicEvents], acked0, caughtUp, behind, p.output())
	}
	p.stop(t)
}

// backedUpData returns the data directory dir/data holding an event log
// and a store, as backup expects.
func backedUpData(t *testing.T, dir string) string {
	t.Helper()
	data := filepath.Join(dir, "data")
	appendEvents(t, data, nil)
	openDataStore(t, data).Close()
	return data
}

// TestBackupRefuses checks what backup does not do, each with an error
// that says why, and that it then leaves no file behind.
func TestBackupRefuses(t *testing.T) {
	dir := t.TempDir()
	data := backedUpData(t, dir)
	nonEmpty := filepath.Join(dir, "non-empty")
	if err := os.MkdirAll(nonEmpty, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nonEmpty, "old"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	external := writeFile(t, "external.yaml", fmt.Sprintf("data: %s\nlog: {backend: nats, url: \"nats://127.0.0.1:4222\"}\nstore: {driver: postgres, dsn: \"postgres://127.0.0.1/x\"}\n", data))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"destination not empty", []string{"--data", data, "--to", nonEmpty}, "exists and is not empty"},
		{"destination in the data directory", []string{"--data", data, "--to", filepath.Join(data, "backups", "b4")}, "is in the data directory"},
		{"destination in the data directory, through a link", []string{"--data", link, "--to", filepath.Join(data, "b5")}, "is in the data directory"},
		{"destination is the data directory", []string{"--data", data, "--to", data + string(filepath.Separator)}, "is in the data directory"},
		{"no data directory", []string{"--data", filepath.Join(dir, "none"), "--to", filepath.Join(dir, "b1")}, "data directory"},
		{"no store", []string{"--data", t.TempDir(), "--to", filepath.Join(dir, "b2")}, "no store.db in"},
		{"nothing in SQLite", []string{"--config", external, "--to", filepath.Join(dir, "b3")}, "pg_dump"},
		{"no destination", []string{"--data", data}, "--to is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runHookd(t, append([]string{"backup"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("hookd backup %v: %v, want an error saying %q", tc.args, err, tc.want)
			}
		})
	}
	for _, b := range []string{"b1", "b2", "b3", "data/backups", "data/b5"} {
		if _, err := os.Stat(filepath.Join(dir, b)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a refused backup left %s: %v", b, err)
		}
	}
	if entries, err := os.ReadDir(nonEmpty); err != nil || len(entries) != 1 {
		t.Errorf("a refused backup changed the directory it refused: %v, %v", entries, err)
	}
}

// TestBackupMakesParents backs up into a directory whose parents do not
// exist yet, as mkdir -p would make them: a dated folder under a backups
// folder made on first use.
func TestBackupMakesParents(t *testing.T) {
	dir := t.TempDir()
	data := backedUpData(t, dir)
	to := filepath.Join(dir, "backups", "hookd", "2025-03-01")
	if _, _, err := runHookd(t, "backup", "--data", data, "--to", to); err != nil {
		t.Fatalf("hookd backup --to %s: %v", to, err)
	}
	for _, name := range []string{store.FileName, eventlogsqlite.FileName} {
		if _, err := os.Stat(filepath.Join(to, name)); err != nil {
			t.Errorf("the backup has no %s: %v", name, err)
		}
	}
	if fi, err := os.Stat(to); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the backup directory: %v, %v; want mode 0700", fi, err)
	}
}

// TestRestartLostEventsOfOlderStore is the audit's case: store.db backed
// up, more events stored, hookd.db backed up later, both restored. hookd
// serve finds the store behind its consumer group, says so, and stores the
// events in between, which nothing else delivers again.
func TestRestartLostEventsOfOlderStore(t *testing.T) {
	dir := t.TempDir()
	data, restored := filepath.Join(dir, "data"), filepath.Join(dir, "restored")
	if err := os.Mkdir(restored, 0o700); err != nil {
		t.Fatal(err)
	}
	p := startHookd(t, data)
	post := func(from, to int) map[string]bool {
		t.Helper()
		ids := map[string]bool{}
		for n := from; n < to; n++ {
			body := openEvent(n)
			postHook(t, p.hooks, body) // answered 200
			got, err := idsOf(body)
			if err != nil {
				t.Fatal(err)
			}
			ids[got[0]] = true
		}
		if missing := waitStored(t, p.admin, ids); len(missing) > 0 {
			t.Fatalf("%d events not stored", len(missing))
		}
		return ids
	}
	first := post(0, 20)
	if err := copyDB(t.Context(), filepath.Join(data, store.FileName), filepath.Join(restored, store.FileName)); err != nil {
		t.Fatal(err)
	}
	later := post(20, 36)
	time.Sleep(200 * time.Millisecond) // the group's offset is written within 10 ms of the acks
	if err := copyDB(t.Context(), filepath.Join(data, eventlogsqlite.FileName), filepath.Join(restored, eventlogsqlite.FileName)); err != nil {
		t.Fatal(err)
	}
	p.stop(t)

	p = startHookd(t, restored)
	all := map[string]bool{}
	for id := range first {
		all[id] = true
	}
	for id := range later {
		all[id] = true
	}
	if missing := waitStored(t, p.admin, all); len(missing) > 0 {
		t.Fatalf("%d of the %d acknowledged events are not in the restored store, e.g. %s\n%s",
			len(missing), len(all), missing[0], p.output())
	}
	if !strings.Contains(p.output(), "the projector resumes from the store's offset") {
		t.Errorf("hookd did not say that it caught up:\n%s", p.output())
	}
	p.stop(t)
}

// TestBackupSaysWhenToDumpTheRest checks what backup tells of the parts it
// does not copy: the copy of the store must not be ahead of the copy of the
// log, so a PostgreSQL store is dumped before backup copies the SQLite log,
// and a log elsewhere after backup copied the SQLite store.
func TestBackupSaysWhenToDumpTheRest(t *testing.T) {
	dir := t.TempDir()
	data := backedUpData(t, dir)
	for _, tc := range []struct {
		name, backends, want string
	}{
		{"postgres store", `store: {driver: postgres, dsn: "postgres://127.0.0.1/x"}`,
			"the store is on PostgreSQL: back it up with pg_dump, before this backup"},
		{"postgres log", `log: {backend: postgres, dsn: "postgres://127.0.0.1/x"}`,
			"the event log is on PostgreSQL: back it up with pg_dump, after this backup"},
		{"nats log", `log: {backend: nats, url: "nats://127.0.0.1:4222"}`,
			"the event log is on NATS JetStream: back up its streams with nats stream backup, after this backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, "hookd.yaml", fmt.Sprintf("data: %s\n%s\n", data, tc.backends))
			_, stderr, err := runHookd(t, "backup", "--config", cfg, "--to", filepath.Join(t.TempDir(), "b"))
			if err != nil {
				t.Fatalf("hookd backup: %v", err)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("hookd backup said on standard error:\n%s\nwant %q", stderr, tc.want)
			}
		})
	}
}
