package suppress_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/suppress"
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
