package testenv_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/testenv"
)

// recorder is a testing.TB that records how a helper ended the test
// instead of ending it.
type recorder struct {
	testing.TB
	skipped, failed string
}

type stop struct{}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	panic(stop{})
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(stop{})
}

func run(t *testing.T, fn func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(stop); !ok {
					panic(v)
				}
			}
		}()
		fn(r)
	}()
	return r
}

// TestUnsetSkipsSetFails checks the contract CI relies on: an unset
// variable skips with how to enable the test, a set one whose server does
// not answer fails.
func TestUnsetSkipsSetFails(t *testing.T) {
	for _, tc := range []struct {
		name, variable, value string
		helper                func(testing.TB)
		wantSkip, wantFail    string
	}{
		{"postgres unset", testenv.PostgresVar, "", func(tb testing.TB) { testenv.PostgresDSN(tb) }, "set HOOKD_TEST_POSTGRES_DSN", ""},
		{"postgres unreachable", testenv.PostgresVar, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2",
			func(tb testing.TB) { testenv.PostgresDSN(tb) }, "", "is set but PostgreSQL does not answer"},
		{"nats unset", testenv.NATSVar, "", func(tb testing.TB) { testenv.NATSURL(tb) }, "set HOOKD_TEST_NATS_URL", ""},
		{"nats unreachable", testenv.NATSVar, "nats://127.0.0.1:1", func(tb testing.TB) { testenv.NATSURL(tb) }, "", "is set but NATS does not answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.variable, tc.value)
			r := run(t, tc.helper)
			if tc.wantSkip != "" && !strings.Contains(r.skipped, tc.wantSkip) {
				t.Errorf("skipped %q, want a skip saying %q", r.skipped, tc.wantSkip)
			}
			if tc.wantFail != "" && !strings.Contains(r.failed, tc.wantFail) {
				t.Errorf("failed %q, want a failure saying %q", r.failed, tc.wantFail)
			}
			if tc.wantSkip == "" && r.skipped != "" || tc.wantFail == "" && r.failed != "" {
				t.Errorf("skipped %q, failed %q", r.skipped, r.failed)
			}
		})
	}
}
