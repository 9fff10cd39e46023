package mapping_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener/internal/mapping"
)

func TestUnmarshalNumbers(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     any
	}{
		{"int above 2^53", `9007199254740993`, int64(9007199254740993)},
		{"negative int", `-42`, int64(-42)},
		{"beyond int64", `12345678901234567890`, json.Number("12345678901234567890")},
		{"decimal", `1.5`, 1.5},
		{"seconds with milliseconds", `1714550400.123`, 1714550400.123},
		{"exponent", `1e3`, 1000.0},
		{"more digits than a float64", `3.14159265358979323846`, json.Number("3.14159265358979323846")},
		{"integer as a float beyond 2^53", `9007199254740993.0`, json.Number("9007199254740993.0")},
		{"overflow", `1e400`, json.Number("1e400")},
		{"underflow", `1e-400`, json.Number("1e-400")},
		{"nested", `{"a":[9007199254740993,{"b":0.25}]}`, map[string]any{"a": []any{int64(9007199254740993), map[string]any{"b": 0.25}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mapping.Unmarshal([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Unmarshal(%s) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	for _, in := range []string{``, `{`, `{} {}`, `1 x`, `[1,]`} {
		if v, err := mapping.Unmarshal([]byte(in)); err == nil {
			t.Errorf("Unmarshal(%q) = %#v, want an error", in, v)
		}
	}
}

// apply maps body with m and returns the event.
func apply(t *testing.T, m config.Map, body string, h http.Header) (event.Event, error) {
	t.Helper()
	mp, err := mapping.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	item, err := mapping.Unmarshal([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var e event.Event
	err = mp.Apply(&e, item, h)
	return e, err
}

func TestApplyExact(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tt := range []struct {
		name string
		m    config.Map
		body string
		want event.Event
	}{
		{"id above 2^53", config.Map{ID: "event_id"}, `{"event_id":9007199254740993}`, event.Event{ID: "9007199254740993"}},
		{"message id beyond int64", config.Map{MessageID: "msg_id"}, `{"msg_id":12345678901234567890}`, event.Event{MessageID: "12345678901234567890"}},
		{"arithmetic on a large id", config.Map{ID: "event_id + 1"}, `{"event_id":9007199254740993}`, event.Event{ID: "9007199254740994"}},
		{"string() of a number beyond int64", config.Map{ID: `"m-" + string(msg_id)`}, `{"msg_id":12345678901234567890}`, event.Event{ID: "m-12345678901234567890"}},
		{"decimal id", config.Map{ID: "v"}, `{"v":1.25}`, event.Event{ID: "1.25"}},
		{"int compared", config.Map{Type: `n == 3 ? "three" : "other"`}, `{"n":3}`, event.Event{Type: "three"}},
		{"decimal compared", config.Map{Type: `score > 0.5 ? "high" : "low"`}, `{"score":0.75}`, event.Event{Type: "high"}},
		{"unix milliseconds", config.Map{Time: "ts"}, `{"ts":1714550400123}`, event.Event{Time: at("2024-05-01T08:00:00.123Z")}},
		{"unix seconds with a fraction", config.Map{Time: "ts"}, `{"ts":1714550400.123}`, event.Event{Time: at("2024-05-01T08:00:00.123Z")}},
		{"unix seconds to the nanosecond", config.Map{Time: "ts"}, `{"ts":1714550400.123456789}`, event.Event{Time: at("2024-05-01T08:00:00.123456789Z")}},
		{"unix milliseconds as text", config.Map{Time: "ts"}, `{"ts":"1714550400123"}`, event.Event{Time: at("2024-05-01T08:00:00.123Z")}},
		{"unix milliseconds divided", config.Map{Time: "ts / 1000"}, `{"ts":1714550400123}`, event.Event{Time: at("2024-05-01T08:00:00.123Z")}},
		{"unix seconds", config.Map{Time: "ts"}, `{"ts":1714550400}`, event.Event{Time: at("2024-05-01T08:00:00Z")}},
		{"RFC 3339", config.Map{Time: "ts"}, `{"ts":"2024-05-01T10:00:00.5+02:00"}`, event.Event{Time: at("2024-05-01T08:00:00.5Z")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := apply(t, tt.m, tt.body, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Apply = %+v\nwant    %+v", got, tt.want)
			}
		})
	}
}

func TestApplyTimeErrors(t *testing.T) {
	for _, tt := range []struct{ name, body string }{
		{"zero", `{"ts":0}`},
		{"negative", `{"ts":-1}`},
		{"after 9999", `{"ts":253402300800000}`},
		{"huge", `{"ts":1e300}`},
		{"tiny", `{"ts":1e-300}`},
		{"text", `{"ts":"yesterday"}`},
		{"object", `{"ts":{}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if e, err := apply(t, config.Map{Time: "ts"}, tt.body, nil); err == nil {
				t.Fatalf("Apply = %v, want an error", e.Time)
			}
		})
	}
}

// TestHeaders reads headers by names written in any case: HTTP's names are
// case-insensitive, and providers document them in their own spelling.
func TestHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("X-GitHub-Event", "push")
	h.Set("X-GitHub-Delivery", "72d3162e")
	h.Set("ETag", "v1")
	for _, tt := range []struct{ name, expr, want string }{
		{"as GitHub documents it", `headers["X-GitHub-Event"]`, "push"},
		{"canonical", `headers["X-Github-Event"]`, "push"},
		{"lower case", `headers["x-github-delivery"]`, "72d3162e"},
		{"upper case", `headers["X-GITHUB-EVENT"]`, "push"},
		{"dot", `headers.etag`, "v1"},
		{"optional", `headers?.["x-github-event"]`, "push"},
		{"in", `"x-github-event" in headers ? "yes" : "no"`, "yes"},
		{"not in", `"x-github-hook-id" not in headers ? "absent" : "present"`, "absent"},
		{"a payload field named like a header is not a header", `payload["x-github-event"] ?? "none"`, "none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := apply(t, config.Map{Type: tt.expr}, `{"X-Github-Event":"payload's"}`, h)
			if err != nil {
				t.Fatal(err)
			}
			if e.Type != tt.want {
				t.Fatalf("%s = %q, want %q", tt.expr, e.Type, tt.want)
			}
		})
	}
}

// TestApplyNothing maps items for which an expression gives nothing: an
// error for id and type, which every event needs (a mapped id tells
// deliveries apart), the field left as it was for the others.
func TestApplyNothing(t *testing.T) {
	h := http.Header{"X-Github-Event": {"push"}}
	for _, tt := range []struct {
		name  string
		m     config.Map
		body  string
		field string // in the error; "" for none
	}{
		{"id absent", config.Map{ID: "id"}, `{}`, "map.id"},
		{"id null", config.Map{ID: "id"}, `{"id":null}`, "map.id"},
		{"id empty", config.Map{ID: "id"}, `{"id":""}`, "map.id"},
		{"id from an absent header", config.Map{ID: `headers["X-GitHub-Delivery"]`}, `{}`, "map.id"},
		{"type absent", config.Map{Type: "event"}, `{}`, "map.type"},
		{"type empty", config.Map{Type: "event"}, `{"event":""}`, "map.type"},
		{"type with a fallback", config.Map{Type: `event ?? headers["X-GitHub-Event"]`}, `{}`, ""},
		{"id zero", config.Map{ID: "id"}, `{"id":0}`, ""},
		{"optional fields absent", config.Map{Time: "ts", Email: "to", MessageID: "msg", Campaign: "c", Category: "cat", BounceClass: "class"}, `{}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := event.Event{Email: "kept@example.com", Domain: "example.com", Campaign: "kept"}
			e := before
			mp, err := mapping.Compile(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			item, err := mapping.Unmarshal([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			err = mp.Apply(&e, item, h)
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Apply: %v", err)
			case tt.field != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.field+": ")):
				t.Fatalf("Apply = %v, want an error at %s", err, tt.field)
			case tt.field == "" && (e.Email != before.Email || e.Campaign != before.Campaign || !e.Time.IsZero()):
				t.Fatalf("Apply changed fields it had nothing for: %+v", e)
			}
		})
	}
}

// TestApplyPaths maps paths through objects an item may lack: an absent
// or null object gives nothing (the optional field stays empty, a required
// one fails naming itself), as ?. would; one that is not an object is an
// error.
func TestApplyPaths(t *testing.T) {
	for _, tt := range []struct {
		name     string
		m        config.Map
		body     string
		campaign string
		err      string // the error's start; "" for none
	}{
		{"present", config.Map{Campaign: "meta.campaign"}, `{"meta":{"campaign":"spring"}}`, "spring", ""},
		{"object absent", config.Map{Campaign: "meta.campaign"}, `{}`, "", ""},
		{"object null", config.Map{Campaign: "meta.campaign"}, `{"meta":null}`, "", ""},
		{"two levels absent", config.Map{Campaign: "a.b.c"}, `{}`, "", ""},
		{"second level absent", config.Map{Campaign: "a.b.c"}, `{"a":{}}`, "", ""},
		{"index", config.Map{Campaign: `meta["campaign"]`}, `{}`, "", ""},
		{"payload", config.Map{Campaign: `payload.meta.campaign`}, `{}`, "", ""},
		{"written with ?.", config.Map{Campaign: "meta?.campaign"}, `{}`, "", ""},
		{"written with ?. midway", config.Map{Campaign: "a?.b.c"}, `{"a":{}}`, "", ""},
		{"fallback", config.Map{Campaign: `meta.campaign ?? "none"`}, `{}`, "none", ""},
		{"inside a call", config.Map{Campaign: `upper(meta.campaign ?? "x")`}, `{}`, "X", ""},
		{"compared", config.Map{Campaign: `meta.kind == "a" ? "yes" : "no"`}, `{}`, "no", ""},
		{"required", config.Map{ID: "meta.id"}, `{}`, "", "map.id: "},
		{"not an object", config.Map{Campaign: "meta.campaign"}, `{"meta":"spring"}`, "", "map.campaign: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := apply(t, tt.m, tt.body, nil)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("Apply: %v", err)
			case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)):
				t.Fatalf("Apply = %v, want an error starting %q", err, tt.err)
			case e.Campaign != tt.campaign:
				t.Fatalf("campaign = %q, want %q", e.Campaign, tt.campaign)
			}
		})
	}
}
