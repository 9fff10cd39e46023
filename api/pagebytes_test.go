package api_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/internal/storetest"
	"github.com/hookd/hookd/store"
)

// TestLargePages lists events and quarantined bodies of up to a few MiB
// each with limit=1000: each page stops at store.PageBytes rather than
// holding every row, always holds at least one row, and following next
// gives every row exactly once, newest first.
func TestLargePages(t *testing.T) {
	// Sizes of the rows' data (events) and bodies (quarantine), oldest first.
	sizes := largeSizes()

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

// kib is a KiB.
const kib = 1 << 10

// largeSizes are the sizes of 30 rows' data, oldest first: about 27 MiB in
// all, with one row larger than a whole page.
func largeSizes() []int {
	var sizes []int
	for i := range 30 {
		sizes = append(sizes, []int{700 * kib, 1024 * kib, 1300 * kib, 256 * kib}[i%4])
	}
	sizes[10] = store.PageBytes + 1024*kib
	return sizes
}

// TestLargeJobPages lists action jobs whose events (and some of whose
// params) are of up to a few MiB with limit=1000, on /api/jobs and on
// /api/deadletters: each page stops at store.PageBytes of events and
// params rather than holding every job, always holds at least one job, and
// following next gives every job exactly once, in the listing's order.
func TestLargeJobPages(t *testing.T) {
	// Sizes of the events' data, oldest first.
	sizes := largeSizes()

	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The jobs' Event and Params, and their size, by event id.
	var (
		events         []event.Event
		marshaled, par = map[string]json.RawMessage{}, map[string]json.RawMessage{}
		weight         = map[string]int{}
	)
	for i, n := range sizes {
		at := base.Add(time.Duration(i) * time.Second)
		id := fmt.Sprintf("big-%02d", i)
		// The padding brings the data to n bytes.
		data := fmt.Sprintf(`{"event":"open","MessageID":"%02d","p":"%s"}`, i, strings.Repeat("z", n-len(`{"event":"open","MessageID":"00","p":""}`)))
		e := event.Event{
			ID: id, Source: "mailjet", Provider: "mailjet", Type: "open",
			Time: at, Received: at, Email: "fat@x.com", Domain: "x.com", MessageID: fmt.Sprint(i),
			Category: event.Open, Data: json.RawMessage(data),
		}
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		// Every fifth job's params are large as well, as an http action's
		// body rendered from the event's data would be.
		params := `{"url":"https://a.example/"}`
		if i%5 == 0 {
			params = fmt.Sprintf(`{"url":"https://a.example/","body":%q}`, strings.Repeat("y", 512*kib))
		}
		events = append(events, e)
		marshaled[id], par[id] = b, json.RawMessage(params)
		weight[id] = len(b) + len(params)
	}
	// Each job holds its event's JSON, as a rule's does.
	storetest.Jobs(t, st, events, func(e event.Event) actions.Job {
		return actions.Job{Key: "notify/" + e.ID, Rule: "notify", Action: "http", Target: "http POST big",
			Params: par[e.ID], Retry: "3x1m", EventID: e.ID, Event: marshaled[e.ID]}
	})

	// Every third job is done, the others die, four at a time in the
	// order of their ids: dead letters then share their time of death in
	// fours, and are listed by it, the highest id first among those of
	// one time, which is the highest id first.
	claimed, err := st.Claim(ctx, "test", time.Now().Add(time.Millisecond), 1, len(sizes), time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != len(sizes) {
		t.Fatalf("claimed %d jobs, want %d", len(claimed), len(sizes))
	}
	var (
		allJobs, dead []string
		outcomes      []actions.Outcome
	)
	slices.SortFunc(claimed, func(a, b actions.Job) int { return cmp.Compare(a.ID, b.ID) })
	for i, j := range claimed {
		allJobs = append([]string{j.EventID}, allJobs...)
		o := actions.Outcome{ID: j.ID, Status: actions.Done, Attempt: 1, Took: time.Second}
		if i%3 != 2 {
			o.Status, o.Error = actions.Dead, "503 Service Unavailable"
			dead = append([]string{j.EventID}, dead...)
		}
		if outcomes = append(outcomes, o); len(outcomes) == 4 || i == len(claimed)-1 {
			if err := st.Finish(ctx, "test", outcomes); err != nil {
				t.Fatal(err)
			}
			outcomes = nil
		}
	}

	e := testEcho(t)
	api.Register(e.Group("/api"), api.Deps{Store: st})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	tests := []struct {
		name, path string
		// want are the event ids of the jobs listed, in order.
		want []string
	}{
		{"jobs", "/api/jobs", allJobs},
		{"deadletters", "/api/deadletters", dead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			next := ""
			for pages := 1; ; pages++ {
				if pages > len(tt.want) {
					t.Fatal("paging does not end")
				}
				status, body := get(t, srv, tt.path+"?limit=1000&cursor="+next)
				if status != http.StatusOK {
					t.Fatalf("%d %s", status, body[:min(len(body), 200)])
				}
				var p struct {
					Jobs []store.JobRecord `json:"jobs"`
					Next string            `json:"next"`
				}
				if err := json.Unmarshal(body, &p); err != nil {
					t.Fatal(err)
				}
				if len(p.Jobs) == 0 {
					t.Fatalf("page %d is empty", pages)
				}
				total := 0
				for _, j := range p.Jobs {
					if w := len(j.Event) + len(j.Params); w != weight[j.EventID] {
						t.Fatalf("job of %s: event and params of %d bytes, want %d", j.EventID, w, weight[j.EventID])
					}
					total += weight[j.EventID]
					got = append(got, j.EventID)
				}
				// The page holds no more than PageBytes unless it is one
				// job, and is full: the job after it would not fit. Its
				// JSON is its jobs' events and params and a little per
				// job.
				if total > store.PageBytes && len(p.Jobs) > 1 {
					t.Errorf("page %d: %d jobs of %d bytes, more than PageBytes %d", pages, len(p.Jobs), total, store.PageBytes)
				}
				if overhead := len(body) - total; overhead > 1000*len(p.Jobs) {
					t.Errorf("page %d: %d bytes of JSON for %d of events and params", pages, len(body), total)
				}
				if p.Next != "" && len(got) < len(tt.want) && total+weight[tt.want[len(got)]] <= store.PageBytes {
					t.Errorf("page %d: %d bytes, and the next job of %d would have fit", pages, total, weight[tt.want[len(got)]])
				}
				if next = p.Next; next == "" {
					break
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("pages hold\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}
