package backtest

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/hookd/hookd/event"
)

// TestSeries checks series against a plain sorted list: every entry's
// time and seq, and the event kept for the latest tail entries, with
// entries added in time order, out of it, and with equal times.
func TestSeries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spread int64 // how far back an event's time may be
	}{
		{"in order", 0},
		{"a little late", 5},
		{"far late", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(1, 2))
			type entry struct {
				t, seq int64
				e      ref
			}
			var want []entry
			s := &series{}
			for seq := int64(1); seq <= 500; seq++ {
				at := seq
				if tc.spread > 0 && rnd.IntN(3) == 0 {
					at -= rnd.Int64N(tc.spread + 1)
				}
				e := ref{off: uint32(seq)}
				s.add(at, seq, e, true)
				i, _ := slices.BinarySearchFunc(want, at, func(x entry, t int64) int {
					if x.t <= t {
						return -1
					}
					return 1
				})
				want = slices.Insert(want, i, entry{at, seq, e})
				if len(s.times) != len(want) {
					t.Fatalf("%d entries, want %d", len(s.times), len(want))
				}
				for j, w := range want {
					if s.times[j] != w.t || s.seqs[j] != w.seq {
						t.Fatalf("after seq %d: entry %d is (%d, %d), want (%d, %d)", seq, j, s.times[j], s.seqs[j], w.t, w.seq)
					}
					got, ok := s.at(j)
					if j >= len(want)-tail && (!ok || got != w.e) || ok && got != w.e {
						t.Fatalf("after seq %d: entry %d of %d keeps %v %v, want %v", seq, j, len(want), got, ok, w.e)
					}
				}
				for range 4 {
					at := seq - rnd.Int64N(tc.spread+3)
					wantUpper := sort.Search(len(want), func(i int) bool { return want[i].t > at })
					if got := s.upper(at); got != wantUpper {
						t.Fatalf("after seq %d: upper(%d) = %d, want %d", seq, at, got, wantUpper)
					}
				}
				if len(s.evs) != min(tail, len(want)) {
					t.Fatalf("after seq %d: %d events kept, want %d", seq, len(s.evs), min(tail, len(want)))
				}
			}
		})
	}
}

// TestArena checks that an event comes out of an arena as it went in,
// among others and across chunks.
func TestArena(t *testing.T) {
	big := make([]byte, chunkSize+10)
	for i := range big {
		big[i] = 'x'
	}
	events := []event.Event{
		{},
		{ID: "a", Source: "s", Provider: "p", Type: "open", Time: time.Unix(0, 12345).UTC(), Received: time.Unix(7, 0).UTC(),
			Email: "u@d.example", Domain: "d.example", MessageID: "1152921504606846976", Campaign: "c",
			Category: event.Category("open"), BounceClass: event.BounceClass("hard"), Data: []byte(`{"a":1}`)},
		{ID: "big", Data: big},
		{ID: "after", Time: time.Unix(-5, 0).UTC(), Data: []byte(`{}`)},
	}
	var a arena
	var refs []ref
	for i := range 3 * len(events) {
		refs = append(refs, a.put(&events[i%len(events)]))
	}
	for i, r := range refs {
		got, want := a.get(r), events[i%len(events)]
		if len(want.Data) == 0 {
			want.Data = nil
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("event %d: got %+v, want %+v", i, *got, want)
		}
	}
	if len(a.chunks) < 3 {
		t.Errorf("%d chunks: the big events did not get their own", len(a.chunks))
	}
}
