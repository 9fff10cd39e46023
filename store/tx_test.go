package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

// update runs fn in a write transaction of st, failing the test on error.
func update(t *testing.T, st *store.Store, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := st.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func TestTxState(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	T := base
	at := func(n int, typ, email string, when time.Time) event.Event {
		e := ev(n, typ, email, when)
		e.ID = fmt.Sprintf("n%d", n)
		return e
	}
	// The log, in order.
	log := []event.Event{
		at(0, "sent", "ann@a.com", T.Add(-2*time.Hour)),
		at(1, "sent", "ann@a.com", T.Add(-time.Hour)),
		at(2, "sent", "ann@a.com", T.Add(-time.Hour+time.Nanosecond)),
		at(3, "sent", "ann@a.com", T.Add(5*time.Minute)), // earlier in the log, later in time than n8
		at(4, "sent", "bob@a.com", T.Add(-time.Minute)),
		at(5, "open", "bob@a.com", T.Add(-time.Minute)),
		at(6, "sent", "ann@a.com", T),
		at(7, "sent", "ann@a.com", T),                   // ties n6, later in the log
		at(8, "open", "ann@a.com", T),                   // the event most cases evaluate
		at(9, "sent", "ann@a.com", T.Add(-time.Second)), // later in the log
		at(10, "open", "ann@a.com", T.Add(-10*time.Minute)),
	}
	log[0].MessageID = log[8].MessageID
	log[4].Campaign, log[4].Source = "other", "sendgrid"
	if err := st.Insert(ctx, log...); err != nil {
		t.Fatal(err)
	}
	// Provider retries, stored once: each is counted once.
	if err := st.Insert(ctx, log[1], log[7]); err != nil {
		t.Fatal(err)
	}
	subject := log[8]
	upper := subject
	upper.Email, upper.Domain = "ANN@A.COM", "A.COM"
	unstored := subject
	unstored.ID = "unstored"
	noCampaign := subject
	noCampaign.Campaign = ""

	tests := []struct {
		name   string
		e      event.Event
		typ    string
		field  string
		window time.Duration // count when set, else last
		want   string        // last: the id or ""; count: the number
	}{
		{"last: ties go to the later in the log; later in time or log is invisible", subject, "sent", "email", 0, "n7"},
		{"last: never the event itself", subject, "open", "email", 0, ""},
		{"last: by domain", subject, "open", "domain", 0, "n5"},
		{"last: by message id", subject, "sent", "message_id", 0, "n0"},
		{"last: by campaign", subject, "sent", "campaign", 0, "n7"},
		{"last: by source", log[5], "sent", "source", 0, "n2"},
		{"last: by email, whatever the source", log[5], "sent", "email", 0, "n4"},
		{"last: email compared lower-cased", upper, "sent", "email", 0, "n7"},
		{"last: first in the log sees nothing", log[0], "sent", "email", 0, ""},
		{"last: the last in the log sees what is not later in time", log[10], "sent", "email", 0, "n2"},
		{"last: an event not stored sees every event not later than it", unstored, "sent", "email", 0, "n7"},
		{"last: an empty value matches nothing", noCampaign, "sent", "campaign", 0, ""},
		{"count: window excludes its start, includes the event's time", subject, "sent", "email", time.Hour, "3"},
		{"count: a wider window", subject, "sent", "email", 2 * time.Hour, "4"},
		{"count: 1ns holds the events of the same time before it", subject, "sent", "email", time.Nanosecond, "2"},
		{"count: by domain", subject, "sent", "domain", time.Hour, "4"},
		{"count: by campaign", subject, "sent", "campaign", time.Hour, "3"},
		{"count: by source", subject, "sent", "source", time.Hour, "3"},
		{"count: by message id", subject, "sent", "message_id", 3 * time.Hour, "1"},
		{"count: the last in the log, back in time", log[10], "sent", "email", time.Hour, "2"},
		{"count: an event not stored", unstored, "sent", "email", time.Hour, "4"},
		{"count: an empty value matches nothing", noCampaign, "sent", "campaign", time.Hour, "0"},
		{"count: another type", subject, "open", "email", time.Hour, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			update(t, st, func(tx *store.Tx) error {
				if tt.window == 0 {
					last, err := tx.Last(ctx, tt.e, tt.typ, tt.field)
					if last != nil {
						got = last.ID
					}
					return err
				}
				n, err := tx.Count(ctx, tt.e, tt.typ, tt.field, tt.window)
				got = fmt.Sprint(n)
				return err
			})
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("last returns the whole event", func(t *testing.T) {
		update(t, st, func(tx *store.Tx) error {
			last, err := tx.Last(ctx, subject, "sent", "message_id")
			if err == nil && !equalEvents(*last, log[0]) {
				t.Errorf("Last = %+v\nwant %+v", *last, log[0])
			}
			return err
		})
	})
	t.Run("errors", func(t *testing.T) {
		for _, fn := range []func(tx *store.Tx) error{
			func(tx *store.Tx) error { _, err := tx.Last(ctx, subject, "sent", "data"); return err },
			func(tx *store.Tx) error { _, err := tx.Count(ctx, subject, "sent", "type", time.Hour); return err },
			func(tx *store.Tx) error { _, err := tx.Count(ctx, subject, "sent", "email", 0); return err },
		} {
			if err := st.Update(ctx, fn); err == nil {
				t.Error("no error")
			}
		}
	})
}

func TestTxOnce(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	steps := []struct {
		name             string
		rule, key, event string
		want             bool
	}{
		{"first event of a key", "r", "k", "e1", true},
		{"another event of the key", "r", "k", "e2", false},
		{"the first event again", "r", "k", "e1", true},
		{"another key", "r", "k2", "e2", true},
		{"another rule", "r2", "k", "e2", true},
		{"the other rule's key again", "r2", "k", "e3", false},
	}
	for _, s := range steps {
		update(t, st, func(tx *store.Tx) error {
			got, err := tx.Once(ctx, s.rule, s.key, s.event)
			if got != s.want {
				t.Errorf("%s: Once(%s, %s, %s) = %v, want %v", s.name, s.rule, s.key, s.event, got, s.want)
			}
			return err
		})
	}
	// A transaction that rolls back records nothing.
	failed := errors.New("rolled back")
	err := st.Update(ctx, func(tx *store.Tx) error {
		if first, err := tx.Once(ctx, "r3", "k", "e1"); err != nil || !first {
			t.Errorf("Once = %v, %v", first, err)
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Update = %v", err)
	}
	update(t, st, func(tx *store.Tx) error {
		first, err := tx.Once(ctx, "r3", "k", "e2")
		if !first {
			t.Error("a rolled back Once was kept")
		}
		return err
	})
}

func TestTxCooldown(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	T := base
	steps := []struct {
		name      string
		rule, key string
		at        time.Time
		event     string
		want      bool
	}{
		{"first firing", "r", "", T, "e1", true},
		{"within the window after it", "r", "", T.Add(30 * time.Minute), "e2", false},
		{"at the same time", "r", "", T, "e3", false},
		{"the first event again", "r", "", T, "e1", true},
		{"a window after it", "r", "", T.Add(time.Hour), "e4", true},
		{"within the window before a firing, arriving later", "r", "", T.Add(-30 * time.Minute), "e5", false},
		{"a window before it", "r", "", T.Add(-time.Hour), "e6", true},
		{"just inside the window after the last", "r", "", T.Add(2*time.Hour - time.Nanosecond), "e7", false},
		{"another key", "r", "k", T.Add(10 * time.Minute), "e8", true},
		{"another rule", "r2", "", T.Add(10 * time.Minute), "e9", true},
	}
	for _, s := range steps {
		update(t, st, func(tx *store.Tx) error {
			got, err := tx.Cooldown(ctx, s.rule, s.key, s.at, time.Hour, s.event)
			if got != s.want {
				t.Errorf("%s: Cooldown(%s, %q, %s, 1h, %s) = %v, want %v", s.name, s.rule, s.key, s.at.Sub(T), s.event, got, s.want)
			}
			return err
		})
	}
}

// job returns a job of rule r for event e, acting on target.
func job(r, e, target string) actions.Job {
	return actions.Job{
		Key:     r + "/0/" + e,
		Rule:    r,
		Action:  "log",
		Target:  target,
		Params:  json.RawMessage(`{"n":12345678901234567890}`),
		Retry:   "3x10ms",
		EventID: e,
		Event:   json.RawMessage(`{"id":"` + e + `"}`),
	}
}

// enqueue adds jobs to st and returns how many were new.
func enqueue(t *testing.T, st *store.Store, jobs ...actions.Job) int {
	t.Helper()
	var n int
	update(t, st, func(tx *store.Tx) error {
		var err error
		n, err = tx.Enqueue(context.Background(), jobs...)
		return err
	})
	return n
}

// woken reports whether st's Wake channel holds a signal, and takes it.
func woken(st *store.Store) bool {
	select {
	case <-st.Wake():
		return true
	default:
		return false
	}
}

func TestTxEnqueue(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	if woken(st) {
		t.Fatal("woken before anything was enqueued")
	}
	before := time.Now()
	if n := enqueue(t, st, job("r", "e1", "a"), job("r", "e2", "a")); n != 2 {
		t.Fatalf("Enqueue = %d, want 2", n)
	}
	if !woken(st) {
		t.Error("not woken after jobs were enqueued")
	}
	if n := enqueue(t, st, job("r", "e1", "a"), job("r", "e3", "b"), job("r", "e3", "b")); n != 1 {
		t.Fatalf("Enqueue of one old and one new job, the new one twice = %d, want 1", n)
	}
	if !woken(st) {
		t.Error("not woken after a job was enqueued")
	}
	if n := enqueue(t, st, job("r", "e1", "a")); n != 0 {
		t.Fatalf("Enqueue of an old job = %d, want 0", n)
	}
	if woken(st) {
		t.Error("woken by a commit that enqueued nothing")
	}
	if err := st.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.Enqueue(ctx, actions.Job{Rule: "r"})
		return err
	}); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Errorf("Enqueue of a job without a key = %v", err)
	}

	page, err := st.Jobs(ctx, store.JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 3 {
		t.Fatalf("%d jobs, want 3", len(page.Jobs))
	}
	got := page.Jobs[2].Job // oldest
	want := job("r", "e1", "a")
	want.ID, want.Status = got.ID, actions.Pending
	want.NextAt, want.Created, want.Updated = got.NextAt, got.Created, got.Updated
	if !jobsEqual(got, want) {
		t.Errorf("job = %+v\nwant %+v", got, want)
	}
	if got.NextAt.Before(before) || got.NextAt.After(time.Now()) || !got.Created.Equal(got.NextAt) {
		t.Errorf("NextAt %v, Created %v: want the time of Enqueue", got.NextAt, got.Created)
	}
}

// jobsEqual compares jobs, their JSON as text.
func jobsEqual(a, b actions.Job) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
