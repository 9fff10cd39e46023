package suppress_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/suppress"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/rules"
	"github.com/hookd/hookd/store"
)

func TestDo(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kind, err := actions.Lookup(suppress.Name)
	if err != nil {
		t.Fatal(err)
	}
	call := func(params map[string]any, event string) error {
		return kind.Action().Do(ctx, actions.Call{Key: "k", Rule: "clean", EventID: "ev1", Params: params,
			Event: json.RawMessage(event), Settings: actions.Settings{Suppressions: st}})
	}
	// Twice, as a retried job would: the first reason stays.
	for _, reason := range []string{"user unknown", "again"} {
		if err := call(map[string]any{"reason": reason}, `{"email":"Bob@Example.com"}`); err != nil {
			t.Fatal(err)
		}
	}
	if err := call(map[string]any{"email": "ann@example.com"}, `{"email":"bob@example.com"}`); err != nil {
		t.Fatal(err)
	}
	page, err := st.Suppressions(ctx, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range page.Suppressions {
		got[s.Email] = s.Reason + "|" + s.Rule + "|" + s.EventID
	}
	want := map[string]string{"bob@example.com": "user unknown|clean|ev1", "ann@example.com": "suppressed by rule clean|clean|ev1"}
	if len(got) != len(want) || got["bob@example.com"] != want["bob@example.com"] || got["ann@example.com"] != want["ann@example.com"] {
		t.Errorf("suppressions = %v, want %v", got, want)
	}
	if err := kind.Action().Do(ctx, actions.Call{Params: map[string]any{}, Event: json.RawMessage(`{"email":"x@example.com"}`)}); !actions.IsPermanent(err) {
		t.Errorf("without a store: %v, want a permanent error", err)
	}
}

// TestRuleAddressFromEvent renders a rule that suppresses an address from
// the event's data: one longer than an address may be, which a sender can
// make kilobytes long, fails the rule on that event and makes no job. On
// PostgreSQL such an address passed the index entry limit of the
// suppression list: its job failed on every attempt, was dead-lettered
// and suspended the target "suppress", which every event's suppression
// shares, so that no address was suppressed until an operator resumed it.
func TestRuleAddressFromEvent(t *testing.T) {
	dir := t.TempDir()
	src := `rules:
  - name: clean
    when: type == "bounce"
    actions:
      - suppress: { email: "{{ .data.recipient }}" }
`
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{"rules.yaml"}, rules.Options{Dir: dir, Action: actions.Validate, Check: actions.CheckerOf})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, recipient string
		wantErr         string // "": a job is made
	}{
		{name: "an address", recipient: "bob@example.com"},
		{name: "kilobytes long", recipient: strings.Repeat("b", 3000) + "@example.com", wantErr: "email: an address of 3012 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(map[string]string{"event": "bounce", "recipient": tt.recipient})
			if err != nil {
				t.Fatal(err)
			}
			e := event.Event{ID: "generic:app:1", Source: "app", Provider: "generic", Type: "bounce",
				Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Data: data}
			matches, err := set.Eval(context.Background(), e, nil)
			if err != nil || len(matches) != 1 {
				t.Fatalf("Eval: %v %+v", err, matches)
			}
			m := matches[0]
			if tt.wantErr == "" {
				if m.Err != nil || len(m.Actions) != 1 {
					t.Fatalf("rule error %v, %d actions; want one job", m.Err, len(m.Actions))
				}
				return
			}
			if m.Err == nil || !strings.Contains(m.Err.Error(), tt.wantErr) || len(m.Actions) != 0 {
				t.Fatalf("rule error %v, %d actions; want no job and an error containing %q", m.Err, len(m.Actions), tt.wantErr)
			}
		})
	}
}
