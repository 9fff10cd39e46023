package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

// TestLargePages lists events and quarantined bodies of up to a few MiB
// each with limit=1000: each page stops at store.PageBytes rather than
// holding every row, always holds at least one row, and following next
// gives every row exactly once, newest first.
func TestLargePages(t *testing.T) {
	const kib = 1 << 10
	// Sizes of the rows' data (events) and bodies (quarantine), oldest
	// first: about 27 MiB in all, with one row larger than a whole page.
	var sizes []int
	for i := range 30 {
		sizes = append(sizes, []int{700 * kib, 1024 * kib, 1300 * kib, 256 * kib}[i%4])
	}
	sizes[10] = store.PageBytes + 1024*kib

	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var (
		events      []event.Event
		quarantined []event.Quarantined
	)
	for i, n := range sizes {
		at := base.Add(time.Duration(i) * time.Second)
		// The padding brings the data to n bytes.
		data := fmt.Sprintf(`{"event":"open","MessageID":"%02d","p":"%s"}`, i, strings.Repeat("z", n-len(`{"event":"open","MessageID":"00","p":""}`)))
		events = append(events, event.Event{
			ID: fmt.Sprintf("big-%02d", i), Source: "mailjet", Provider: "mailjet", Type: "open",
			Time: at, Received: at, Email: "fat@x.com", Domain: "x.com", MessageID: fmt.Sprint(i),
			Category: event.Open, Data: json.RawMessage(data),
		})
		quarantined = append(quarantined, event.Quarantined{
			ID: fmt.Sprintf("big-%02d", i), Source: "mailjet", Received: at, Error: "mailjet: unexpected end of JSON input",
			ContentType: "application/json", Body: []byte(data[:len(data)-1] + ","),
		})
	}
	if err := st.Insert(ctx, events...); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertQuarantined(ctx, quarantined...); err != nil {
		t.Fatal(err)
	}
	e := testEcho(t)
	api.Register(e.Group("/api"), api.Deps{Store: st})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	// list is a page of either listing: each row's id and the size of
	// its data or body.
	type list struct {
		ids   []string
		sizes []int
		next  string
	}
	tests := []struct {
		name, path string
		decode     func(t *testing.T, body []byte) list
	}{
		{"events", "/api/events", func(t *testing.T, body []byte) list {
			var p struct {
				Events []event.Event `json:"events"`
				Next   string        `json:"next"`
			}
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			l := list{next: p.Next}
			for _, e := range p.Events {
				l.ids, l.sizes = append(l.ids, e.ID), append(l.sizes, len(e.Data))
			}
			return l
		}},
		{"quarantine", "/api/quarantine", func(t *testing.T, body []byte) list {
			var p struct {
				Quarantine []struct {
					ID   string `json:"id"`
					Body string `json:"body"`
				} `json:"quarantine"`
				Next string `json:"next"`
			}
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			l := list{next: p.Next}
			for _, q := range p.Quarantine {
				l.ids, l.sizes = append(l.ids, q.ID), append(l.sizes, len(q.Body))
			}
			return l
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			next := ""
			for pages := 1; ; pages++ {
				if pages > len(sizes) {
					t.Fatal("paging does not end")
				}
				status, body := get(t, srv, tt.path+"?limit=1000&cursor="+next)
				if status != http.StatusOK {
					t.Fatalf("%d %s", status, body[:min(len(body), 200)])
				}
				p := tt.decode(t, body)
				if len(p.ids) == 0 {
					t.Fatalf("page %d is empty", pages)
				}
				total := 0
				for _, n := range p.sizes {
					total += n
				}
				// The page holds no more than PageBytes unless it is one
				// row, and is full: the row after it would not fit. Its
				// JSON is its rows' data and a little per row.
				if total > store.PageBytes && len(p.ids) > 1 {
					t.Errorf("page %d: %d rows of %d bytes, more than PageBytes %d", pages, len(p.ids), total, store.PageBytes)
				}
				if overhead := len(body) - total; overhead > 500*len(p.ids) {
					t.Errorf("page %d: %d bytes of JSON for %d of data", pages, len(body), total)
				}
				if after := len(sizes) - len(got) - len(p.ids) - 1; p.next != "" && total+sizes[after] <= store.PageBytes {
					t.Errorf("page %d: %d bytes, and the next row of %d would have fit", pages, total, sizes[after])
				}
				got = append(got, p.ids...)
				if next = p.next; next == "" {
					break
				}
			}
			var want []string
			for i := len(sizes) - 1; i >= 0; i-- {
				want = append(want, fmt.Sprintf("big-%02d", i))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("pages hold\n%v\nwant\n%v", got, want)
			}
		})
	}
}
