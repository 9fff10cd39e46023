package retention

import (
	"testing"
	"time"
)

func TestDefaultInterval(t *testing.T) {
	for _, tc := range []struct {
		events, log, want time.Duration
	}{
		{events: 90 * 24 * time.Hour, log: 400 * 24 * time.Hour, want: time.Hour},
		{events: 10 * time.Hour, want: time.Hour},
		{events: time.Hour, log: 24 * time.Hour, want: 6 * time.Minute},
		{events: 4 * time.Minute, log: 24 * time.Hour, want: time.Minute},
		{log: 24 * time.Hour, want: time.Hour},
		{log: 2 * time.Hour, want: 12 * time.Minute},
	} {
		if got := defaultInterval(tc.events, tc.log); got != tc.want {
			t.Errorf("defaultInterval(%v, %v) = %v, want %v", tc.events, tc.log, got, tc.want)
		}
	}
}
