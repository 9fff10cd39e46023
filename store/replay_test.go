package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

// enqueuer is an Evaluator that enqueues, for every event, a job of each of
// its actions at its index. An action is written "kind" or "kind:p", whose
// parameters are {"p":p} (default 1), as a template edit changes them; its
// target is its kind.
type enqueuer []string

func (en enqueuer) Evaluate(ctx context.Context, tx *store.Tx, e event.Event) error {
	jobs := make([]actions.Job, len(en))
	for i, a := range en {
		kind, p, ok := strings.Cut(a, ":")
		if !ok {
			p = "1"
		}
		jobs[i] = actions.Job{Key: "r/" + string(rune('0'+i)) + "/" + e.ID, Rule: "r", Index: i, Action: kind, Target: kind,
			Params: []byte(`{"p":` + p + `}`), EventID: e.ID, Event: []byte(`{}`)}
	}
	_, err := tx.Enqueue(ctx, jobs...)
	return err
}

// onceKeyed enqueues an http job for every event under a once key made of
// its prefix and the event's email, as a rule with once does.
type onceKeyed string

func (k onceKeyed) Evaluate(ctx context.Context, tx *store.Tx, e event.Event) error {
	_, err := tx.Enqueue(ctx, actions.Job{Key: "r/0/once:" + string(k) + e.Email, Rule: "r", Action: "http", Target: "http",
		Params: []byte(`{"p":1}`), EventID: e.ID, Event: []byte(`{}`)})
	return err
}

// TestReplayMovedActions replays events after the rule's actions moved:
// a job whose action and target already have one for the event at another
// index is not queued (Moved), whatever its parameters, nor one whose key
// another action holds (Taken), nor one whose key changed with the rule's
// once. A rule that holds the same action twice queues both on a first
// replay, and a second one added later once.
func TestReplayMovedActions(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := st.Insert(ctx, ev(1, "bounce", "a@x.com", at)); err != nil {
		t.Fatal(err)
	}
	keys := func(jobs []actions.Job) []string {
		var out []string
		for _, j := range jobs {
			out = append(out, j.Key)
		}
		return out
	}
	id := ev(1, "bounce", "a@x.com", at).ID
	for _, tc := range []struct {
		name               string
		actions            enqueuer
		jobs, moved, taken []string
	}{
		{name: "first", actions: enqueuer{"http"}, jobs: []string{"r/0/" + id}},
		{name: "an action inserted before", actions: enqueuer{"log", "http"},
			moved: []string{"r/1/" + id}, taken: []string{"r/0/" + id}},
		{name: "appended after", actions: enqueuer{"http", "log"}, jobs: []string{"r/1/" + id}},
		{name: "the same again", actions: enqueuer{"http", "log"}},
		// Templates edited: the http job at its index is the same job;
		// the log job moved to a new index with new parameters.
		{name: "edited, and an action inserted before the edited log", actions: enqueuer{"http:2", "suppress", "log:2"},
			moved: []string{"r/2/" + id}, taken: []string{"r/1/" + id}},
		{name: "a second http appended", actions: enqueuer{"http:2", "suppress", "log:2", "http:3"},
			jobs: []string{"r/3/" + id}, moved: []string{"r/2/" + id}, taken: []string{"r/1/" + id}},
		{name: "the first http removed", actions: enqueuer{"suppress", "log:2", "http:3"},
			moved: []string{"r/2/" + id}, taken: []string{"r/0/" + id}},
		{name: "four http", actions: enqueuer{"http", "http", "http", "http"},
			jobs: []string{"r/2/" + id}, taken: []string{"r/1/" + id}},
	} {
		res, err := st.Replay(ctx, store.ReplayQuery{Since: at.Add(-time.Hour)}, tc.actions)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keys(res.Jobs), tc.jobs) || !slices.Equal(keys(res.Moved), tc.moved) || !slices.Equal(keys(res.Taken), tc.taken) {
			t.Errorf("%s: jobs %v, moved %v, taken %v; want %v, %v, %v", tc.name,
				keys(res.Jobs), keys(res.Moved), keys(res.Taken), tc.jobs, tc.moved, tc.taken)
		}
	}

	// The rule gains a once, then changes it: its key moves, and the
	// event's http job already ran.
	first := store.ReplayQuery{Since: at.Add(-time.Hour), Until: at.Add(time.Second)}
	for _, k := range []onceKeyed{"", "spring/"} {
		res, err := st.Replay(ctx, first, k)
		if want := []string{"r/0/once:" + string(k) + "a@x.com"}; err != nil || res.Jobs != nil || !slices.Equal(keys(res.Moved), want) {
			t.Errorf("once %q: jobs %v, moved %v, %v; want moved %v", k, keys(res.Jobs), keys(res.Moved), err, want)
		}
	}

	// The same action twice, on an event no replay saw: both run, and a
	// second replay finds nothing moved.
	q := store.ReplayQuery{Since: at.Add(time.Minute)}
	twice := enqueuer{"http", "http"}
	if err := st.Insert(ctx, ev(2, "bounce", "b@x.com", q.Since)); err != nil {
		t.Fatal(err)
	}
	id2 := ev(2, "bounce", "b@x.com", q.Since).ID
	res, err := st.Replay(ctx, q, twice)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"r/0/" + id2, "r/1/" + id2}; !slices.Equal(keys(res.Jobs), want) || res.Moved != nil || res.Taken != nil {
		t.Errorf("the same action twice: jobs %v, moved %v, taken %v; want %v and none", keys(res.Jobs), keys(res.Moved), keys(res.Taken), want)
	}
	if res, err = st.Replay(ctx, q, twice); err != nil || res.Jobs != nil || res.Moved != nil || res.Taken != nil {
		t.Errorf("the same action twice, again: jobs %v, moved %v, taken %v, %v; want none", keys(res.Jobs), keys(res.Moved), keys(res.Taken), err)
	}
}
