package store_test

import (
	"context"
	"testing"
	"time"
)

// TestSessions adds, reads and deletes dashboard sessions, and checks
// that adding one deletes those expired before it, and no other.
func TestSessions(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := st.AddSession(ctx, "a", t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.AddSession(ctx, "b", t0, t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want map[string]time.Time) {
		t.Helper()
		for _, mac := range []string{"a", "b", "c", "missing"} {
			exp, ok, err := st.Session(ctx, mac)
			w, wantOK := want[mac]
			if err != nil || ok != wantOK || !exp.Equal(w) {
				t.Errorf("%s: Session(%q) = %v, %v, %v; want %v, %v", when, mac, exp, ok, err, w, wantOK)
			}
		}
	}
	check("added", map[string]time.Time{"a": t0.Add(time.Hour), "b": t0.Add(3 * time.Hour)})
	// Expired, a is returned as it is until a login deletes it.
	if err := st.AddSession(ctx, "c", t0.Add(2*time.Hour), t0.Add(14*time.Hour)); err != nil {
		t.Fatal(err)
	}
	check("a login after a expired", map[string]time.Time{"b": t0.Add(3 * time.Hour), "c": t0.Add(14 * time.Hour)})
	if err := st.DeleteSession(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSession(ctx, "missing"); err != nil {
		t.Errorf("DeleteSession of no session: %v", err)
	}
	check("b deleted", map[string]time.Time{"c": t0.Add(14 * time.Hour)})
}
