package rules_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener/mailjet"
	"github.com/hookd/hookd/rules"
)

// sentAt is the time of testdata/mailjet/sent.json, in unix seconds.
const sentAt = 1433333949

// messageID is the MessageID of testdata/mailjet/sent.json.
const messageID = json.Number("19421777835146490")

// mj returns the event that Mailjet's sample testdata/mailjet/NAME.json
// decodes to, after replacing the given fields of its JSON object.
func mj(t testing.TB, name string, set map[string]any) event.Event {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "mailjet", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		if obj[k], err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	body, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	events, err := mailjet.Decode(body)
	if err != nil || len(events) != 1 {
		t.Fatalf("decode %s: %v, %d events", name, err, len(events))
	}
	e := events[0]
	e.Source, e.Received = "mailjet", e.Time
	return e
}

// memLog is a test double of the store for last and count: the event log in
// order, answering as State documents.
type memLog []event.Event

// earlier returns the events before e in the log that are not later than e
// in provider time.
func (l memLog) earlier(e event.Event) []event.Event {
	var out []event.Event
	for _, x := range l {
		if x.ID == e.ID {
			break
		}
		if !x.Time.After(e.Time) {
			out = append(out, x)
		}
	}
	return out
}

func (l memLog) Last(_ context.Context, e event.Event, typ, field string) (*event.Event, error) {
	var last *event.Event
	for _, x := range l.earlier(e) {
		if x.Type == typ && value(x, field) == value(e, field) && (last == nil || !x.Time.Before(last.Time)) {
			last = &x
		}
	}
	return last, nil
}

func (l memLog) Count(_ context.Context, e event.Event, typ, field string, window time.Duration) (int, error) {
	n := 0
	for _, x := range l.earlier(e) {
		if x.Type == typ && value(x, field) == value(e, field) && x.Time.After(e.Time.Add(-window)) {
			n++
		}
	}
	return n, nil
}

func value(e event.Event, field string) string {
	return map[string]string{"email": e.Email, "domain": e.Domain, "message_id": e.MessageID, "campaign": e.Campaign, "source": e.Source}[field]
}

// fired returns "rule" or "rule/key" for each match, failing on errors.
func fired(t *testing.T, matches []rules.Match) []string {
	t.Helper()
	var got []string
	for _, m := range matches {
		if m.Err != nil {
			t.Errorf("rule %s failed: %v", m.Rule.Name, m.Err)
			continue
		}
		s := m.Rule.Name
		if m.Key != "" {
			s += "/" + m.Key
		}
		got = append(got, s)
	}
	return got
}

func TestEval(t *testing.T) {
	set := load(t)
	sent := func(email string, at int64) event.Event {
		return mj(t, "sent", map[string]any{"email": email, "time": at})
	}
	open := func(msg json.Number, at int64) event.Event {
		return mj(t, "open", map[string]any{"MessageID": msg, "mj_campaign_id": 7257, "time": at})
	}
	blocked := func(email string, at int64) event.Event {
		return mj(t, "blocked", map[string]any{"email": email, "time": at})
	}
	me := "api@mailjet.com"
	tests := []struct {
		name string
		log  memLog
		at   int // index in log of the event evaluated
		want []string
	}{
		{
			name: "open within a day of its send",
			log:  memLog{sent(me, sentAt), open(messageID, sentAt+3600)},
			at:   1,
			want: []string{"discount-for-early-openers/api@mailjet.com/7257", "any-event"},
		},
		{
			name: "open more than a day after its send",
			log:  memLog{sent(me, sentAt), open(messageID, sentAt+25*3600)},
			at:   1,
			want: []string{"any-event"},
		},
		{
			name: "open of another message",
			log:  memLog{sent(me, sentAt), open("19421777396190490", sentAt+3600)},
			at:   1,
			want: []string{"any-event"},
		},
		{
			name: "a send later in the log is invisible",
			log:  memLog{open(messageID, sentAt+3600), sent(me, sentAt)},
			at:   0,
			want: []string{"any-event"},
		},
		{
			name: "a send earlier in the log but later in time is invisible",
			log:  memLog{sent(me, sentAt+7200), open(messageID, sentAt+3600)},
			at:   1,
			want: []string{"any-event"},
		},
		{
			name: "the latest of two sends counts",
			log:  memLog{sent(me, sentAt-48*3600), sent(me, sentAt), open(messageID, sentAt+3600)},
			at:   2,
			want: []string{"discount-for-early-openers/api@mailjet.com/7257", "any-event"},
		},
		{
			name: "third block of three sends is a surge",
			log: memLog{
				sent("a@example.com", sentAt), sent("b@example.com", sentAt), sent("c@example.com", sentAt),
				blocked("d@example.com", sentAt+60), blocked("e@example.com", sentAt+120), blocked("f@example.com", sentAt+180),
			},
			at:   5,
			want: []string{"blocked-surge", "any-event"},
		},
		{
			name: "second block of three sends is not",
			log: memLog{
				sent("a@example.com", sentAt), sent("b@example.com", sentAt), sent("c@example.com", sentAt),
				blocked("d@example.com", sentAt+60), blocked("e@example.com", sentAt+120), blocked("f@example.com", sentAt+180),
			},
			at:   4,
			want: []string{"any-event"},
		},
		{
			name: "blocks outside the window do not count",
			log: memLog{
				blocked("d@example.com", sentAt-20*60), blocked("e@example.com", sentAt-19*60),
				sent("a@example.com", sentAt), sent("b@example.com", sentAt), sent("c@example.com", sentAt),
				blocked("f@example.com", sentAt+60),
			},
			at:   5,
			want: []string{"any-event"},
		},
		{
			name: "blocks of another domain do not count",
			log: memLog{
				sent("a@example.com", sentAt),
				blocked("d@example.org", sentAt+60), blocked("e@example.org", sentAt+120),
				blocked("f@example.com", sentAt+180),
			},
			at:   3,
			want: []string{"any-event"},
		},
		{
			name: "hard bounce",
			log:  memLog{mj(t, "bounce", nil)},
			want: []string{"clean-hard-bounces", "any-event"},
		},
		{
			name: "soft bounce",
			log:  memLog{mj(t, "bounce", map[string]any{"hard_bounce": false})},
			want: []string{"any-event"},
		},
		{
			name: "click on an https link",
			log:  memLog{mj(t, "click", nil)},
			want: []string{"click-log", "any-event"},
		},
		{
			name: "click on an http link",
			log:  memLog{mj(t, "click", map[string]any{"url": "http://example.com"})},
			want: []string{"any-event"},
		},
		{
			name: "unsub",
			log:  memLog{mj(t, "unsub", nil)},
			want: []string{"left/left/api@mailjet.com", "any-event"},
		},
		{
			name: "spam",
			log:  memLog{mj(t, "spam", nil)},
			want: []string{"left/left/bounce@mailjet.com", "any-event"},
		},
		{
			name: "another CustomID",
			log:  memLog{mj(t, "sent", map[string]any{"CustomID": "other"})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			matches, err := set.Eval(context.Background(), tt.log[tt.at], tt.log)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got := fired(t, matches); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("fired %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEvalRenders(t *testing.T) {
	set := load(t)
	alert := "https://alerts.example.com/hook"
	tests := []struct {
		name   string
		e      event.Event
		before memLog                      // the log before e
		want   map[string][]map[string]any // rule → rendered params of its actions
	}{
		{
			name: "click",
			e:    mj(t, "click", nil),
			want: map[string][]map[string]any{
				"click-log": {{
					"message": "api@mailjet.com clicked https://mailjet.com at 2015-06-03T12:30:53Z (1433334653)",
					"level":   "info",
					"tags":    []any{"click", "7272", uint64(7)},
					"sampled": true,
					"weight":  1.5,
					"none":    nil,
				}},
				"any-event": {{"message": "click mailjet mailjet https://mailjet.com"}},
			},
		},
		{
			// 19421777835146491 has no float64 of its own.
			name: "unsub with a MessageID beyond 2^53",
			e:    mj(t, "unsub", map[string]any{"MessageID": json.Number("19421777835146491")}),
			want: map[string][]map[string]any{
				"left": {{
					"message": "api@mailjet.com left (unsub, message 19421777835146491, list 1)",
					"level":   "info",
					"tags":    []any{"click", "7276", uint64(7)},
					"sampled": true,
					"weight":  1.5,
					"none":    nil,
				}},
				"any-event": {{"message": "unsub mailjet mailjet "}},
			},
		},
		{
			name: "spam, which has no list",
			e:    mj(t, "spam", nil),
			want: map[string][]map[string]any{
				"left": {{
					"message": "bounce@mailjet.com left (spam, message 13792286917004336)",
					"level":   "info",
					"tags":    []any{"click", "1234", uint64(7)},
					"sampled": true,
					"weight":  1.5,
					"none":    nil,
				}},
				"any-event": {{"message": "spam mailjet mailjet "}},
			},
		},
		{
			name: "hard bounce",
			e:    mj(t, "bounce", nil),
			want: map[string][]map[string]any{
				"clean-hard-bounces": {{"list_id": uint64(42)}, {"reason": "user unknown"}},
				"any-event":          {{"message": "bounce mailjet mailjet "}},
			},
		},
		{
			name:   "blocked",
			e:      mj(t, "blocked", nil),
			before: memLog{mj(t, "blocked", map[string]any{"time": 1430812195 - 60})},
			want: map[string][]map[string]any{
				"blocked-surge": {{"url": alert, "body": `{"text":"mailjet.com is blocking us"}`}},
				"any-event":     {{"message": "blocked mailjet mailjet "}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			matches, err := set.Eval(context.Background(), tt.e, append(tt.before, tt.e))
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			got := map[string][]map[string]any{}
			for _, m := range matches {
				if m.Err != nil {
					t.Fatalf("rule %s failed: %v", m.Rule.Name, m.Err)
				}
				for i, a := range m.Actions {
					if a.Action != m.Rule.Actions[i] {
						t.Errorf("rule %s: action %d is not the rule's", m.Rule.Name, i)
					}
					got[m.Rule.Name] = append(got[m.Rule.Name], a.Params)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rendered\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

// TestEvalFailures checks that a rule failing on an event is reported in
// its Match, located, and does not keep the other rules from matching.
func TestEvalFailures(t *testing.T) {
	set, err := rules.Load(context.Background(), []string{"testdata/eval/failing.yaml"}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("testdata", "eval", "failing.yaml")
	open := mj(t, "open", map[string]any{"n": 7})
	matches, err := set.Eval(context.Background(), open, memLog{open})
	if err != nil {
		t.Fatalf("Eval: %v", err)
	}
	want := []struct {
		rule, err string
	}{
		{"unguarded-last", file + `:4:62: rule "unguarded-last": when: cannot read a field of nil: last found no event (test it with != nil, or read the field with ?.)` +
			"\n | type == \"open\" && since(last(\"sent\", \"message_id\").time) < duration(\"1h\")\n | ...................................................^"},
		{"once-nil", file + `:9:11: rule "once-nil": once: once gave nil, want a non-empty string` + "\n | data.nope\n | ^"},
		{"missing-key", file + `:20:30: rule "missing-key": actions[1].http.body: <.data.nope>: map has no entry for key "nope"`},
		{"window-from-data", file + `:22:29: rule "window-from-data": when: count: its window is nil, want a string` +
			"\n | type == \"open\" && count(\"sent\", \"email\", data.nope) == 0\n | ..................^"},
		{"type-from-data", file + `:26:29: rule "type-from-data": when: last: its type is int, want a string` +
			"\n | type == \"open\" && last(data.n, \"email\") == nil\n | ..................^"},
		{"healthy", ""},
	}
	if len(matches) != len(want) {
		t.Fatalf("%d matches, want %d: %+v", len(matches), len(want), matches)
	}
	for i, m := range matches {
		if m.Rule.Name != want[i].rule {
			t.Errorf("match %d is rule %s, want %s", i, m.Rule.Name, want[i].rule)
			continue
		}
		if want[i].err == "" {
			if m.Err != nil || len(m.Actions) != 1 || m.Actions[0].Params["message"] != "api@mailjet.com opened" {
				t.Errorf("rule %s: %+v", m.Rule.Name, m)
			}
			continue
		}
		var re *rules.Error
		if !errors.As(m.Err, &re) || re.Rule != m.Rule.Name {
			t.Errorf("rule %s: error %T %v is not a *rules.Error of the rule", m.Rule.Name, m.Err, m.Err)
		}
		if m.Err == nil || m.Err.Error() != want[i].err {
			t.Errorf("rule %s failed with\n%v\nwant\n%s", m.Rule.Name, m.Err, want[i].err)
		}
		if m.Key != "" || m.Actions != nil {
			t.Errorf("rule %s failed but has key %q and actions %v", m.Rule.Name, m.Key, m.Actions)
		}
	}
}

// failingState fails every call.
type failingState struct{}

var errStore = errors.New("store unavailable")

func (failingState) Last(context.Context, event.Event, string, string) (*event.Event, error) {
	return nil, errStore
}

func (failingState) Count(context.Context, event.Event, string, string, time.Duration) (int, error) {
	return 0, errStore
}

// TestEvalStateFails checks that a failure to answer last or count fails
// the whole evaluation, so that the caller tries again, rather than making
// a rule false.
func TestEvalStateFails(t *testing.T) {
	set := load(t)
	tests := []struct {
		name    string
		e       event.Event
		st      rules.State
		wantErr error
	}{
		{name: "last", e: mj(t, "open", nil), st: failingState{}, wantErr: errStore},
		{name: "count", e: mj(t, "blocked", nil), st: failingState{}, wantErr: errStore},
		{name: "no state", e: mj(t, "open", nil), st: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			matches, err := set.Eval(context.Background(), tt.e, tt.st)
			if err == nil || matches != nil {
				t.Fatalf("Eval = %v, %v; want an error", matches, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Eval error %v does not wrap %v", err, tt.wantErr)
			}
		})
	}
	// An event no stateful rule can match needs no state.
	if _, err := set.Eval(context.Background(), mj(t, "click", nil), failingState{}); err != nil {
		t.Errorf("Eval of a click with a failing state: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := set.Eval(ctx, mj(t, "click", nil), memLog{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Eval with a canceled context: %v", err)
	}
}

// countingState counts the calls to a State.
type countingState struct {
	rules.State
	calls atomic.Int64
}

func (s *countingState) Last(ctx context.Context, e event.Event, typ, field string) (*event.Event, error) {
	s.calls.Add(1)
	return s.State.Last(ctx, e, typ, field)
}

func (s *countingState) Count(ctx context.Context, e event.Event, typ, field string, window time.Duration) (int, error) {
	s.calls.Add(1)
	return s.State.Count(ctx, e, typ, field, window)
}

// TestEvalStateCalls checks that one evaluation asks the state each
// question once, and never for an empty value.
func TestEvalStateCalls(t *testing.T) {
	set := load(t)
	tests := []struct {
		name string
		e    event.Event
		want int64
	}{
		// discount-for-early-openers calls last("sent", "message_id")
		// twice.
		{name: "open", e: mj(t, "open", nil), want: 1},
		// blocked-surge counts blocked and sent.
		{name: "blocked", e: mj(t, "blocked", nil), want: 2},
		{name: "open of no message", e: mj(t, "open", map[string]any{"MessageID": nil}), want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &countingState{State: memLog{}}
			if _, err := set.Eval(context.Background(), tt.e, st); err != nil {
				t.Fatal(err)
			}
			if got := st.calls.Load(); got != tt.want {
				t.Errorf("%d calls to the state, want %d", got, tt.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	set := load(t)
	e := mj(t, "click", nil)
	matches, err := set.Explain(context.Background(), e, memLog{e})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range matches {
		if m.Err != nil {
			t.Errorf("rule %s failed: %v", m.Rule.Name, m.Err)
		}
		got = append(got, m.Rule.Name+": "+m.Why)
	}
	want := []string{
		`discount-for-early-openers: type == "open" is false: type = "click"`,
		`clean-hard-bounces: type == "bounce" is false: type = "click"`,
		`blocked-surge: type == "blocked" is false: type = "click"`,
		"click-log: ",
		`left: type in ["unsub", "spam"] is false: type = "click"`,
		"any-event: ",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Explain:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEvalBadData checks that an event whose data is not a JSON object
// fails the rules that read data, and only those.
func TestEvalBadData(t *testing.T) {
	set, err := rules.Load(context.Background(), []string{"testdata/eval/failing.yaml"}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, data, wantErr string
	}{
		{"not an object", `[1, 2]`, "decode data"},
		{"none", ``, `map has no entry for key "url"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := mj(t, "click", nil)
			e.Data = json.RawMessage(tt.data)
			matches, err := set.Eval(context.Background(), e, memLog{e})
			if err != nil {
				t.Fatal(err)
			}
			if len(matches) != 2 || matches[0].Rule.Name != "clicked-once" || matches[0].Err != nil || matches[0].Key != "api@mailjet.com" ||
				matches[1].Rule.Name != "click-url" || matches[1].Err == nil || !strings.Contains(matches[1].Err.Error(), tt.wantErr) {
				t.Errorf("Eval = %+v, want clicked-once firing and click-url failing with %q", matches, tt.wantErr)
			}
		})
	}
}

// TestEvalConcurrent evaluates from several goroutines at once; run with
// -race.
func TestEvalConcurrent(t *testing.T) {
	set := load(t)
	log := memLog{
		mj(t, "sent", nil), mj(t, "open", map[string]any{"MessageID": messageID, "mj_campaign_id": 7257, "time": sentAt + 60}),
		mj(t, "click", nil), mj(t, "blocked", nil), mj(t, "bounce", nil), mj(t, "unsub", nil),
	}
	want := make([][]string, len(log))
	for i, e := range log {
		matches, err := set.Eval(context.Background(), e, log)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = fired(t, matches)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				for i, e := range log {
					matches, err := set.Eval(context.Background(), e, log)
					if err != nil {
						t.Error(err)
						return
					}
					if got := fired(t, matches); !reflect.DeepEqual(got, want[i]) {
						t.Errorf("event %d fired %q, want %q", i, got, want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestEvalGuards checks that rules guarded on the event's type, in each
// form the Set recognises, decide on the rest of their when exactly as the
// whole expression would.
func TestEvalGuards(t *testing.T) {
	src := `rules:
  - name: plain
    when: type == "open" && email == "api@mailjet.com"
  - name: reversed
    when: '"open" == type and email endsWith "@mailjet.com"'
  - name: chain
    when: type == "open" && email != "" && campaign == "x"
  - name: either
    when: (type == "open" || type == "click") && domain == "mailjet.com"
  - name: in-list
    when: type in ["click", "open"] && !(email startsWith "api")
  - name: nested
    when: (type == "open" && email == "api@mailjet.com") && (campaign == "" || true)
  - name: other-type
    when: type == "click" && true
`
	src = strings.ReplaceAll(src, "\n    when:", "\n    actions:\n      - log: { message: \"m\" }\n    when:")
	path := filepath.Join(t.TempDir(), "guards.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{path}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		e    event.Event
		want []string
	}{
		{"open from api", mj(t, "open", nil), []string{"plain", "reversed", "either", "nested"}},
		{"open from someone else", mj(t, "open", map[string]any{"email": "bob@example.com"}), []string{"in-list"}},
		{"click from api", mj(t, "click", nil), []string{"either", "other-type"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			matches, err := set.Eval(context.Background(), tc.e, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range matches {
				if m.Err != nil {
					t.Fatalf("rule %s: %v", m.Rule.Name, m.Err)
				}
				got = append(got, m.Rule.Name)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("matched %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEvalFieldGuards checks that the rules the Set skips by their field
// guards are exactly rules that would not have matched, nor failed: on
// every event, Eval returns what Explain, which runs every rule, finds
// matching or failing.
func TestEvalFieldGuards(t *testing.T) {
	src := `rules:
  - name: domain
    when: type == "open" && domain == "mailjet.com"
  - name: domain-reversed
    when: '"mailjet.com" == domain'
  - name: campaign-either
    when: (campaign == "spring" || campaign == "7173") && type == "open"
  - name: email-in
    when: email in ["api@mailjet.com", "bob@example.com"] && true
  - name: message-after-type-list
    when: type in ["open", "click"] && message_id == "19421777396190490" && email != ""
  - name: guard-then-failure
    when: domain == "mailjet.com" && data.nothing.here == 1
  - name: failure-then-field
    when: data.nothing.here == 1 && domain == "example.com"
  - name: mixed-or
    when: (domain == "mailjet.com" || campaign == "x") && true
  - name: source
    when: source == "mailjet" and provider == "mailjet"
  - name: not-a-guard
    when: domain != "mailjet.com"
  - name: id
    when: id == "nope"
`
	src = strings.ReplaceAll(src, "\n    when:", "\n    actions:\n      - log: { message: \"m\" }\n    when:")
	path := filepath.Join(t.TempDir(), "fields.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{path}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []rules.Match) []string {
		out := []string{}
		for _, m := range ms {
			if m.Why == "" {
				out = append(out, m.Rule.Name)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		e    event.Event
		want []string
	}{
		{"open from api", mj(t, "open", nil), []string{"domain", "domain-reversed", "campaign-either", "email-in",
			"message-after-type-list", "guard-then-failure", "failure-then-field", "mixed-or", "source"}},
		{"click from bob", mj(t, "click", map[string]any{"email": "bob@example.com", "customcampaign": "x", "MessageID": 19421777396190490}),
			[]string{"email-in", "message-after-type-list", "failure-then-field", "mixed-or", "source", "not-a-guard"}},
		{"bounce elsewhere", mj(t, "bounce", map[string]any{"email": "eve@other.example", "customcampaign": "spring"}),
			[]string{"failure-then-field", "source", "not-a-guard"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := set.Eval(context.Background(), tc.e, nil)
			if err != nil {
				t.Fatal(err)
			}
			all, err := set.Explain(context.Background(), tc.e, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(names(got), names(all)) {
				t.Errorf("Eval matched or failed %v; running every rule gives %v", names(got), names(all))
			}
			if !reflect.DeepEqual(names(got), tc.want) {
				t.Errorf("Eval matched or failed %v, want %v", names(got), tc.want)
			}
		})
	}
}

// TestDurations loads cooldowns and count windows written as retention
// writes its periods, days included, and checks what they come to.
func TestDurations(t *testing.T) {
	blocked := func(at int64) event.Event {
		return mj(t, "blocked", map[string]any{"time": at})
	}
	// A block 36 hours before the one evaluated.
	log := memLog{blocked(sentAt - 36*3600), blocked(sentAt)}
	tests := []struct {
		name         string
		cooldown     string
		window       string
		wantCooldown time.Duration
		wantFired    bool
		wantErr      string
	}{
		{name: "cooldown in days", cooldown: "1d", wantCooldown: 24 * time.Hour},
		{name: "cooldown in minutes", cooldown: "90m", wantCooldown: 90 * time.Minute},
		{name: "window of two days", window: "2d", wantFired: true},
		{name: "window of one day", window: "1d"},
		{name: "window in hours", window: "37h", wantFired: true},
		{name: "cooldown too long in days", cooldown: "106751d", wantErr: `cooldown: invalid duration "106751d" is too long: at most 36600d (878400h)`},
		{name: "cooldown too long in hours", cooldown: "2562047h", wantErr: `cooldown: invalid duration "2562047h" is too long: at most 36600d (878400h)`},
		{name: "window too long", window: "36601d", wantErr: `count: invalid window "36601d" is too long: at most 36600d (878400h)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			window, cooldown := cmp.Or(tt.window, "15m"), ""
			if tt.cooldown != "" {
				cooldown = "\n    cooldown: " + tt.cooldown
			}
			dir := t.TempDir()
			src := fmt.Sprintf("rules:\n  - name: r\n    when: type == \"blocked\" && count(\"blocked\", \"domain\", %q) >= 1%s\n    actions:\n      - log: {}\n", window, cooldown)
			if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			set, err := rules.Load(context.Background(), []string{"r.yaml"}, rules.Options{Dir: dir})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load:\n%s\nerror %v, want %q", src, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load:\n%s\n%v", src, err)
			}
			if got := set.Rule("r").Cooldown; got != tt.wantCooldown {
				t.Errorf("cooldown %q = %v, want %v", tt.cooldown, got, tt.wantCooldown)
			}
			matches, err := set.Eval(context.Background(), log[1], log)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(fired(t, matches)) == 1; got != tt.wantFired {
				t.Errorf("count over %q of a block 36h earlier fired: %v, want %v", window, got, tt.wantFired)
			}
		})
	}
}

// TestExplainHidesVariables: a when that reads a secret from the
// environment shows it as written, ${VAR}, in the rule's When and in an
// explanation, while it decides on the value.
func TestExplainHidesVariables(t *testing.T) {
	t.Setenv("HOOKD_TEST_HOOK_SECRET", "s3cret-value-0123")
	t.Setenv("HOOKD_TEST_LIST", "42")
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(file, []byte(`rules:
  - name: tokened
    when: type == "click" && data.token == "${HOOKD_TEST_HOOK_SECRET}" && ${HOOKD_TEST_LIST} > 41
    actions:
      - log: {}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{file}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Rules()[0]
	if want := `type == "click" && data.token == "${HOOKD_TEST_HOOK_SECRET}" && ${HOOKD_TEST_LIST} > 41`; r.When != want {
		t.Errorf("When = %s, want %s", r.When, want)
	}
	for _, tt := range []struct {
		token, want string
	}{
		{"nope", `data.token == "${HOOKD_TEST_HOOK_SECRET}" is false: data.token = "nope"`},
		{"s3cret-value-0123", ""},
	} {
		e := mj(t, "click", map[string]any{"token": tt.token})
		matches, err := set.Explain(context.Background(), e, memLog{e})
		if err != nil {
			t.Fatal(err)
		}
		if len(matches) != 1 || matches[0].Why != tt.want {
			t.Errorf("token %q: Explain = %+v, want why %q", tt.token, matches, tt.want)
		}
		if strings.Contains(fmt.Sprint(r.Conditions()), "s3cret") {
			t.Errorf("Conditions show the secret: %q", r.Conditions())
		}
	}
}

// TestExplainValues checks the value an explanation shows of a condition
// that is not a comparison: the value itself, so that a key the data lacks
// reads nil, as the README says it is, rather than the false it counts as.
func TestExplainValues(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, []byte(`rules:
  - name: hard
    when: type == "bounce" && data.hard_bounce
    actions:
      - log: {}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{file}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		data map[string]any
		want string
	}{
		{"false", map[string]any{"hard_bounce": false}, "data.hard_bounce is false: data.hard_bounce = false"},
		{"null", map[string]any{"hard_bounce": nil}, "data.hard_bounce is false: data.hard_bounce = nil"},
		{"missing", nil, "data.hard_bounce is false: data.hard_bounce = nil"},
		{"true", map[string]any{"hard_bounce": true}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := mj(t, "bounce", tt.data)
			if tt.data == nil {
				e.Data = json.RawMessage(`{"event":"bounce"}`)
			}
			matches, err := set.Explain(context.Background(), e, memLog{e})
			if err != nil {
				t.Fatal(err)
			}
			if len(matches) != 1 || matches[0].Err != nil || matches[0].Why != tt.want {
				t.Errorf("Explain = %+v, want why %q", matches, tt.want)
			}
		})
	}
}
