package mailjet_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookd/hookd/listener/mailjet"
)

// FuzzDecode checks the decoder's invariants on any input. Its seed corpus,
// testdata/fuzz/FuzzDecode, holds the fixtures and a few malformed bodies,
// so every go test runs it over them.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		events, err := mailjet.Decode(body)
		if !bytes.Equal(body, orig) {
			t.Fatal("Decode modified its input")
		}
		if err != nil {
			if events != nil {
				t.Errorf("Decode returned %d events with error %v", len(events), err)
			}
			if !strings.HasPrefix(err.Error(), "decode mailjet delivery: ") {
				t.Errorf("error %q does not name the operation", err)
			}
			return
		}
		ids := make([]string, len(events))
		for i, e := range events {
			ids[i] = e.ID
			if e.ID == "" || e.Type == "" || e.Provider != "mailjet" {
				t.Errorf("event %d: ID %q Type %q Provider %q", i, e.ID, e.Type, e.Provider)
			}
			if !json.Valid(e.Data) || e.Data[0] != '{' {
				t.Errorf("event %d: Data is not a JSON object: %q", i, e.Data)
			}
			if strings.Trim(e.MessageID, "0123456789") != "" {
				t.Errorf("event %d: MessageID %q is not all digits", i, e.MessageID)
			}
			if e.Email == "" || e.Email != strings.ToLower(e.Email) {
				t.Errorf("event %d: Email %q is empty or not lower-case", i, e.Email)
			}
			if !strings.HasSuffix(e.Email, e.Domain) {
				t.Errorf("event %d: Domain %q is not the end of Email %q", i, e.Domain, e.Email)
			}
			if _, err := e.Marshal(); err != nil {
				t.Errorf("event %d: the log cannot store it: %v", i, err)
			}
		}
		// Not keeping body: the events survive a change to it, and a
		// second decode gives the same ids.
		for i := range body {
			body[i] ^= 0xff
		}
		again, err := mailjet.Decode(orig)
		if err != nil {
			t.Fatalf("second decode: %v", err)
		}
		for i, e := range again {
			if e.ID != ids[i] || !bytes.Equal(e.Data, events[i].Data) {
				t.Errorf("event %d: second decode gave id %s data %q, first %s %q", i, e.ID, e.Data, ids[i], events[i].Data)
			}
		}
	})
}
