package mailjet_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/golden"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	_ "github.com/hookd/hookd/listener/generic"
	"github.com/hookd/hookd/listener/mailjet"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the decoder's output")

// goldenEvents is what a testdata/NAME.golden file holds for testdata/NAME.json.
type goldenEvents struct {
	Error  string        `json:"error,omitempty"`
	Events []event.Event `json:"events,omitempty"`
}

// TestDecodeGolden decodes every testdata/*.json delivery and compares the
// result with its .golden file. Cases named malformed-* must fail, all
// others must succeed.
func TestDecodeGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.json cases")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			body := readFile(t, in)
			events, err := mailjet.Decode(body)

			var got goldenEvents
			wantErr := strings.HasPrefix(name, "malformed-")
			switch {
			case wantErr && err == nil:
				t.Fatalf("Decode succeeded with %d events, want an error", len(events))
			case !wantErr && err != nil:
				t.Fatalf("Decode: %v", err)
			case err != nil:
				got.Error = err.Error()
			default:
				got.Events = events
				checkEvents(t, body, events)
			}

			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(got); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", name+".golden"), buf.Bytes(), *update)
		})
	}
}

// checkEvents asserts what golden files cannot show: Data holds the exact
// bytes of each event's object, in body order, and the listener's fields
// are left alone.
func checkEvents(t *testing.T, body []byte, events []event.Event) {
	t.Helper()
	trimmed := bytes.Trim(body, " \t\r\n")
	if trimmed[0] == '{' {
		if len(events) != 1 || !bytes.Equal(events[0].Data, trimmed) {
			t.Fatalf("Version 1 delivery: Data is not the body's object:\n got: %s\nwant: %s", events[0].Data, trimmed)
		}
	}
	rest := body
	for i, e := range events {
		at := bytes.Index(rest, e.Data)
		if at < 0 || len(e.Data) == 0 || e.Data[0] != '{' {
			t.Fatalf("event %d: Data is not an object of the body in order: %s", i, e.Data)
		}
		rest = rest[at+len(e.Data):]
		if e.Provider != "mailjet" || e.Source != "" || !e.Received.IsZero() {
			t.Errorf("event %d: Provider %q Source %q Received %v, want mailjet and the listener's fields unset", i, e.Provider, e.Source, e.Received)
		}
	}
}

func TestMessageIDAbove2To53IsExact(t *testing.T) {
	const id = "19421777836302490"
	// The test means something only if a float64 would change the id.
	if f, _ := strconv.ParseFloat(id, 64); strconv.FormatFloat(f, 'f', 0, 64) == id {
		t.Fatalf("%s survives float64; pick an id that does not", id)
	}
	for _, body := range []string{
		`{"event":"click","time":1433334653,"MessageID":19421777836302490,"email":"api@mailjet.com","url":"https://mailjet.com"}`,
		`{"event":"click","time":"1433334653","MessageID":"19421777836302490","email":"api@mailjet.com","url":"https://mailjet.com"}`,
		`[{"event":"click","time":1433334653,"MessageID":19421777836302490,"email":"api@mailjet.com","url":"https://mailjet.com"}]`,
	} {
		events, err := mailjet.Decode([]byte(body))
		if err != nil {
			t.Fatalf("Decode(%s): %v", body, err)
		}
		if got := events[0].MessageID; got != id {
			t.Errorf("Decode(%s).MessageID = %s, want %s", body, got, id)
		}
		b, err := events[0].Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := event.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if back.MessageID != id || !bytes.Contains(back.Data, []byte(id)) {
			t.Errorf("after a round trip through the log's JSON: MessageID %s, Data %s", back.MessageID, back.Data)
		}
	}
}

// TestIDIsStableAcrossDeliveries checks that an event gets the same id
// however Mailjet delivers it: alone (Version 1), inside a grouped array
// (Version 2), with string ids, or again as a retry.
func TestIDIsStableAcrossDeliveries(t *testing.T) {
	grouped := decodeFile(t, "grouped-v2.json")
	for _, typ := range []string{"sent", "open", "click", "bounce", "blocked", "spam", "unsub"} {
		single := decodeFile(t, typ+".json")
		if len(single) != 1 {
			t.Fatalf("%s.json: %d events", typ, len(single))
		}
		found := false
		for _, e := range grouped {
			if e.Type == typ {
				found = true
				if e.ID != single[0].ID {
					t.Errorf("%s: id %s in a Version 2 array, %s alone", typ, e.ID, single[0].ID)
				}
			}
		}
		if !found {
			t.Errorf("grouped-v2.json has no %s event", typ)
		}
		if again := decodeFile(t, typ+".json"); again[0].ID != single[0].ID {
			t.Errorf("%s: a retried delivery got id %s, first %s", typ, again[0].ID, single[0].ID)
		}
	}

	// string-ids.json is open.json as older payloads send it: numbers as
	// strings and the address in mixed case.
	if a, b := decodeFile(t, "open.json")[0].ID, decodeFile(t, "string-ids.json")[0].ID; a != b {
		t.Errorf("open with numeric ids: %s, with string ids: %s", a, b)
	}

	open := readFile(t, "testdata/open.json")
	wrapped := "[\n  " + `{"event":"sent","time":1433103500,"MessageID":19421777396190490,"email":"api@mailjet.com"}` + ",\n  " + string(bytes.TrimSpace(open)) + "\n]"
	v2, err := mailjet.Decode([]byte(wrapped))
	if err != nil {
		t.Fatal(err)
	}
	if v1 := decodeFile(t, "open.json"); v2[1].ID != v1[0].ID {
		t.Errorf("open: id %s in a Version 2 array, %s alone", v2[1].ID, v1[0].ID)
	}
}

func TestIDDistinguishesEvents(t *testing.T) {
	const base = `"time":1433334653,"MessageID":19421777836302490,"email":"api@mailjet.com"`
	id := func(body string) string {
		t.Helper()
		events, err := mailjet.Decode([]byte(body))
		if err != nil {
			t.Fatalf("Decode(%s): %v", body, err)
		}
		return events[0].ID
	}
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"clicks on different links", `{"event":"click",` + base + `,"url":"https://a.example/"}`, `{"event":"click",` + base + `,"url":"https://b.example/"}`, false},
		{"clicks on the same link", `{"event":"click",` + base + `,"url":"https://a.example/","ip":"1.2.3.4"}`, `{"ip":"5.6.7.8","event":"click",` + base + `,"url":"https://a.example/"}`, true},
		{"url does not count outside clicks", `{"event":"open",` + base + `,"url":"https://a.example/"}`, `{"event":"open",` + base + `}`, true},
		{"different types", `{"event":"open",` + base + `}`, `{"event":"click",` + base + `}`, false},
		{"different seconds", `{"event":"open",` + base + `}`, `{"event":"open","time":1433334654,"MessageID":19421777836302490,"email":"api@mailjet.com"}`, false},
		{"different recipients", `{"event":"open",` + base + `}`, `{"event":"open","time":1433334653,"MessageID":19421777836302490,"email":"other@mailjet.com"}`, false},
		{"different messages", `{"event":"open",` + base + `}`, `{"event":"open","time":1433334653,"MessageID":19421777836302491,"email":"api@mailjet.com"}`, false},
		{"address case", `{"event":"open",` + base + `}`, `{"event":"open","time":1433334653,"MessageID":19421777836302490,"email":" API@Mailjet.com"}`, true},
		{"messages named by mj_message_id alone", `{"event":"sent","time":1424873938,"email":"api@mailjet.com","mj_message_id":"18858825588804172"}`, `{"event":"sent","time":1424873938,"email":"api@mailjet.com","mj_message_id":"18858825588803684"}`, false},
		{"mj_message_id as MessageID", `{"event":"open",` + base + `}`, `{"event":"open","time":1433334653,"mj_message_id":"19421777836302490","email":"api@mailjet.com"}`, true},
		{"MessageID before mj_message_id", `{"event":"open",` + base + `}`, `{"event":"open",` + base + `,"mj_message_id":"1"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := id(tt.a), id(tt.b)
			if (a == b) != tt.same {
				t.Errorf("ids %s and %s, want same=%v", a, b, tt.same)
			}
		})
	}
}

func TestDecodeErrorSaysWhere(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"bad element of an array", `[{"event":"open","time":1,"email":"a@b"},{"event":"open","time":2,"email":"a@b"},{"event":"open","time":3,"email":"a@b"},{"event":"open","time":"x","email":"a@b"}]`, `element 3: "time": not a unix timestamp`},
		{"element not an object", `[{"event":"open","time":1,"email":"a@b"},"open"]`, `element 1: a string, not an object`},
		{"syntax error offset counts leading space", "  \n{\"event\":}", `(after 13 bytes)`},
		{"number", `42`, `a number, not an object or array`},
		{"MessageID negative", `{"event":"open","time":1,"email":"a@b","MessageID":-5}`, `"MessageID": not a non-negative integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mailjet.Decode([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode(%s) error = %v, want one containing %q", tt.body, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "decode mailjet delivery: ") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
}

func TestDecodeDoesNotKeepBody(t *testing.T) {
	for _, name := range []string{"open.json", "grouped-v2.json"} {
		body := readFile(t, filepath.Join("testdata", name))
		events, err := mailjet.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		var before [][]byte
		for _, e := range events {
			before = append(before, bytes.Clone(e.Data))
		}
		for i := range body {
			body[i] = 'x'
		}
		for i, e := range events {
			if !bytes.Equal(e.Data, before[i]) {
				t.Errorf("%s: event %d: Data changed with the body: %s", name, i, e.Data)
			}
		}
	}
}

func TestRegistered(t *testing.T) {
	p, err := listener.Lookup("mailjet")
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.New(config.Source{Name: "mj", Provider: "mailjet"}, listener.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.New(config.Source{Name: "mj", Provider: "mailjet", Verify: config.Verify{Secret: "x"}}, listener.Env{}); err == nil {
		t.Error("New accepted a verify setting, but Mailjet signs nothing")
	}
	events, err := d.Decode(nil, readFile(t, filepath.Join("testdata", "grouped-v2.json")))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 7 {
		t.Errorf("got %d events from grouped-v2.json, want 7", len(events))
	}
}

func decodeFile(t *testing.T, name string) []event.Event {
	t.Helper()
	events, err := mailjet.Decode(readFile(t, filepath.Join("testdata", name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return events
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDataFields: the fields of DataFields are exactly those of the
// documented events of every type, testdata's sent.json to unsub.json
// (Mailjet's samples) and grouped-v2.json, so that a rule's data.X is
// warned of only when no Mailjet event has X.
func TestDataFields(t *testing.T) {
	seen := map[string]bool{}
	for _, name := range []string{"sent", "open", "click", "bounce", "blocked", "spam", "unsub", "grouped-v2"} {
		body, err := os.ReadFile(filepath.Join("testdata", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var objs []map[string]json.RawMessage
		if name == "grouped-v2" {
			err = json.Unmarshal(body, &objs)
		} else {
			objs = make([]map[string]json.RawMessage, 1)
			err = json.Unmarshal(body, &objs[0])
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, o := range objs {
			for k := range o {
				seen[k] = true
				if !slices.Contains(mailjet.DataFields, k) {
					t.Errorf("%s.json has %q, which DataFields lacks", name, k)
				}
			}
		}
	}
	for _, f := range mailjet.DataFields {
		if !seen[f] {
			t.Errorf("DataFields has %q, which no documented event has", f)
		}
	}
	providers, fields := listener.DataFields([]config.Source{{Name: "a", Provider: "mailjet"}, {Name: "b", Provider: "mailjet"}})
	if !slices.Equal(providers, []string{"mailjet"}) || len(fields) != len(mailjet.DataFields) {
		t.Errorf("listener.DataFields of two Mailjet sources = %q, %d fields; want mailjet and its %d", providers, len(fields), len(mailjet.DataFields))
	}
	// A generic source's events may have any field.
	if providers, fields := listener.DataFields([]config.Source{{Name: "a", Provider: "mailjet"}, {Name: "b", Provider: "generic"}}); providers != nil || fields != nil {
		t.Errorf("listener.DataFields with a generic source = %q, %q; want none", providers, fields)
	}
}
