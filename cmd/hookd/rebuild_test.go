package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	eventlogsqlite "github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/internal/datalock"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/store"
)

// apiAnswers asks the admin API over the store in data every listing
// query, following cursors, and every event and job by id, and returns the
// answers by request.
func apiAnswers(t *testing.T, data string) map[string]string {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Dir: data, ReadOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := listener.NewEcho(nil)
	api.Register(e.Group("/api"), api.Deps{Store: st})
	srv := httptest.NewServer(e)
	defer srv.Close()
	answers := map[string]string{}
	get := func(path string) map[string]any {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		answers[path] = fmt.Sprintf("%d %s", resp.StatusCode, body)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		return m
	}
	// follow gets a listing page by page and returns the items.
	follow := func(path, key string) []any {
		var items []any
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		for p := path + sep + "limit=4"; ; {
			m := get(p)
			list, ok := m[key].([]any)
			if !ok {
				t.Fatalf("GET %s: no %s list: %s", p, key, answers[p])
			}
			items = append(items, list...)
			next, _ := m["next"].(string)
			if next == "" {
				return items
			}
			p = path + sep + "limit=4&cursor=" + url.QueryEscape(next)
		}
	}
	for _, ev := range follow("/api/events", "events") {
		get("/api/events/" + url.PathEscape(ev.(map[string]any)["id"].(string)))
	}
	for _, q := range []string{"?type=blocked", "?domain=x.com", "?email=ann@a.com", "?since=2025-03-01T10:01:00Z&until=2025-03-01T12:00:00Z"} {
		follow("/api/events"+q, "events")
	}
	get("/api/stats?by=type&interval=1h&since=2025-03-01T00:00:00Z&until=2025-03-03T00:00:00Z")
	get("/api/stats?by=domain&interval=1m&since=2025-03-01T10:00:00Z&until=2025-03-01T11:00:00Z")
	follow("/api/quarantine", "quarantine")
	for _, j := range follow("/api/jobs", "jobs") {
		get(fmt.Sprintf("/api/jobs/%v", j.(map[string]any)["id"]))
	}
	follow("/api/deadletters", "jobs")
	get("/api/targets")
	return answers
}

// logRecords reads every message of the SQLite log in data.
func logRecords(t *testing.T, data string) string {
	t.Helper()
	log := openDataLog(t, data)
	defer log.Close()
	var b strings.Builder
	for _, topic := range []string{eventlog.TopicEvents, eventlog.TopicQuarantine} {
		recs, err := log.(eventlog.Reader).Read(context.Background(), topic, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			fmt.Fprintf(&b, "%s %d %s %v %s\n", topic, r.Offset, r.Message.UUID, r.Message.Metadata, r.Message.Payload)
		}
	}
	return b.String()
}

func TestRebuild(t *testing.T) {
	dir := t.TempDir()
	var ruleFiles []string
	var events []event.Event
	for _, name := range scenarios {
		abs, err := filepath.Abs(filepath.Join("testdata", "scenarios", name))
		if err != nil {
			t.Fatal(err)
		}
		ruleFiles = append(ruleFiles, fmt.Sprintf("  - %q\n", filepath.Join(abs, "rules.yaml")))
		events = append(events, scenarioEvents(t, filepath.Join(abs, "events.json"))...)
	}
	cfgFile := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(cfgFile, []byte("sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n"+strings.Join(ruleFiles, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	appendEvents(t, data, events)
	log := openDataLog(t, data)
	q, _ := json.Marshal(event.Quarantined{ID: "q1", Source: "mailjet", Received: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC),
		Error: "not JSON", ContentType: "text/plain", Body: []byte("hello")})
	if _, err := log.Append(context.Background(), eventlog.TopicQuarantine, []*message.Message{message.NewMessage("q1", q)}); err != nil {
		t.Fatal(err)
	}
	log.Close()
	projectLog(t, cfgFile, data, int64(len(events)))
	runJobs(t, data)
	// An event the projector has not stored yet: rebuild leaves it for
	// the projector, which evaluates it.
	late := scenarioEvents(t, filepath.Join("testdata", "scenarios", "list-cleanup", "events.json"))[1]
	late.ID, late.Email, late.Domain = "late-bounce", "zed@z.com", "z.com"
	appendEvents(t, data, []event.Event{late})

	before := apiAnswers(t, data)
	logBefore := logRecords(t, data)

	lock, err := datalock.Acquire(data)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runHookd(t, "rebuild", "--config", cfgFile, "--data", data)
	if err == nil || !strings.Contains(err.Error(), "hookd serve is running on") {
		t.Errorf("rebuild beside a server: %v", err)
	}
	lock.Release()

	rebuildSays(t, cfgFile, data, fmt.Sprintf("rebuilt %d events and 1 quarantined body from the log; jobs, once keys and cooldowns kept\nleft 1 message for hookd serve to store and evaluate\n", len(events)))
	after := apiAnswers(t, data)
	if len(after) != len(before) || len(before) < 40 {
		t.Errorf("%d answers before, %d after", len(before), len(after))
	}
	for path, b := range before {
		if a := after[path]; a != b {
			t.Errorf("GET %s differs after rebuild:\nbefore %s\nafter  %s", path, b, a)
		}
	}
	if !strings.Contains(before["/api/events/"+url.PathEscape(events[2].ID)], `"result":"fired"`) {
		t.Errorf("the explanations are not in the answers: %s", before["/api/events/"+url.PathEscape(events[2].ID)])
	}
	if logRecords(t, data) != logBefore {
		t.Error("rebuild changed the log")
	}

	// The projector stores and evaluates the late event; nothing else.
	projectLog(t, cfgFile, data, int64(len(events))+1)
	st, err := store.Open(context.Background(), store.Config{Dir: data, ReadOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.Jobs(context.Background(), store.JobQuery{Status: "pending"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 1 || page.Jobs[0].EventID != "late-bounce" {
		t.Errorf("pending jobs after projecting the late event: %+v", page.Jobs)
	}
}

// TestRebuildLostStore deletes store.db after the projector consumed the
// log: serve's check warns, and rebuild stores every event and the
// quarantined body again, without making a job (their actions ran before).
func TestRebuildLostStore(t *testing.T) {
	dir := t.TempDir()
	cfgFile, events := listCleanup(t, dir, "")
	data := filepath.Join(dir, "data")
	appendEvents(t, data, events)
	projectLog(t, cfgFile, data, int64(len(events)))
	files, _ := filepath.Glob(filepath.Join(data, store.FileName+"*"))
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}

	warned := func() bool {
		t.Helper()
		return strings.Contains(serveSays(t, data, checkLost), "hookd rebuild")
	}
	if !warned() {
		t.Error("serve's check did not warn about the lost store")
	}
	rebuildSays(t, cfgFile, data, fmt.Sprintf("rebuilt 0 events and 0 quarantined bodies from the log; jobs, once keys and cooldowns kept\n"+
		"restored %d messages the store had lost (the projector had consumed them); their rules' actions are not run again\n", len(events)))
	if warned() {
		t.Error("serve's check warns after the rebuild")
	}
	st, err := store.Open(context.Background(), store.Config{Dir: data, ReadOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.Count(context.Background()); err != nil || n != int64(len(events)) {
		t.Errorf("store holds %d events after the rebuild (%v), want %d", n, err, len(events))
	}
	page, err := st.Jobs(context.Background(), store.JobQuery{})
	if err != nil || len(page.Jobs) != 0 {
		t.Errorf("jobs after the rebuild: %+v, %v; want none", page.Jobs, err)
	}
}

// TestRebuildOlderStore replaces store.db by a copy taken before the
// projector stored the log's last events, and rebuilds it: rebuild
// restores them and records the log offset the store got to, so that
// serve, starting next, finds the store level with its consumer group and
// neither warns nor rewinds the group.
func TestRebuildOlderStore(t *testing.T) {
	dir := t.TempDir()
	cfgFile, events := listCleanup(t, dir, "")
	data, older := filepath.Join(dir, "data"), filepath.Join(dir, "older")
	if err := os.Mkdir(older, 0o700); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, data, events[:2])
	projectLog(t, cfgFile, data, 2)
	if err := copyDB(t.Context(), filepath.Join(data, store.FileName), filepath.Join(older, store.FileName)); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, data, events[2:])
	projectLog(t, cfgFile, data, int64(len(events)))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(filepath.Join(data, store.FileName+suffix)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if err := os.Rename(filepath.Join(older, store.FileName), filepath.Join(data, store.FileName)); err != nil {
		t.Fatal(err)
	}

	rebuildSays(t, cfgFile, data, fmt.Sprintf("rebuilt 2 events and 0 quarantined bodies from the log; jobs, once keys and cooldowns kept\n"+
		"restored %d messages the store had lost (the projector had consumed them); their rules' actions are not run again\n", len(events)-2))

	if said := serveSays(t, data, catchUp); said != "" {
		t.Errorf("serve, after the rebuild, says:\n%s", said)
	}
	ctx := context.Background()
	log := openDataLog(t, data)
	defer log.Close()
	st := openDataStore(t, data)
	defer st.Close()
	projected, err := projectedOffsets(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	offsets, err := st.LogOffsets(ctx)
	if err != nil || fmt.Sprint(offsets) != fmt.Sprint(projected) || projected[eventlog.TopicEvents] == 0 {
		t.Errorf("the store's log offsets after the rebuild: %v, %v; want its group's, %v", offsets, err, projected)
	}
}

// listCleanup writes dir/hookd.yaml, a mailjet source and the list-cleanup
// scenario's rules followed by extra (YAML), and returns its path and the
// scenario's events.
func listCleanup(t *testing.T, dir, extra string) (cfgFile string, events []event.Event) {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("testdata", "scenarios", "list-cleanup"))
	if err != nil {
		t.Fatal(err)
	}
	cfgFile = filepath.Join(dir, "hookd.yaml")
	src := fmt.Sprintf("sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - %q\n", filepath.Join(abs, "rules.yaml"))
	if err := os.WriteFile(cfgFile, []byte(src+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgFile, scenarioEvents(t, filepath.Join(abs, "events.json"))
}

// rebuildSays runs hookd rebuild on data and checks that it succeeds
// quietly on stderr and says want.
func rebuildSays(t *testing.T, cfgFile, data, want string) {
	t.Helper()
	out, stderr, err := runHookd(t, "rebuild", "--config", cfgFile, "--data", data)
	if err != nil || stderr != "" {
		t.Fatalf("rebuild: %v %s", err, stderr)
	}
	if out != want {
		t.Errorf("rebuild said %q, want %q", out, want)
	}
}

// serveSays returns what check, one of the checks of the store against
// the log that serve makes at start (checkLost, catchUp), logs for the
// data directory.
func serveSays(t *testing.T, data string, check func(context.Context, eventlog.Log, *store.Store, *slog.Logger) error) string {
	t.Helper()
	log := openDataLog(t, data)
	defer log.Close()
	st := openDataStore(t, data)
	defer st.Close()
	var b strings.Builder
	if err := check(context.Background(), log, st, slog.New(slog.NewTextHandler(&b, nil))); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestLostLogServers: with the log on PostgreSQL or NATS intact, serve's
// check, which runs before anything has used the log, does not warn; with
// the log replaced by an empty one (another prefix) and the store kept, it
// says that retries of stored events will be answered as new.
func TestLostLogServers(t *testing.T) {
	for _, backend := range []string{"postgres", "nats"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			dsn := testenv.PostgresSchema(t)
			logCfg := eventlog.Config{Backend: "postgres", DSN: dsn}
			other := logCfg
			other.Prefix = "other"
			if backend == "nats" {
				logCfg = eventlog.Config{Backend: "nats"}
				logCfg.URL, logCfg.Prefix = testenv.NATSPrefix(t)
				other = eventlog.Config{Backend: "nats"}
				other.URL, other.Prefix = testenv.NATSPrefix(t)
			}
			openLog := func(cfg eventlog.Config) eventlog.Log {
				t.Helper()
				log, err := eventlog.Open(ctx, cfg, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { log.Close() })
				return log
			}
			st, err := store.Open(ctx, store.Config{Driver: "postgres", DSN: dsn}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			events := scenarioEvents(t, filepath.Join("testdata", "scenarios", "list-cleanup", "events.json"))
			log := openLog(logCfg)
			appendToLog(t, log, events)
			project(t, log, st, nil, int64(len(events)))
			log.Close()

			check := func(log eventlog.Log) string {
				t.Helper()
				var b strings.Builder
				if err := checkLost(ctx, log, st, slog.New(slog.NewTextHandler(&b, nil))); err != nil {
					t.Fatal(err)
				}
				return b.String()
			}
			if got := check(openLog(logCfg)); got != "" {
				t.Errorf("checkLost warns with nothing lost: %s", got)
			}
			if got := check(openLog(other)); !strings.Contains(got, "the log was deleted or replaced") {
				t.Errorf("checkLost logged %q on an empty log, want a warning about the lost log", got)
			}
		})
	}
}

// TestLostLog: with the log deleted and the store kept, serve's check says
// that retries of stored events will be answered as new.
func TestLostLog(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(cfgFile, []byte("sources:\n  - name: mailjet\n    provider: mailjet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	events := scenarioEvents(t, filepath.Join("testdata", "scenarios", "list-cleanup", "events.json"))
	data := filepath.Join(dir, "data")
	appendEvents(t, data, events)
	projectLog(t, cfgFile, data, int64(len(events)))
	if got := serveSays(t, data, checkLost); got != "" {
		t.Fatalf("checkLost warns with nothing lost: %s", got)
	}
	files, _ := filepath.Glob(filepath.Join(data, eventlogsqlite.FileName+"*"))
	if len(files) == 0 {
		t.Fatal("no log file to delete")
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if got := serveSays(t, data, checkLost); !strings.Contains(got, "the log was deleted or replaced") {
		t.Errorf("checkLost logged %q, want a warning about the lost log", got)
	}
}

// TestRebuildAfterRetention deletes the stored events older than
// retention.events, as serve's retention does, while the log keeps them:
// rebuild leaves them deleted and says how many it skipped, instead of
// restoring them as lost.
func TestRebuildAfterRetention(t *testing.T) {
	dir := t.TempDir()
	cfgFile, events := listCleanup(t, dir, "")
	data := filepath.Join(dir, "data")
	appendEvents(t, data, events)
	projectLog(t, cfgFile, data, int64(len(events)))

	// Retention of 30 days: every event of the scenario is older, and
	// retention deletes all but the newest.
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := st.DeleteBefore(ctx, time.Now().Add(-30*24*time.Hour), 1000)
	st.Close()
	if err != nil || deleted != len(events)-1 {
		t.Fatalf("retention deleted %d events (%v), want %d", deleted, err, len(events)-1)
	}
	listCleanup(t, dir, "retention: { events: 30d }\n")
	rebuildSays(t, cfgFile, data, fmt.Sprintf("rebuilt 1 event and 0 quarantined bodies from the log; jobs, once keys and cooldowns kept\n"+
		"skipped %d messages older than retention.events (30d), which retention had deleted from the store\n", len(events)-1))
	st, err = store.Open(ctx, store.Config{Dir: data, ReadOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.Count(ctx); err != nil || n != 1 {
		t.Errorf("store holds %d events after the rebuild (%v), want 1", n, err)
	}
}

// TestRebuildWithoutLog runs rebuild on a data directory whose store is
// there and whose SQLite log is not (deleted, or never copied with the
// store): it refuses, saying the log is missing, and creates no log file
// nor changes the store.
func TestRebuildWithoutLog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events bool
	}{
		{"store with events", true},
		{"empty store", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgFile := filepath.Join(dir, "hookd.yaml")
			if err := os.WriteFile(cfgFile, []byte("sources:\n  - name: mailjet\n    provider: mailjet\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(dir, "data")
			var want int64
			if tc.events {
				events := scenarioEvents(t, filepath.Join("testdata", "scenarios", "list-cleanup", "events.json"))
				appendEvents(t, data, events)
				projectLog(t, cfgFile, data, int64(len(events)))
				want = int64(len(events))
			} else {
				if err := os.MkdirAll(data, 0o700); err != nil {
					t.Fatal(err)
				}
				openDataStore(t, data).Close()
			}
			files, _ := filepath.Glob(filepath.Join(data, eventlogsqlite.FileName+"*"))
			for _, f := range files {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}

			_, _, err := runHookd(t, "rebuild", "--config", cfgFile, "--data", data)
			if err == nil || !strings.Contains(err.Error(), "event log "+filepath.Join(data, eventlogsqlite.FileName)+" is missing") {
				t.Errorf("rebuild without a log: %v, want an error saying the log is missing", err)
			}
			if files, _ := filepath.Glob(filepath.Join(data, eventlogsqlite.FileName+"*")); len(files) != 0 {
				t.Errorf("rebuild without a log created %v", files)
			}
			st, err := store.Open(context.Background(), store.Config{Dir: data, ReadOnly: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if n, err := st.Count(context.Background()); err != nil || n != want {
				t.Errorf("store holds %d events after the refusal (%v), want %d", n, err, want)
			}
		})
	}
}
