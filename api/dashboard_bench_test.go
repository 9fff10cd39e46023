package api_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/store"
)

var (
	dashEvents = flag.Int("dash.events", 1_000_000, "events in the store BenchmarkDashboard generates")
	dashDir    = flag.String("dash.dir", "", "directory keeping BenchmarkDashboard's generated store between runs (default: a new temporary one)")
)

// dashEnd is the end of the generated month of events.
var dashEnd = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// dashTypes is the mix of generated event types: mostly sent and open, a
// few percent of bounces, blocks and spam reports.
var dashTypes = func() []string {
	var t []string
	for _, c := range []struct {
		typ string
		n   int
	}{{"sent", 40}, {"open", 28}, {"click", 12}, {"bounce", 8}, {"blocked", 6}, {"spam", 3}, {"unsub", 3}} {
		for range c.n {
			t = append(t, c.typ)
		}
	}
	return t
}()

var dashErrors = []string{"user unknown", "mailbox inactive", "quota exceeded", "spam content", "domain error", "no mail host"}

// dashEvent is generated event n of total: spread evenly over the 30 days
// before dashEnd, 200,000 recipients on 1,000 domains, one in three at
// gmail.com, types drawn from dashTypes independently of the recipient.
func dashEvent(n, total int) event.Event {
	rnd := rand.New(rand.NewPCG(uint64(n), 42))
	r := rnd.IntN(200_000)
	domain := fmt.Sprintf("d%03d.example", r%1000)
	if r%3 == 0 {
		domain = "gmail.com"
	}
	email := fmt.Sprintf("user%d@%s", r, domain)
	typ := dashTypes[rnd.IntN(len(dashTypes))]
	at := dashEnd.Add(-30 * 24 * time.Hour).Add(time.Duration(float64(n) / float64(total) * float64(30*24*time.Hour)))
	data := fmt.Sprintf(`{"event":%q,"time":%d,"MessageID":%d,"email":%q,"mj_campaign_id":%d}`, typ, at.Unix(), 1<<60+n, email, n%20)
	switch typ {
	case "bounce":
		data = fmt.Sprintf(`{"event":"bounce","time":%d,"MessageID":%d,"email":%q,"hard_bounce":%t,"error":%q}`,
			at.Unix(), 1<<60+n, email, n%3 == 0, dashErrors[n%len(dashErrors)])
	case "blocked":
		data = fmt.Sprintf(`{"event":"blocked","time":%d,"MessageID":%d,"email":%q,"error":%q}`,
			at.Unix(), 1<<60+n, email, dashErrors[n%len(dashErrors)])
	}
	return event.Event{
		ID: fmt.Sprintf("dash-%d", n), Source: "mailjet", Provider: "mailjet", Type: typ,
		Time: at, Received: at.Add(time.Second), Email: email, Domain: domain,
		MessageID: fmt.Sprintf("%d", 1<<60+n), Campaign: fmt.Sprintf("c%d", n%20), Data: []byte(data),
	}
}

// dashStore returns a store of *dashEvents generated events and a job for
// one event in 20 (three rules, one in ten dead), generating it unless
// *dashDir already holds it.
func dashStore(b *testing.B) *store.Store {
	ctx := context.Background()
	dir := *dashDir
	if dir == "" {
		dir = b.TempDir()
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(ctx, store.Config{Dir: dir}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	have, err := st.Count(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if have == int64(*dashEvents) {
		return st
	}
	if have != 0 {
		b.Fatalf("%s holds %d events, not %d: use another -dash.dir", dir, have, *dashEvents)
	}
	start := time.Now()
	const perTx = 50_000
	batch := make([]event.Event, 0, perTx)
	for n := range *dashEvents {
		batch = append(batch, dashEvent(n, *dashEvents))
		if len(batch) == perTx || n == *dashEvents-1 {
			if err := st.Insert(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	// Jobs are written straight into the store's table: the rules engine
	// would make them one event at a time.
	db, err := sql.Open("sqlite", filepath.Join(dir, store.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO jobs (key, rule, idx, action, target, params, retry, event_id, event, status,
		attempts, next_ns, created_ns, updated_ns) VALUES (?, ?, 0, 'log', 'log', '{}', '1x1s', ?, '{}', ?, 1, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for n := 0; n < *dashEvents; n += 20 {
		e := dashEvent(n, *dashEvents)
		status := "done"
		if n%200 == 0 {
			status = "dead"
		}
		rule := fmt.Sprintf("rule-%d", n%3)
		at := e.Received.UnixNano()
		if _, err := stmt.Exec(rule+"/0/"+e.ID, rule, e.ID, status, at, at, at); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d events in %s", *dashEvents, time.Since(start).Round(time.Millisecond))
	return st
}

// BenchmarkDashboard measures the API calls the dashboard makes, over the
// HTTP handler, against a store of a month of generated events (1,000,000
// by default). It is not part of go test ./...: run it with
//
//	go test ./api -run '^$' -bench Dashboard -benchtime 10x
//
// and -dash.dir DIR to keep the generated store for the next run.
func BenchmarkDashboard(b *testing.B) {
	st := dashStore(b)
	e := listener.NewEcho(nil)
	api.Register(e.Group("/api"), api.Deps{Store: st})
	srv := httptest.NewServer(e)
	defer srv.Close()
	// The windows end at an odd time, as the dashboard's end now: their
	// partial hours and days are read from the events.
	last := dashEnd.Add(-7*time.Hour - 13*time.Minute - 7*time.Second)
	t := func(d time.Duration) string { return last.Add(-d).Format(time.RFC3339) }
	end := last.Format(time.RFC3339)
	for _, c := range []struct{ name, path string }{
		{"overview-1h", "/api/stats?by=category&interval=1m&since=" + t(time.Hour) + "&until=" + end},
		{"overview-24h", "/api/stats?by=category&interval=1h&since=" + t(24*time.Hour) + "&until=" + end},
		{"overview-7d", "/api/stats?by=category&interval=1h&since=" + t(7*24*time.Hour) + "&until=" + end},
		{"overview-30d", "/api/stats?by=category&interval=1d&since=" + t(30*24*time.Hour) + "&until=" + end},
		{"deliverability-24h", "/api/deliverability?since=" + t(24*time.Hour) + "&until=" + end},
		{"deliverability-7d", "/api/deliverability?since=" + t(7*24*time.Hour) + "&until=" + end},
		{"deliverability-30d", "/api/deliverability?since=" + t(30*24*time.Hour) + "&until=" + end},
		{"rules-24h", "/api/rules/activity?interval=1h&since=" + t(24*time.Hour) + "&until=" + end},
		{"rules-30d", "/api/rules/activity?interval=1d&since=" + t(30*24*time.Hour) + "&until=" + end},
		{"search-email", "/api/events?email=user4242@gmail.com&limit=50"},
		{"search-type-campaign", "/api/events?type=click&campaign=c7&limit=50"},
		{"search-newest", "/api/events?limit=50"},
		{"search-campaign", "/api/events?campaign=c7&limit=50"},
		// Filters no index orders by time, matching no event: the
		// store reads only the hours its counts have a match in.
		{"search-source-absent", "/api/events?source=sendgrid&limit=50"},
		{"search-category-absent", "/api/events?category=deferred&limit=50"},
		{"event", fmt.Sprintf("/api/events/dash-%d", *dashEvents/2)},
		{"event-jobs", fmt.Sprintf("/api/jobs?event_id=dash-%d", *dashEvents/2)},
		{"deadletters", "/api/deadletters?limit=50"},
		{"targets", "/api/targets"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := http.Get(srv.URL + c.path)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d %s", c.path, resp.StatusCode, body)
				}
			}
		})
	}
}
