package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/store"
)

var benchTypes = []string{"sent", "open", "click", "bounce", "blocked", "spam", "unsub", "sent", "open", "sent"}

// benchEvent is event n of a synthetic stream: 10,000 recipients on 50
// domains, gmail.com holding 30% of them, one event a second.
func benchEvent(n int) event.Event {
	r := n % 10000
	domain := fmt.Sprintf("d%02d.example", r%49)
	if r%10 < 3 {
		domain = "gmail.com"
	}
	e := ev(n, benchTypes[n%len(benchTypes)], fmt.Sprintf("user%d@%s", r, domain), base.Add(time.Duration(n)*time.Second))
	e.ID = fmt.Sprintf("bench-%d", n)
	e.Data = []byte(fmt.Sprintf(`{"event":%q,"time":%d,"MessageID":%d,"email":%q,"mj_campaign_id":7,"CustomID":"","Payload":""}`,
		e.Type, e.Time.Unix(), 1<<60+n, e.Email))
	return e
}

// BenchmarkProject measures the projector end to end from an in-memory
// subscriber that delivers one message at a time: decode, one transaction
// per message, ack.
func BenchmarkProject(b *testing.B) {
	st := openStore(b, b.TempDir())
	pubsub := gochannel.NewGoChannel(gochannel.Config{Persistent: true, OutputChannelBuffer: 1024}, nil)
	defer pubsub.Close()
	msgs := make([]*message.Message, b.N)
	for i := range msgs {
		e := benchEvent(i)
		p, err := e.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = message.NewMessage(e.ID, p)
	}
	if err := pubsub.Publish(eventlog.TopicEvents, msgs...); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx, pubsub, nil) }()
	for st.ProjectorStats().Events < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkProjectLog is BenchmarkProject reading the embedded SQLite log
// with a window of a batch, as hookd serve does.
func BenchmarkProjectLog(b *testing.B) { benchProjectLog(b, nil) }

// benchProjectLog appends b.N events to a new SQLite log, 100 per
// transaction, and measures the projector storing them with ev, reporting
// the jobs ev enqueued per event.
func benchProjectLog(b *testing.B, ev store.Evaluator) {
	ctx := context.Background()
	log := openLog(b)
	st := openStore(b, b.TempDir())
	var msgs []*message.Message
	for i := range b.N {
		e := benchEvent(i)
		p, err := e.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		msg := message.NewMessage(e.ID, p)
		msg.Metadata.Set(eventlog.DedupKey, e.ID)
		if msgs = append(msgs, msg); len(msgs) == 100 || i == b.N-1 {
			if _, err := log.Append(ctx, eventlog.TopicEvents, msgs); err != nil {
				b.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
	sub, err := log.Subscriber("store", eventlog.InFlight(store.Batch))
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- st.Run(runCtx, sub, ev) }()
	for st.ProjectorStats().Events < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if ev == nil {
		return
	}
	page, err := st.Jobs(ctx, store.JobQuery{Limit: 1})
	if err != nil {
		b.Fatal(err)
	}
	if len(page.Jobs) > 0 { // the newest job's id counts them: none is deleted
		b.ReportMetric(float64(page.Jobs[0].ID)/float64(b.N), "jobs/event")
	}
}

// BenchmarkInsertBatch measures Insert with 100 events per call, the cost
// of the rows and indexes without the per-message commit.
func BenchmarkInsertBatch(b *testing.B) {
	st := openStore(b, b.TempDir())
	ctx := context.Background()
	batch := make([]event.Event, 100)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		for j := range batch {
			batch[j] = benchEvent(i*len(batch) + j)
		}
		if err := st.Insert(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/time.Since(start).Seconds(), "events/s")
}

// BenchmarkEvents measures one page of 100 events over 100,000 rows.
func BenchmarkEvents(b *testing.B) {
	ctx := context.Background()
	st := openStore(b, b.TempDir())
	const rows = 100_000
	batch := make([]event.Event, 0, 1000)
	for i := range rows {
		batch = append(batch, benchEvent(i))
		if len(batch) == cap(batch) {
			if err := st.Insert(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	mid := base.Add(rows / 2 * time.Second)
	page2, err := st.Events(ctx, store.EventQuery{Domain: "gmail.com"})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		q    store.EventQuery
	}{
		{"all", store.EventQuery{}},
		{"type", store.EventQuery{Type: "bounce"}},
		{"email", store.EventQuery{Email: "user45@d45.example"}},
		{"domain_large", store.EventQuery{Domain: "gmail.com"}},
		{"domain_small", store.EventQuery{Domain: "d07.example"}},
		{"domain_type", store.EventQuery{Domain: "gmail.com", Type: "open"}},
		{"source_until", store.EventQuery{Source: "mailjet", Until: mid}},
		{"domain_large_page2", store.EventQuery{Domain: "gmail.com", Cursor: page2.Next}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if page, err := st.Events(ctx, bc.q); err != nil || len(page.Events) == 0 {
				b.Fatalf("Events = %d events, %v; the benchmark needs some", len(page.Events), err)
			}
			for b.Loop() {
				if _, err := st.Events(ctx, bc.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("stats_hour_by_type_day", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.Stats(ctx, store.StatsQuery{By: "type", Interval: time.Hour, Since: base, Until: base.Add(24 * time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
