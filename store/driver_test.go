package store_test

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"

	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/store"
)

// storeDriver is the driver that openStore opens: sqlite, or postgres when
// TestPostgres runs this package's tests again in a child process.
var storeDriver = os.Getenv("HOOKD_TEST_STORE_DRIVER")

// pgSchemas maps the data directory a test gave openStore to the DSN of
// the schema that stands for it, so that opening the same directory again
// opens the same store.
var pgSchemas sync.Map

// storeConfig is the configuration of the store that openStore opens for
// dir: a store.db in dir, or, under TestPostgres, a schema of its own on
// the server of HOOKD_TEST_POSTGRES_DSN.
func storeConfig(t testing.TB, dir string) store.Config {
	t.Helper()
	if storeDriver != "postgres" {
		return store.Config{Dir: dir}
	}
	dsn, ok := pgSchemas.Load(dir)
	if !ok {
		dsn = testenv.PostgresSchema(t)
		pgSchemas.Store(dir, dsn)
	}
	return store.Config{Driver: "postgres", DSN: dsn.(string)}
}

// sqliteOnly skips a test that looks at SQLite's file itself when the
// tests run on PostgreSQL.
func sqliteOnly(t testing.TB) {
	t.Helper()
	if storeDriver == "postgres" {
		t.Skip("SQLite file specifics; the PostgreSQL run covers the same behaviour elsewhere")
	}
}

// TestPostgres runs every test of the package again with openStore on
// PostgreSQL (HOOKD_TEST_POSTGRES_DSN), in a child process of this test
// binary, and fails if any fails there.
func TestPostgres(t *testing.T) {
	if storeDriver != "" {
		t.Skip("this is the PostgreSQL run")
	}
	testenv.PostgresDSN(t)
	args := []string{"-test.count=1", "-test.timeout=9m", "-test.v"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), "HOOKD_TEST_STORE_DRIVER=postgres")
	out, err := cmd.CombinedOutput()
	passed := len(regexp.MustCompile(`(?m)^--- PASS`).FindAll(out, -1))
	skipped := regexp.MustCompile(`(?m)^--- SKIP: (\S+)`).FindAllSubmatch(out, -1)
	if err != nil || passed == 0 {
		t.Fatalf("store tests on PostgreSQL failed (%v):\n%s", err, out)
	}
	var names [][]byte
	for _, m := range skipped {
		names = append(names, m[1])
	}
	t.Logf("on PostgreSQL: %d tests passed, skipped: %s", passed, bytes.Join(names, []byte(", ")))
}
