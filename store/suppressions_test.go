package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookd/hookd/store"
)

func TestSuppressions(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	for _, c := range []struct {
		email, reason string
		added         bool
	}{
		{"B@example.com", "hard bounce", true},
		{"a@example.com", "spam", true},
		{"b@example.com", "again", false}, // already there, in another case
		{"c@example.com", "unsub", true},
	} {
		added, err := st.Suppress(ctx, c.email, c.reason, "rule", "ev-"+c.email)
		if err != nil || added != c.added {
			t.Fatalf("Suppress(%s) = %v, %v; want %v", c.email, added, err, c.added)
		}
	}
	for email, want := range map[string]bool{"b@example.com": true, "B@EXAMPLE.COM": true, "d@example.com": false} {
		if got, err := st.Suppressed(ctx, email); err != nil || got != want {
			t.Errorf("Suppressed(%s) = %v, %v; want %v", email, got, err, want)
		}
	}
	p1, err := st.Suppressions(ctx, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p1.Suppressions) != 2 || p1.Suppressions[0].Email != "a@example.com" || p1.Suppressions[1].Email != "b@example.com" || p1.Next == "" {
		t.Fatalf("first page = %+v", p1)
	}
	if s := p1.Suppressions[1]; s.Reason != "hard bounce" || s.EventID != "ev-B@example.com" || s.Created.IsZero() {
		t.Errorf("b@example.com = %+v, want the first suppression kept", s)
	}
	p2, err := st.Suppressions(ctx, 2, p1.Next)
	if err != nil || len(p2.Suppressions) != 1 || p2.Suppressions[0].Email != "c@example.com" || p2.Next != "" {
		t.Fatalf("second page = %+v, %v", p2, err)
	}
	// "!" is no base64; "c_8" is the kind and the byte 0xff, which no
	// address is (PostgreSQL refused it as text: 500); the cursors of the
	// other listings (a job's, a target's, an event's) and the bare
	// address an older hookd made are not this listing's.
	for _, cursor := range []string{"!", "c_8", "YQD_", "agAAAAAAAAAAAAAAAAAAAAU", "dGFiY0BleGFtcGxlLmNvbQ",
		"ZRjsqgQZmHwAAAAAAAAAATE", "YkBleGFtcGxlLmNvbQ"} {
		if _, err := st.Suppressions(ctx, 2, cursor); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("cursor %q: %v, want ErrInvalidQuery", cursor, err)
		}
	}
	if err := st.Unsuppress(ctx, "A@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := st.Unsuppress(ctx, "a@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Unsuppress twice: %v, want ErrNotFound", err)
	}
	if got, _ := st.Suppressed(ctx, "a@example.com"); got {
		t.Error("a@example.com still suppressed")
	}
}

// TestWriteWaitEndsWithContext checks that a write waiting for the store's
// writer, held by a long transaction such as a projector's batch, gives up
// when its context ends (an admin request's query timeout) having written
// nothing, and that the writer serves the next write once free.
func TestWriteWaitEndsWithContext(t *testing.T) {
	st := openStore(t, t.TempDir())
	ctx := context.Background()
	release := st.HoldWriter()
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := st.Suppress(wctx, "a@example.com", "test", "", "")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Suppress waiting for the writer: %v, want the context's deadline", err)
		}
	case <-time.After(30 * time.Second):
		release()
		t.Fatal("Suppress still waits for the writer 30 s after its context ended")
	}
	release()
	if ok, err := st.Suppressed(ctx, "a@example.com"); err != nil || ok {
		t.Fatalf("after the refused write, Suppressed = %v, %v; want false", ok, err)
	}
	if _, err := st.Suppress(ctx, "a@example.com", "test", "", ""); err != nil {
		t.Fatalf("Suppress once the writer is free: %v", err)
	}
	if ok, err := st.Suppressed(ctx, "a@example.com"); err != nil || !ok {
		t.Fatalf("after the write, Suppressed = %v, %v; want true", ok, err)
	}
}
