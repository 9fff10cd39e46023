package rules

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
)

// oneEvent is a State whose every last returns e.
type oneEvent struct{ e *event.Event }

func (s oneEvent) Last(context.Context, event.Event, string, string) (*event.Event, error) {
	return s.e, nil
}

func (oneEvent) Count(context.Context, event.Event, string, string, time.Duration) (int, error) {
	return 0, nil
}

// TestPriorData checks which rules may read the data of an event last
// returns, that its data is then decoded and otherwise not, and that data
// that would not decode fails the evaluation either way, as it did when
// every prior was decoded.
func TestPriorData(t *testing.T) {
	for _, tc := range []struct {
		name, when string
		reads      bool
	}{
		{"nil test and field", `last("sent", "email") != nil && last("sent", "email").campaign == "x"`, false},
		{"nil on the left", `nil != last("sent", "email")`, false},
		{"optional field", `since(last("sent", "email")?.time) > duration("1h")`, false},
		{"no last", `count("sent", "email", "1h") > 0 && data.x == 1`, false},
		{"data field", `last("sent", "email").data.x == 1`, true},
		{"optional data", `last("sent", "email")?.data?.x == 1`, true},
		{"data by index", `last("sent", "email")["data"] != nil`, true},
		{"whole event", `toJSON(last("sent", "email")) != ""`, true},
		{"compared with another", `last("sent", "email") == last("open", "email")`, true},
		{"data of another pair", `last("open", "email").data.x == 1 && last("sent", "email") != nil`, false},
		{"pair not literal", `last(type, "email").data.x == 1 && last("sent", "email") != nil`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "rules.yaml")
			text := "rules:\n  - name: r\n    when: '" + tc.when + "'\n    actions: [ log: {} ]\n"
			if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			set, err := Load(context.Background(), []string{file}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if reads := set.priorData == nil || set.priorData[[2]string{"sent", "email"}]; reads != tc.reads {
				t.Fatalf("reads prior data = %v (%v), want %v", reads, set.priorData, tc.reads)
			}
			e := event.Event{ID: "now", Type: "open", Email: "a@b.example", Time: time.Unix(100, 0), Data: json.RawMessage(`{}`)}
			for _, d := range []struct {
				data    string
				wantErr bool
			}{{`{"x": 1}`, false}, {` {"x": [1, {"y": 2}]}`, false}, {`[1]`, true}, {`{"x":`, true}} {
				// A new id each time: the evaluation keeps decoded data by id.
				prior := &event.Event{ID: tc.name + d.data, Type: "sent", Email: e.Email, Time: time.Unix(50, 0), Data: json.RawMessage(d.data)}
				ev := evaluations.Get().(*evaluation)
				ev.bind(context.Background(), &e, oneEvent{prior}, allNames)
				ev.priorData = set.priorData
				p, err := ev.last(context.Background(), "sent", "email")
				ev.release()
				if (err != nil) != d.wantErr || err != nil && !strings.Contains(err.Error(), "decode data") {
					t.Fatalf("data %s: last failed with %v, want failure %v", d.data, err, d.wantErr)
				}
				if err == nil && (p.Data != nil) != tc.reads {
					t.Errorf("data %s: decoded %v, want decoded %v", d.data, p.Data, tc.reads)
				}
			}
		})
	}
}

// TestNames checks which of the event's names in the environment a set's
// rules read, which are the only ones an evaluation binds.
func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name, when string
		want       []string
	}{
		{"fields", `type == "open" && email == "a@b.example"`, []string{"type", "email"}},
		{"in a closure", `any(["a"], {# == domain}) && time > date("2020-01-01")`, []string{"time", "domain"}},
		{"let", `let c = campaign; c == "x"`, []string{"campaign"}},
		{"state only", `count("sent", "email", "1h") > 0`, nil},
		{"whole environment", `$env.email == "a"`, []string{"id", "source", "provider", "type", "time", "email",
			"domain", "message_id", "campaign", "category", "bounce_class"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "rules.yaml")
			text := "rules:\n  - name: r\n    when: '" + tc.when + "'\n    actions: [ log: {} ]\n"
			if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			set, err := Load(context.Background(), []string{file}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var want names
			for _, n := range tc.want {
				for i, en := range eventNames {
					if en.name == n {
						want |= 1 << i
					}
				}
			}
			if set.names != want {
				t.Errorf("names = %b, want %b", set.names, want)
			}
		})
	}
}
