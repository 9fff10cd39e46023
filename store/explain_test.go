package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

// explainer records the same outcomes for every event.
type explainer struct{ set *store.RuleSet }

func (x explainer) Evaluate(ctx context.Context, tx *store.Tx, e event.Event) error {
	return tx.Explain(ctx, x.set, []store.Outcome{
		{Rule: 0, Result: store.Fired},
		{Rule: 1, Result: store.NoMatch, Condition: 1, Detail: `count("x", "email", "1h") = 2`},
		{Rule: 2, Result: store.Held, Detail: "once key \"k\" fired before"},
		{Rule: 3, Result: store.Failed, Detail: "data: not an object"},
	})
}

// TestExplanation stores explanations through the projector, reads them
// back with the rule a guard left out, and deletes them with their events.
func TestExplanation(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	set := &store.RuleSet{ID: "set1", Rules: []store.RuleInfo{
		{Name: "a", Conditions: []string{"true"}},
		{Name: "b", Conditions: []string{`type == "open"`, `count("x", "email", "1h") > 2`}},
		{Name: "c", Conditions: []string{"true"}},
		{Name: "d", Conditions: []string{"data.x"}},
		{Name: "e", Types: []string{"bounce"}, Conditions: []string{`type == "bounce"`, "data.hard"}},
	}}
	old := ev(1, "open", "a@x.com", base)
	recent := ev(2, "open", "b@x.com", base.Add(48*time.Hour))
	stop := projectLog(t, st, explainer{set}, old, recent)("store")
	waitFor(t, "both events", func() bool { return st.ProjectorStats().Events == 2 })
	stop()

	x, err := st.Explanation(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := &store.Explanation{RuleSet: "set1", Rules: []store.RuleExplanation{
		{Rule: "a", Result: store.Fired},
		{Rule: "b", Result: store.NoMatch, Condition: `count("x", "email", "1h") > 2`, Saw: `count("x", "email", "1h") = 2`},
		{Rule: "c", Result: store.Held, Reason: `once key "k" fired before`},
		{Rule: "d", Result: store.Failed, Reason: "data: not an object"},
		{Rule: "e", Result: store.NoMatch, Condition: `type == "bounce"`, Saw: `type = "open"`},
	}}
	if !reflect.DeepEqual(x, want) {
		t.Errorf("Explanation = %+v\nwant %+v", x, want)
	}
	if _, err := st.Explanation(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Explanation of a missing event: %v", err)
	}

	if n, err := st.DeleteBefore(ctx, base.Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("DeleteBefore = %d, %v; want 1", n, err)
	}
	if _, err := st.Explanation(ctx, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Explanation of a deleted event: %v", err)
	}
	if x, err := st.Explanation(ctx, recent.ID); err != nil || x == nil {
		t.Errorf("Explanation of the kept event: %v, %v", x, err)
	}
	// The newest event is never deleted, whatever its age.
	if n, err := st.DeleteBefore(ctx, base.Add(100*time.Hour), 10); err != nil || n != 0 {
		t.Errorf("DeleteBefore of the newest event = %d, %v", n, err)
	}
}

// setPerEvent records with each event the rule set given for its id, as
// hookds of two versions would.
type setPerEvent map[string]*store.RuleSet

func (x setPerEvent) Evaluate(ctx context.Context, tx *store.Tx, e event.Event) error {
	return tx.Explain(ctx, x[e.ID], []store.Outcome{{Rule: 0, Result: store.NoMatch, Condition: 1, Detail: "!(data.unsub ?? false) = false"}})
}

// TestExplanationOlderText: a hookd that shows conditions as written
// describes a rule whose text an older one printed otherwise under
// another rule set; the explanations the older one stored read as they
// were, beside the new ones.
func TestExplanationOlderText(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	printed := &store.RuleSet{ID: "printed", Rules: []store.RuleInfo{
		{Name: "subscribed", Types: []string{"open"}, Conditions: []string{`type == "open"`, "!data.unsub ?? false"}},
	}}
	written := &store.RuleSet{ID: "written", Rules: []store.RuleInfo{
		{Name: "subscribed", Types: []string{"open"}, Conditions: []string{`type == "open"`, "!(data.unsub ?? false)"}},
	}}
	before := ev(1, "open", "a@x.com", base)
	after := ev(2, "open", "a@x.com", base.Add(time.Hour))
	stop := projectLog(t, st, setPerEvent{before.ID: printed, after.ID: written}, before, after)("store")
	waitFor(t, "both events", func() bool { return st.ProjectorStats().Events == 2 })
	stop()
	for _, tt := range []struct {
		id, set, cond string
	}{
		{before.ID, "printed", "!data.unsub ?? false"},
		{after.ID, "written", "!(data.unsub ?? false)"},
	} {
		x, err := st.Explanation(ctx, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		want := &store.Explanation{RuleSet: tt.set, Rules: []store.RuleExplanation{
			{Rule: "subscribed", Result: store.NoMatch, Condition: tt.cond, Saw: "!(data.unsub ?? false) = false"},
		}}
		if !reflect.DeepEqual(x, want) {
			t.Errorf("Explanation of %s = %+v\nwant %+v", tt.id, x, want)
		}
	}
}
