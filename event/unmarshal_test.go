package event_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
)

// checkUnmarshal compares Unmarshal with encoding/json on b: both fail, or
// both give the same event.
func checkUnmarshal(t *testing.T, b []byte) {
	t.Helper()
	got, err := event.Unmarshal(b)
	var want event.Event
	wantErr := json.Unmarshal(b, &want)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("Unmarshal(%q) error %v, encoding/json error %v", b, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("Unmarshal(%q) =\n%+v\nencoding/json gives\n%+v", b, got, want)
	}
}

// open is an event as the Mailjet adapter makes it.
var open = event.Event{
	ID: "mailjet:6938a1b2c3d4e5f60718293a4b5c6d7e8f", Source: "mailjet", Provider: "mailjet", Type: "open",
	Time:     time.Date(2026, 11, 27, 12, 30, 45, 0, time.UTC),
	Received: time.Date(2026, 11, 27, 12, 30, 46, 234567891, time.UTC),
	Email:    "u123.r2@d3.example", Domain: "d3.example",
	MessageID: "9007199254740993", Campaign: "hookd-send", Category: event.Open,
	Data: json.RawMessage(`{"event":"open","time":1700000123,"MessageID":9007199254740993,"Message_GUID":"00000000-0000-4000-8000-00000000007b","email":"u123.r2@d3.example","mj_campaign_id":7173,"mj_contact_id":124,"customcampaign":"hookd-send","CustomID":"","Payload":"","ip":"127.0.0.1","geo":"US","agent":"hookd-send"}`),
}

func marshal(t testing.TB, e event.Event) []byte {
	t.Helper()
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnmarshalPlain checks that what Marshal writes for everyday events is
// read without encoding/json, which is the point of the plain reader, and
// that what it must leave to encoding/json it does.
func TestUnmarshalPlain(t *testing.T) {
	zone := open
	zone.Time = zone.Time.In(time.FixedZone("", 2*3600))
	bounce := open
	bounce.Type, bounce.Category, bounce.BounceClass = "bounce", event.Bounce, event.Hard
	bounce.Data = json.RawMessage(`{"event":"bounce","error":"user unknown","hard_bounce":true,"comment":"été"}`)
	noData := open
	noData.Data = nil
	escaped := open
	escaped.Campaign = `say "hi"`
	control := open
	control.Email = "a\tb@example.com"
	html := open
	html.Campaign = "<b>news</b> & more"
	// As builds before Marshal wrote the log's rows.
	byEncodingJSON, err := json.Marshal(bounce)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		b     []byte
		plain bool
	}{
		{"open", marshal(t, open), true},
		{"time zone", marshal(t, zone), true},
		{"bounce with UTF-8", marshal(t, bounce), true},
		{"no data", marshal(t, noData), true},
		{"zero", marshal(t, event.Event{}), true},
		{"escaped quote", marshal(t, escaped), false},
		{"control character", marshal(t, control), false},
		{"HTML in a field", marshal(t, html), false},
		{"written by encoding/json", byEncodingJSON, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := event.UnmarshalPlain(tc.b); ok != tc.plain {
				t.Errorf("read without encoding/json: %v, want %v", ok, tc.plain)
			}
			checkUnmarshal(t, tc.b)
		})
	}
}

// FuzzUnmarshal compares Unmarshal with encoding/json on arbitrary bytes,
// starting from Marshal's output and near misses of it.
func FuzzUnmarshal(f *testing.F) {
	b := marshal(f, open)
	f.Add(b)
	f.Add(marshal(f, event.Event{}))
	s := string(b)
	for _, c := range []struct{ old, new string }{
		{`"data":{`, `"data": {`},         // white space before data
		{`}}`, `} }`},                     // and after it
		{`"data":{`, `"data":null,"x":{`}, // more than one value
		{`{"id":`, `{"ID":`},              // a key in another case
		{`"open"`, `"op\u0065n"`},         // an escape
		{`2026-11-27T12:30:45Z`, `2026-11-27T12:30:45+01:00`},
		{`2026-11-27T12:30:45Z`, `2026-11-27 12:30:45Z`},
		{`"time":"2026-11-27T12:30:45Z"`, `"time":null`},
		{`"domain":"d3.example"`, `"domain":"d3.\xffexample"`},
		{`"campaign":"hookd-send"`, `"campaign":"a` + "\x01" + `b"`},
		{`"campaign":"hookd-send"`, `"campaign":7`},
	} {
		if !strings.Contains(s, c.old) {
			f.Fatalf("no %s in %s", c.old, s)
		}
		f.Add([]byte(strings.Replace(s, c.old, c.new, 1)))
	}
	f.Add([]byte(s[:len(s)-1]))
	f.Add([]byte(s + " "))
	f.Add([]byte(`{"id":"a","data":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkUnmarshal(t, b)
	})
}

// BenchmarkUnmarshal measures Unmarshal on a Mailjet open event against
// encoding/json on the same bytes.
func BenchmarkUnmarshal(b *testing.B) {
	p := marshal(b, open)
	b.Run("Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := event.Unmarshal(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var e event.Event
			if err := json.Unmarshal(p, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
