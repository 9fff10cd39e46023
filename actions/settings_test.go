package actions_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
)

// TestRunnerSkip checks that an action that returns Skip ends its job
// done after one attempt, with the note recorded, and that Call carries
// the runner's settings.
func TestRunnerSkip(t *testing.T) {
	smtp := &actions.SMTP{Host: "mail.example.com"}
	var got *actions.SMTP
	kind := register(func(_ context.Context, call actions.Call) error {
		got = call.Settings.SMTP
		return actions.Skip("recipient %s is suppressed", "a@example.com")
	})
	q := newMemQueue()
	id := q.add(newJob(kind, "t", "e", "5x1ms"))
	run(t, q, actions.RunnerConfig{Poll: time.Hour, Settings: actions.Settings{SMTP: smtp}}, nil, nil)
	q.waitUntil(t, "the job is done", func() bool { return q.job(id).Status == actions.Done })
	q.mu.Lock()
	note := q.notes[id]
	q.mu.Unlock()
	if j := q.job(id); j.Attempts != 1 || note != "skipped: recipient a@example.com is suppressed" {
		t.Errorf("job: attempts %d, note %q", j.Attempts, note)
	}
	if got != smtp {
		t.Errorf("Call.Settings.SMTP = %v, want the runner's", got)
	}
}

func TestSkipNote(t *testing.T) {
	if _, ok := actions.SkipNote(errors.New("x")); ok {
		t.Error("a plain error is a skip")
	}
	note, ok := actions.SkipNote(actions.Permanent(actions.Skip("why")))
	if !ok || note != "skipped: why" {
		t.Errorf("SkipNote = %q, %v", note, ok)
	}
}
