package mailjet_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/listener/mailjet"
)

// BenchmarkDecode measures one Version 1 open event and a Version 2 array of
// 100 events, the size the listener commits in one transaction.
func BenchmarkDecode(b *testing.B) {
	open := bytes.TrimSpace(readFile(b, filepath.Join("testdata", "open.json")))
	batch := []byte{'['}
	for i := range 100 {
		if i > 0 {
			batch = append(batch, ',')
		}
		batch = append(batch, open...)
	}
	batch = append(batch, ']')

	for _, bm := range []struct {
		name   string
		body   []byte
		events int
	}{
		{"open", open, 1},
		{"v2-100", batch, 100},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(bm.body)))
			b.ReportAllocs()
			for b.Loop() {
				events, err := mailjet.Decode(bm.body)
				if err != nil || len(events) != bm.events {
					b.Fatalf("Decode: %d events, %v", len(events), err)
				}
			}
		})
	}
}
