package store

import (
	"fmt"
	"testing"

	"github.com/hookd/hookd/listener/mailjet"
)

// TestLegacyMailjet checks that a Mailjet event stored without a category
// (before events had one) is counted as the mailjet adapter categorizes
// the same payload now: legacyMailjet and countedAs must not drift from
// it.
func TestLegacyMailjet(t *testing.T) {
	for _, tc := range []struct{ typ, extra string }{
		{"sent", ""}, {"open", ""}, {"click", `,"url":"https://x.example/"`},
		{"bounce", `,"hard_bounce":true`}, {"bounce", `,"hard_bounce":false`}, {"bounce", ""},
		{"blocked", ""}, {"spam", ""}, {"unsub", ""}, {"newtype", ""},
	} {
		t.Run(tc.typ+tc.extra, func(t *testing.T) {
			body := fmt.Sprintf(`{"event":%q,"time":1430812195,"MessageID":1,"email":"a@b.example"%s}`, tc.typ, tc.extra)
			events, err := mailjet.Decode([]byte(body))
			if err != nil || len(events) != 1 {
				t.Fatalf("decode %s: %v %v", body, events, err)
			}
			e := events[0]
			want := [2]string{string(e.Category), string(e.BounceClass)}
			e.Category, e.BounceClass = "", ""
			cat, class := countedAs(&e)
			if got := [2]string{string(cat), string(class)}; got != want {
				t.Errorf("stored without a category, %s is counted as %v; the adapter gives %v", body, got, want)
			}
			if !cat.Valid() {
				t.Errorf("%q is no category", cat)
			}
		})
	}
}
