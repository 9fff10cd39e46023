package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/internal/testenv"
)

// TestRetentionPostgresReplicas runs retention.log on a PostgreSQL event
// log from two replicas that start at once, as a deployment does after an
// upgrade: serve deletes, at start, the log messages older than
// retention.log that the consumer groups processed (their rows made two
// days old here), with their dedup keys, each once, and nothing fails;
// a provider's retry of an event still in the log is a duplicate, and one
// of an event deleted from the log is stored once all the same.
func TestRetentionPostgresReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("runs hookd processes on PostgreSQL; run without -short")
	}
	dsn := testenv.PostgresSchema(t)
	t.Setenv("HOOKD_RETENTION_DSN", dsn)
	dir := t.TempDir()
	config := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(config, []byte(`log: { backend: postgres, dsn: "${HOOKD_RETENTION_DSN}" }
store: { driver: postgres, dsn: "${HOOKD_RETENTION_DSN}" }
sources: [{ name: mailjet, provider: mailjet }]
retention: { log: 1d }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(table string) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	datas := []string{t.TempDir(), t.TempDir()}

	p := startHookd(t, datas[0], "--config", config)
	ids := make([]string, 11)
	for i := range 10 {
		body := openEvent(30000 + i)
		got, err := idsOf(body)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = got[0]
		if a := postHook(t, p.hooks, body); a.Accepted != 1 {
			t.Fatalf("event %d answered %+v, want accepted", i, a)
		}
	}
	waitUntil(t, "10 events stored", func() bool { return len(storedEventIDs(t, dsn)) == 10 }, p)
	p.stop(t)
	if n := count("hookd_events"); n != 10 {
		t.Fatalf("before retention the log holds %d messages, want 10", n)
	}
	// The first 6 messages, in log order, are appended two days ago.
	if _, err := conn.Exec(ctx, `UPDATE hookd_events SET created_at = created_at - interval '2 days'
		WHERE (transaction_id, "offset") IN (SELECT transaction_id, "offset" FROM hookd_events ORDER BY 1, 2 LIMIT 6)`); err != nil {
		t.Fatal(err)
	}

	replicas := []*proc{startHookd(t, datas[0], "--config", config), startHookd(t, datas[1], "--config", config)}
	waitUntil(t, "the 6 old messages and their dedup keys deleted", func() bool {
		return count("hookd_events") == 4 && count("hookd_dedup_events") == 4
	}, replicas...)
	if a := postHook(t, replicas[1].hooks, openEvent(30000+9)); a.Duplicates != 1 {
		t.Errorf("retry of an event still in the log answered %+v, want a duplicate", a)
	}
	if a := postHook(t, replicas[0].hooks, openEvent(30000)); a.Accepted != 1 {
		t.Errorf("retry of an event deleted from the log answered %+v, want accepted again", a)
	}
	body := openEvent(30000 + 10)
	got, err := idsOf(body)
	if err != nil {
		t.Fatal(err)
	}
	ids[10] = got[0]
	postHook(t, replicas[0].hooks, body)
	// The log is read in order: once the last event is stored, the retry
	// before it was projected.
	waitUntil(t, "11 events stored", func() bool { return len(storedEventIDs(t, dsn)) == 11 }, replicas...)
	for _, p := range replicas {
		p.stop(t)
	}
	stored := storedEventIDs(t, dsn)
	for _, id := range ids {
		if stored[id] != 1 {
			t.Errorf("event %s stored %d times, want once", id, stored[id])
		}
	}

	deleted := 0
	for i, p := range replicas {
		for line := range strings.SplitSeq(p.output(), "\n") {
			var rec struct {
				Msg, From string
				Rows      int
			}
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			switch rec.Msg {
			case "retention: deleted old rows":
				if rec.From == "log events" {
					deleted += rec.Rows
				}
			case "retention: deleting old rows failed; next round tries again":
				t.Errorf("replica %d: %s", i, line)
			}
		}
	}
	if deleted != 6 {
		t.Errorf("the replicas logged %d log messages deleted, want 6:\n%s\n----\n%s", deleted, replicas[0].output(), replicas[1].output())
	}
}
