package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/store"
)

// TestReplicas opens two stores on one database at once, as two hookd
// replicas (or, on SQLite, two processes) do: both migrate it, and their
// runners, claiming at the same time, never run one job twice nor two jobs
// of one target at once.
func TestReplicas(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := storeConfig(t, dir)
	stores := make([]*store.Store, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = store.Open(ctx, cfg, nil) })
	}
	wg.Wait()
	for i, st := range stores {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		t.Cleanup(func() { st.Close() })
	}

	const targets, perTarget = 6, 10
	var jobs []actions.Job
	for i := range targets * perTarget {
		jobs = append(jobs, job("r", fmt.Sprintf("e%03d", i), fmt.Sprintf("t%d", i%targets)))
	}
	if n := enqueue(t, stores[0], jobs...); n != len(jobs) {
		t.Fatalf("enqueued %d, want %d", n, len(jobs))
	}
	// The second replica's enqueue of the same keys adds nothing.
	if n := enqueue(t, stores[1], jobs...); n != 0 {
		t.Fatalf("second replica enqueued %d again, want 0", n)
	}

	var (
		mu      sync.Mutex
		claimed = map[int64]string{}  // job id → owner
		running = map[string]string{} // target → owner
		fail    []string
	)
	deadline := time.Now().Add(30 * time.Second)
	for i, st := range stores {
		owner := fmt.Sprintf("replica-%d", i)
		wg.Go(func() {
			for time.Now().Before(deadline) {
				got, err := st.Claim(ctx, owner, time.Now(), 4, 3, time.Minute, "")
				if err != nil {
					mu.Lock()
					fail = append(fail, fmt.Sprintf("%s: claim: %v", owner, err))
					mu.Unlock()
					return
				}
				mu.Lock()
				done := len(claimed) == len(jobs)
				batch := map[string]bool{} // targets of this claim: one batch each
				for _, j := range got {
					if by, ok := claimed[j.ID]; ok {
						fail = append(fail, fmt.Sprintf("job %d claimed by %s and %s", j.ID, by, owner))
					}
					claimed[j.ID] = owner
					if by, ok := running[j.Target]; ok && !batch[j.Target] {
						fail = append(fail, fmt.Sprintf("target %s runs jobs of %s and %s at once", j.Target, by, owner))
					}
					running[j.Target], batch[j.Target] = owner, true
				}
				mu.Unlock()
				if done {
					return
				}
				outcomes := make([]actions.Outcome, len(got))
				for i, j := range got {
					outcomes[i] = actions.Outcome{ID: j.ID, Status: actions.Done, Attempt: j.Attempts, Took: time.Millisecond}
				}
				mu.Lock()
				for t := range batch {
					delete(running, t) // before the commit that lets another claim it
				}
				mu.Unlock()
				if err := st.Finish(ctx, owner, outcomes); err != nil {
					mu.Lock()
					fail = append(fail, fmt.Sprintf("%s: finish: %v", owner, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for _, f := range fail {
		t.Error(f)
	}
	if len(claimed) != len(jobs) {
		t.Fatalf("%d jobs claimed, want %d", len(claimed), len(jobs))
	}
	page, err := stores[1].Jobs(ctx, store.JobQuery{Status: actions.Done, Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != len(jobs) {
		t.Errorf("%d jobs done, want %d", len(page.Jobs), len(jobs))
	}
	per := map[string]int{}
	for _, o := range claimed {
		per[o]++
	}
	t.Logf("jobs run per replica: %v", per)
}
