package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/sqlite"
)

// BenchmarkAppend measures ingest: one Append of a batch of events of about
// 600 bytes, each with its own dedup key, to a real file with fsync on every
// commit; events/s is the figure the package doc quotes. keys=hash uses ids
// as the provider adapters make them (event.Hash), which land at random
// places in the dedup index; keys=ordered uses ids that grow with time, for
// comparison (see "Throughput" in the package doc).
func BenchmarkAppend(b *testing.B) {
	payload := []byte(`{"event":"open","time":1700000000,"MessageID":19421777835146490,"Message_GUID":"1ab23cd4-e567-8901-2345-6789f0gh1i2j",` +
		`"email":"api@mailjet.com","mj_campaign_id":7173,"mj_contact_id":320,"customcampaign":"","CustomID":"helloworld",` +
		`"Payload":"","ip":"127.0.0.1","geo":"US","agent":"Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/30.0.1599.101 Safari/537.36",` +
		`"url":"https://example.com/some/landing/page?utm_source=newsletter&utm_medium=email&utm_campaign=spring",` +
		`"data":{"list":"customers","segment":"early-openers","note":"` + strings.Repeat("x", 120) + `"}}`)
	keys := []struct {
		name string
		id   func(n int) string
	}{
		// One event time for all: the hash part of the ids then decides
		// their place in the index, as random keys would.
		{"hash", func(n int) string { return event.Hash("mailjet", time.Unix(1700000000, 0), strconv.Itoa(n)) }},
		{"ordered", func(n int) string { return fmt.Sprintf("mailjet:%016x", n) }},
	}
	for _, batch := range []int{1, 100} {
		for _, k := range keys {
			b.Run(fmt.Sprintf("batch=%d/keys=%s", batch, k.name), func(b *testing.B) {
				l, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), sqlite.FileName), sqlite.Config{})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				msgs := make([]*message.Message, batch)
				n := 0
				b.SetBytes(int64(len(payload) * batch))
				b.ReportAllocs()
				for b.Loop() {
					// New messages each time, as the listener makes
					// them; making them is part of the measured loop.
					for i := range msgs {
						n++
						id := k.id(n)
						m := message.NewMessage(id, payload)
						m.Metadata.Set(eventlog.DedupKey, id)
						msgs[i] = m
					}
					if _, err := l.Append(context.Background(), eventlog.TopicEvents, msgs); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
