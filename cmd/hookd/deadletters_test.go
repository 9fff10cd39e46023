package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/store"
)

// jobTargets is an Evaluator that enqueues one job per event, for the
// target it maps the event's id to.
type jobTargets map[string]string

func (jt jobTargets) Evaluate(ctx context.Context, tx *store.Tx, e event.Event) error {
	_, err := tx.Enqueue(ctx, actions.Job{
		Key: "notify/" + e.ID, Rule: "notify", Action: "http", Target: jt[e.ID],
		Params: json.RawMessage(`{}`), Retry: "3x1m", EventID: e.ID,
	})
	return err
}

// seedDeadLetters makes a store in a new data directory whose job 1
// (target 1) is dead, suspending target 1, whose job 2 (target 1) waits,
// and whose job 3 (target 2) is dead too.
func seedDeadLetters(t *testing.T) (data string) {
	t.Helper()
	ctx := context.Background()
	data = filepath.Join(t.TempDir(), "data")
	st := openDataStore(t, data)
	defer st.Close()
	pubsub := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, nil)
	defer pubsub.Close()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- st.Run(runCtx, pubsub, jobTargets{"e1": "http POST a", "e2": "http POST a", "e3": "log"})
	}()
	// One event at a time, so that job ids follow the events' order.
	for i, id := range []string{"e1", "e2", "e3"} {
		at := time.Date(2025, 3, 1, 12, i, 0, 0, time.UTC)
		e := event.Event{ID: id, Source: "mailjet", Provider: "mailjet", Type: "bounce", Time: at, Received: at,
			Email: "ann@a.com", Domain: "a.com", Data: json.RawMessage(`{}`)}
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		msg := message.NewMessage(watermill.NewUUID(), b)
		msg.Metadata.Set(eventlog.DedupKey, id)
		if err := pubsub.Publish(eventlog.TopicEvents, msg); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			page, err := st.Jobs(ctx, store.JobQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Jobs) == i+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d jobs enqueued, want %d", len(page.Jobs), i+1)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	claimed, err := st.Claim(ctx, "test", time.Now().Add(time.Millisecond), 10, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 2 || claimed[0].ID+claimed[1].ID != 4 {
		t.Fatalf("claimed %+v, want jobs 1 and 3", claimed)
	}
	for _, j := range claimed {
		if err := st.Finish(ctx, "test", []actions.Outcome{{ID: j.ID, Status: actions.Dead, Attempt: 1, Took: time.Second, Error: "503 Service Unavailable"}}); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// clock matches the times of the test run in the output.
var clock = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)

func TestDeadLettersCommand(t *testing.T) {
	data := seedDeadLetters(t)
	missing := filepath.Join(t.TempDir(), "none")
	// In order: retry and resume change what follows.
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "list", args: []string{"list"}},
		{name: "list_json", args: []string{"list", "--json", "--limit", "1"}},
		{name: "retry", args: []string{"retry", "1"}},
		{name: "retry_again", args: []string{"retry", "1"}, wantErr: "deadletters retry: no dead job 1 (hookd deadletters list shows them)"},
		{name: "retry_bad_id", args: []string{"retry", "one"}, wantErr: `deadletters retry: job id "one" is not a positive integer`},
		{name: "resume", args: []string{"resume", "1"}},
		{name: "resume_json", args: []string{"resume", "2", "--json"}},
		{name: "resume_unknown", args: []string{"resume", "9"}, wantErr: "deadletters resume: no target 9 (hookd deadletters list shows the targets of dead jobs)"},
		{name: "list_after", args: []string{"list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runHookd(t, append([]string{"deadletters", "--data", data}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Whole seconds keep the table's columns; fractions vary in length.
			stable := clock.ReplaceAllStringFunc(stdout, func(s string) string {
				if len(s) == len(time.RFC3339)-5 {
					return strings.Repeat("T", len(s))
				}
				return "TIME"
			})
			goldenText(t, filepath.Join("testdata", "deadletters", tt.name+".txt"), stable)
		})
	}
	if _, _, err := runHookd(t, "deadletters", "--data", missing, "retry", "1"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("retry on a missing data directory: err = %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("retry created the missing data directory")
	}
}
