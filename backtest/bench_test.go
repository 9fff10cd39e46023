package backtest_test

import (
	"context"
	"flag"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/backtest"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

var (
	benchEvents  = flag.Int("events", 1_000_000, "events BenchmarkBacktest stores")
	benchWorkers = flag.Int("workers", 0, "BenchmarkBacktest's Options.Workers")
	benchDir     = flag.String("dir", "", "directory keeping BenchmarkBacktest's generated store between runs (default: a new temporary one)")
)

// cpuTime returns the CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBacktest backtests 20 rules (testdata/rules.yaml and
// bench-rules.yaml) over -events stored synthetic events, reporting events
// evaluated per second. Storing them takes longer than the backtest.
func BenchmarkBacktest(b *testing.B) {
	ctx := context.Background()
	st := benchStore(ctx, b)
	defer func() { st.Close() }()
	more, err := os.ReadFile("testdata/bench-rules.yaml")
	if err != nil {
		b.Fatal(err)
	}
	set := loadRules(b, liveRules(b)+string(more[len("rules:\n"):]))
	if n := len(set.Rules()); n != 20 {
		b.Fatalf("%d rules, want 20", n)
	}
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime(b)
	var fired int
	for range b.N {
		rep, err := backtest.Run(ctx, st, set, backtest.Options{Workers: *benchWorkers})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Events != int64(*benchEvents) {
			b.Fatalf("evaluated %d events, want %d", rep.Events, *benchEvents)
		}
		fired = 0
		for _, r := range rep.Rules {
			fired += r.Backtest
		}
	}
	b.ReportMetric(float64(b.N)*float64(*benchEvents)/time.Since(start).Seconds(), "events/s")
	// On a machine shared with other work, wall time says little: the
	// CPU time says what the backtest costs.
	b.ReportMetric(float64(b.N)*float64(*benchEvents)/(cpuTime(b)-cpu).Seconds(), "events/cpu-s")
	b.ReportMetric(float64(fired)/float64(*benchEvents), "firings/event")
}

// benchStore returns the store of -events synthetic events, read-only, as
// hookd backtest opens it, generating it in -dir unless it is there.
func benchStore(ctx context.Context, b *testing.B) *store.Store {
	dir := *benchDir
	if dir == "" {
		dir = b.TempDir()
	}
	st, err := store.Open(ctx, store.Config{Dir: dir}, nil)
	if err != nil {
		b.Fatal(err)
	}
	have, _, err := st.CountEvents(ctx)
	if err != nil {
		b.Fatal(err)
	}
	switch have {
	case int64(*benchEvents):
	case 0:
		batch := make([]event.Event, 0, 2000)
		for i := range *benchEvents {
			batch = append(batch, synthetic(i))
			if len(batch) == cap(batch) || i == *benchEvents-1 {
				if err := st.Insert(ctx, batch...); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	default:
		st.Close()
		b.Fatalf("%s holds %d events, not %d: use another -dir", dir, have, *benchEvents)
	}
	// The backtest reads a store no one writes to, as hookd backtest
	// opens it: read-only, with no checkpoint running.
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if st, err = store.Open(ctx, store.Config{Dir: dir, ReadOnly: true}, nil); err != nil {
		b.Fatal(err)
	}
	return st
}
