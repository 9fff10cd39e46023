package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

// TestDeleteBeforeFutureEvents checks that an event dated after now goes
// when it was received before the horizon, as the log's message it came
// in goes then too (hookd rebuild, which stores again what the log holds,
// refused to run once the log had lost the message of an event the store
// kept), and stays when it was received after it.
func TestDeleteBeforeFutureEvents(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	now := time.Now().UTC().Truncate(time.Second)
	before := now.Add(-90 * 24 * time.Hour)
	at := func(n int, time, received time.Time) event.Event {
		e := ev(n, "open", "a@example.com", time)
		e.Received = received
		return e
	}
	events := []event.Event{
		at(1, now.Add(365*24*time.Hour), before.Add(-time.Hour)), // received before the horizon, dated next year
		at(2, now.Add(365*24*time.Hour), before.Add(time.Hour)),  // received after it
		at(3, before.Add(-time.Hour), before.Add(-time.Hour)),    // old
		at(4, now, now), // recent
	}
	if err := st.Insert(ctx, events...); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := st.DeleteBefore(ctx, before, 10)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	for _, c := range []struct {
		e    event.Event
		kept bool
	}{{events[0], false}, {events[1], true}, {events[2], false}, {events[3], true}} {
		_, err := st.Event(ctx, c.e.ID)
		if kept := err == nil; kept != c.kept || (err != nil && !errors.Is(err, store.ErrNotFound)) {
			t.Errorf("event %s dated %s, received %s: kept %v (%v), want %v", c.e.ID, c.e.Time, c.e.Received, kept, err, c.kept)
		}
	}
	checkCounts(t, st, []event.Event{events[1], events[3]})
}

// TestDeleteBeforeJobs runs retention round after round on a store where
// every event fires an action at a target of its own, as the email action
// has one per recipient: the jobs done of the events it deletes go with
// their attempts and with the targets left without a job, so that the
// queue holds what the kept events made, however many rounds ran. Before,
// they stayed, each with a copy of its event: the jobs, their attempts and
// the targets grew by a row each for every action taken, for ever. Jobs
// still to run and dead letters stay whatever their age, with their
// targets.
func TestDeleteBeforeJobs(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	const rounds, perRound = 6, 10
	var keep []int64 // the jobs that must stay: pending and dead ones
	for r := range rounds {
		var events []event.Event
		var jobs []actions.Job
		for i := range perRound {
			e := ev(r*perRound+i, "open", fmt.Sprintf("u%d@example.com", r*perRound+i), base.Add(time.Duration(r)*time.Hour))
			events = append(events, e)
			jobs = append(jobs, job("r", e.ID, "email "+e.Email))
		}
		if err := st.Insert(ctx, events...); err != nil {
			t.Fatal(err)
		}
		enqueue(t, st, jobs...)
		claimed := claim(t, st, "me", time.Now().Add(time.Millisecond), perRound)
		if len(claimed) != perRound {
			t.Fatalf("round %d: claimed %d jobs, want %d", r, len(claimed), perRound)
		}
		for i, j := range claimed {
			o := actions.Outcome{ID: j.ID, Status: actions.Done, Took: time.Millisecond}
			switch i {
			case 0: // a dead letter: its target is suspended
				o.Status, o.Error = actions.Dead, "refused"
				keep = append(keep, j.ID)
			case 1: // failed once, to run again next year
				o.Status, o.Error, o.Next = actions.Pending, "busy", time.Now().Add(365*24*time.Hour)
				keep = append(keep, j.ID)
			}
			if err := finish(ctx, st, "me", o); err != nil {
				t.Fatal(err)
			}
		}
		// Every event is older than the horizon; the newest stays, as
		// does the newest job, which is a done one of it.
		before := time.Now().Add(time.Minute)
		for {
			n, err := st.DeleteBefore(ctx, before, 7)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
	}

	// The pending and dead jobs of every round, and the newest job; one
	// attempt each; their targets.
	want := int64(len(keep) + 1)
	for _, table := range []string{"jobs", "job_attempts", "targets"} {
		n, err := st.Rows(ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s: %d rows after %d rounds of %d jobs, want %d: the jobs to run, the dead letters and the newest job",
				table, n, rounds, perRound, want)
		}
	}
	for _, id := range keep {
		if _, err := st.Job(ctx, id); err != nil {
			t.Errorf("job %d, to run or dead: %v", id, err)
		}
	}
	targets, err := st.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	suspended := 0
	for _, tg := range targets {
		if tg.Suspended {
			suspended++
		}
	}
	if suspended != rounds {
		t.Errorf("%d targets suspended, want the %d of the dead letters", suspended, rounds)
	}
}

// TestDeleteFiringsBefore fires a rule with a cooldown for 10 keys a day,
// for 8 days, deleting after each day the firings older than two days ago,
// as retention does: the table holds 3 days of firings however many days
// ran (before, it grew by 10 rows a day for ever), and a firing that stays
// still holds back its key within the cooldown.
func TestDeleteFiringsBefore(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	const days, keys = 8, 10
	day := func(d int) time.Time { return base.Add(time.Duration(d) * 24 * time.Hour) }
	cooldown := func(key string, at time.Time, eventID string) bool {
		t.Helper()
		var ok bool
		update(t, st, func(tx *store.Tx) error {
			var err error
			ok, err = tx.Cooldown(ctx, "alert", key, at, time.Hour, eventID)
			return err
		})
		return ok
	}
	for d := range days {
		for k := range keys {
			if !cooldown(fmt.Sprintf("k%d", k), day(d), fmt.Sprintf("e%d-%d", d, k)) {
				t.Fatalf("day %d, key %d: held back, want fired", d, k)
			}
		}
		for {
			n, err := st.DeleteFiringsBefore(ctx, day(d-2), 7)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		n, err := st.Rows(ctx, "rule_firings")
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(min(d+1, 3) * keys); n != want {
			t.Fatalf("day %d: %d firings, want %d (the last 3 days')", d, n, want)
		}
	}
	for _, c := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"within the cooldown of a kept firing", day(days - 3).Add(30 * time.Minute), false},
		{"within the cooldown of a deleted one", day(0).Add(30 * time.Minute), true},
	} {
		if ok := cooldown("k0", c.at, "late-"+c.name); ok != c.ok {
			t.Errorf("%s: fired %v, want %v", c.name, ok, c.ok)
		}
	}
}
