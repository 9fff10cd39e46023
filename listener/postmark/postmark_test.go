package postmark_test

import (
	"errors"
	"flag"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/postmark"
	"github.com/hookd/hookd/listener/providertest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestDecodeGolden(t *testing.T) {
	providertest.Golden(t, *update, func(_ http.Header, body []byte) ([]event.Event, error) {
		return postmark.Decode(body)
	})
}

const (
	password    = "pm-hook-password-0123"
	headerName  = "X-Hookd-Token"
	headerValue = "postmark-header-secret-0123"
)

func TestConformance(t *testing.T) {
	body, err := os.ReadFile("testdata/bounce-hard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		auth  config.Auth
		hdr   *config.HeaderSecret
		strip map[string]func(http.Header, []byte) (http.Header, []byte)
	}{
		{"basic auth", config.Auth{Basic: &config.BasicAuth{User: "pm", Password: password}}, nil, nil},
		{"header", config.Auth{}, &config.HeaderSecret{Name: headerName, Value: headerValue}, nil},
		{"basic auth and header", config.Auth{Basic: &config.BasicAuth{User: "pm", Password: password}},
			&config.HeaderSecret{Name: headerName, Value: headerValue},
			map[string]func(http.Header, []byte) (http.Header, []byte){
				"authorization": func(h http.Header, b []byte) (http.Header, []byte) { h.Del("Authorization"); return h, b },
				headerName:      func(h http.Header, b []byte) (http.Header, []byte) { h.Del(headerName); return h, b },
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			providertest.Run(t, providertest.Case{
				Source: config.Source{Provider: postmark.Provider, Auth: tt.auth, Verify: config.Verify{Header: tt.hdr}},
				Valid:  body,
				Events: 1,
				Sign: func(_ testing.TB, body []byte, _ time.Time, wrong bool) (http.Header, []byte) {
					suffix := ""
					if wrong {
						suffix = "x"
					}
					r, _ := http.NewRequest("POST", "/", nil)
					if tt.auth.Basic != nil {
						r.SetBasicAuth("pm", password+suffix)
					}
					if tt.hdr != nil {
						r.Header.Set(headerName, headerValue+suffix)
					}
					return r.Header, body
				},
				Strip: tt.strip,
			})
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		verify config.Verify
		field  string
	}{
		{"header without name", config.Verify{Header: &config.HeaderSecret{Value: headerValue}}, "verify.header.name"},
		{"short header value", config.Verify{Header: &config.HeaderSecret{Name: "X", Value: "short"}}, "verify.header.value"},
		{"foreign key", config.Verify{Secret: "whsec_x"}, "verify.secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := postmark.Postmark{}.New(config.Source{Verify: tt.verify}, listener.Env{})
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("New = %v, want an error at %s", err, tt.field)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range providertest.Seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := postmark.Decode(body)
		if err == nil && (len(events) != 1 || events[0].ID == "" || events[0].Email == "") {
			t.Fatalf("bad events %+v", events)
		}
	})
}

// TestTimes reads the ISO 8601 times Postmark documents: with Z or an
// offset, seven fractional digits, and without a zone (as UTC).
func TestTimes(t *testing.T) {
	for _, tt := range []struct {
		at   string
		want time.Time // zero: refused
	}{
		{"2019-11-05T16:33:54.9070259Z", time.Date(2019, 11, 5, 16, 33, 54, 907025900, time.UTC)},
		{"2014-08-01T13:28:10.2735393-04:00", time.Date(2014, 8, 1, 17, 28, 10, 273539300, time.UTC)},
		{"2014-08-01T13:28:10-0400", time.Date(2014, 8, 1, 17, 28, 10, 0, time.UTC)},
		{"2019-11-05T16:33:54.9070259", time.Date(2019, 11, 5, 16, 33, 54, 907025900, time.UTC)},
		{"2019-11-05T16:33:54", time.Date(2019, 11, 5, 16, 33, 54, 0, time.UTC)},
		{"2019-11-05", time.Time{}},
		{"05/11/2019 16:33", time.Time{}},
	} {
		t.Run(tt.at, func(t *testing.T) {
			events, err := postmark.Decode([]byte(`{"RecordType":"Open","Recipient":"a@example.com","ReceivedAt":"` + tt.at + `"}`))
			switch {
			case tt.want.IsZero() && err == nil:
				t.Fatalf("Decode read %v", events[0].Time)
			case tt.want.IsZero():
			case err != nil:
				t.Fatal(err)
			case !events[0].Time.Equal(tt.want) || events[0].Time.Location() != time.UTC:
				t.Fatalf("time %v, want %v", events[0].Time, tt.want)
			}
		})
	}
}

// TestIDs checks that records Postmark sends as distinct events get
// distinct ids, and that a retry (the same record) gets the same one.
func TestIDs(t *testing.T) {
	const (
		suppress   = `{"RecordType":"SubscriptionChange","MessageID":null,"ChangedAt":"2025-03-14T09:26:53.5897932Z","Recipient":"a@example.org","Origin":"Customer","SuppressSending":true,"SuppressionReason":"ManualSuppression"}`
		reactivate = `{"RecordType":"SubscriptionChange","MessageID":null,"ChangedAt":"2025-03-14T09:26:53.9012345Z","Recipient":"a@example.org","Origin":"Customer","SuppressSending":false,"SuppressionReason":null}`
		// The same instant: only SuppressSending tells them apart.
		reactivateSameTime = `{"RecordType":"SubscriptionChange","MessageID":null,"ChangedAt":"2025-03-14T09:26:53.5897932Z","Recipient":"a@example.org","Origin":"Customer","SuppressSending":false,"SuppressionReason":null}`
		click1             = `{"RecordType":"Click","MessageID":"m-1","OriginalLink":"https://example.com/a","ReceivedAt":"2025-03-14T10:00:01.1000000Z","Recipient":"b@example.com"}`
		click2             = `{"RecordType":"Click","MessageID":"m-1","OriginalLink":"https://example.com/a","ReceivedAt":"2025-03-14T10:00:01.4000000Z","Recipient":"b@example.com"}`
		open1              = `{"RecordType":"Open","MessageID":"m-1","FirstOpen":true,"ReceivedAt":"2025-03-14T10:00:02.0500000Z","Recipient":"b@example.com"}`
		open2              = `{"RecordType":"Open","MessageID":"m-1","FirstOpen":false,"ReceivedAt":"2025-03-14T10:00:02.9500000Z","Recipient":"b@example.com"}`
	)
	for _, tt := range []struct {
		name string
		a, b string
		same bool
	}{
		{"suppression and reactivation in one second", suppress, reactivate, false},
		{"suppression and reactivation at one instant", suppress, reactivateSameTime, false},
		{"two clicks of one link in one second", click1, click2, false},
		{"two opens in one second", open1, open2, false},
		{"retried subscription change", suppress, suppress, true},
		{"retried click", click1, click1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := postmark.Decode([]byte(tt.a))
			if err != nil {
				t.Fatal(err)
			}
			b, err := postmark.Decode([]byte(tt.b))
			if err != nil {
				t.Fatal(err)
			}
			if got := a[0].ID == b[0].ID; got != tt.same {
				t.Fatalf("ids %s and %s: same %v, want %v", a[0].ID, b[0].ID, got, tt.same)
			}
		})
	}
}
