package event_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
)

// checkMarshal compares e.Marshal with encoding/json: both fail, or
// Marshal's bytes, HTML-escaped, are exactly encoding/json's (and are
// encoding/json's as they are when Data has no character it escapes), and
// both decode to the same event.
func checkMarshal(t *testing.T, e event.Event) {
	t.Helper()
	got, err := e.Marshal()
	want, wantErr := json.Marshal(e)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("Marshal error %v, encoding/json error %v", err, wantErr)
	}
	if err != nil {
		return
	}
	// Where Data holds nothing that encoding/json would escape, the bytes
	// are the same.
	if !bytes.ContainsAny(e.Data, "<>&\u2028\u2029") && !bytes.Equal(got, want) {
		t.Fatalf("Marshal =\n%s\nwant encoding/json's\n%s", got, want)
	}
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, got)
	if !bytes.Equal(escaped.Bytes(), want) {
		t.Fatalf("Marshal =\n%s\nHTML-escaped, want encoding/json's\n%s", got, want)
	}
	// Both decode to the same event.
	back, err := event.Unmarshal(got)
	if err != nil {
		t.Fatalf("Unmarshal(Marshal) = %v", err)
	}
	backStd, err := event.Unmarshal(want)
	if err != nil {
		t.Fatalf("Unmarshal(encoding/json's) = %v", err)
	}
	escaped.Reset()
	json.HTMLEscape(&escaped, back.Data)
	if !bytes.Equal(escaped.Bytes(), backStd.Data) {
		t.Fatalf("data decodes to %s, encoding/json's to %s", back.Data, backStd.Data)
	}
	back.Data, backStd.Data = nil, nil
	if !reflect.DeepEqual(back, backStd) {
		t.Fatalf("Marshal decodes to %+v, encoding/json's to %+v", back, backStd)
	}
}

func TestMarshal(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 30, 45, 123456789, time.UTC)
	full := event.Event{
		ID: "mailjet:6938a1b2c3", Source: "mailjet", Provider: "mailjet", Type: "open",
		Time: at, Received: at.Add(time.Second), Email: "ann@example.com", Domain: "example.com",
		MessageID: "94294967296123457", Campaign: "7173", Category: event.Open,
		Data: json.RawMessage(`{"event":"open","MessageID":94294967296123457,"geo":null}`),
	}
	for _, tc := range []struct {
		name string
		edit func(*event.Event)
	}{
		{"full", func(*event.Event) {}},
		{"zero", func(e *event.Event) { *e = event.Event{} }},
		{"nil data", func(e *event.Event) { e.Data = nil }},
		{"empty data", func(e *event.Event) { e.Data = json.RawMessage{} }},
		{"invalid data", func(e *event.Event) { e.Data = json.RawMessage(`{"a":`) }},
		{"data with white space and HTML", func(e *event.Event) {
			e.Data = json.RawMessage("{ \"url\" : \"https://x.test/?a=1&b=<2>\",\n\t\"n\": [1, 2] }")
		}},
		{"data with U+2028", func(e *event.Event) { e.Data = json.RawMessage("\"a\u2028b\u2029c\"") }},
		{"escapes in fields", func(e *event.Event) {
			e.Email = "\"q\\\"<a>&b\x00\x1f\b\f\n\r\t\x7f"
			e.Campaign = "é\u2028\u2029\U0001F600"
		}},
		{"invalid UTF-8", func(e *event.Event) { e.Type = "a\xffb\xc3"; e.Domain = "\xed\xa0\x80" }},
		{"time zone", func(e *event.Event) { e.Time = at.In(time.FixedZone("", -(3*3600 + 30*60))) }},
		{"year out of range", func(e *event.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"negative year", func(e *event.Event) { e.Received = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := full
			tc.edit(&e)
			checkMarshal(t, e)
		})
	}
}

// FuzzMarshal runs checkMarshal on events made of arbitrary strings, times
// and data.
func FuzzMarshal(f *testing.F) {
	f.Add("mailjet:1", "open", "ann@example.com", "<&>\u2028", int64(1700000000), int64(5), 0, []byte(`{"a":[1,2]}`))
	f.Add("", "\xff", "\x00\"\\", "", int64(-62135596801), int64(0), 3600, []byte(" null "))
	f.Add("x", "y", "z", "w", int64(253402300800), int64(999999999), -60, []byte(`{"a":`))
	f.Fuzz(func(t *testing.T, id, typ, email, campaign string, sec, nsec int64, offsetSec int, data []byte) {
		at := time.Unix(sec, nsec).In(time.FixedZone("", offsetSec%86400))
		checkMarshal(t, event.Event{
			ID: id, Source: "mailjet", Provider: "mailjet", Type: typ, Time: at, Received: at.UTC(),
			Email: email, Domain: email, MessageID: id, Campaign: campaign,
			Category: event.Category(typ), BounceClass: event.BounceClass(campaign), Data: data,
		})
	})
}

// BenchmarkMarshal measures Marshal on a Mailjet open event against
// encoding/json on the same event.
func BenchmarkMarshal(b *testing.B) {
	at := time.Date(2026, 11, 27, 12, 30, 45, 0, time.UTC)
	e := event.Event{
		ID: "mailjet:6938a1b2c3d4e5f60718293a4b5c6d7e8f", Source: "mailjet", Provider: "mailjet", Type: "open",
		Time: at, Received: at.Add(1234567891 * time.Nanosecond), Email: "u123.r2@d3.example", Domain: "d3.example",
		MessageID: "9007199254740993", Campaign: "hookd-send", Category: event.Open,
		Data: json.RawMessage(`{"event":"open","time":1700000123,"MessageID":9007199254740993,"Message_GUID":"00000000-0000-4000-8000-00000000007b","email":"u123.r2@d3.example","mj_campaign_id":7173,"mj_contact_id":124,"customcampaign":"hookd-send","CustomID":"","Payload":"","ip":"127.0.0.1","geo":"US","agent":"hookd-send"}`),
	}
	b.Run("Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(&e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
