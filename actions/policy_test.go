package actions_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
)

func TestPolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    actions.Policy
		wantErr string
	}{
		{in: "10x30s,10x30m", want: actions.Policy{{Tries: 10, Every: 30 * time.Second}, {Tries: 10, Every: 30 * time.Minute}}},
		{in: " 5x10s , 1x1h30m ", want: actions.Policy{{Tries: 5, Every: 10 * time.Second}, {Tries: 1, Every: 90 * time.Minute}}},
		{in: "1x500ms", want: actions.Policy{{Tries: 1, Every: 500 * time.Millisecond}}},
		{in: "none", want: nil},
		{in: " none ", want: nil},
		{in: "none,1x1s", wantErr: `invalid retry step "none"`},
		{in: "0x1s", wantErr: `want a number of tries from 1 to 10000 before the x, or "none" for no retry`},
		{in: "", wantErr: "empty retry policy"},
		{in: "10", wantErr: `invalid retry step "10": want TRIESxINTERVAL`},
		{in: "0x30s", wantErr: "want a number of tries from 1 to 10000"},
		{in: "10001x1s", wantErr: "want a number of tries from 1 to 10000"},
		{in: "10x", wantErr: "want a positive interval"},
		{in: "10x0s", wantErr: "want a positive interval"},
		{in: "10x30s,", wantErr: `invalid retry step ""`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := actions.ParsePolicy(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePolicy(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParsePolicy(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if again, err := actions.ParsePolicy(got.String()); err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("ParsePolicy(%q.String() = %q) = %v, %v", tt.in, got.String(), again, err)
			}
		})
	}
}

func TestPolicyDelay(t *testing.T) {
	p, err := actions.ParsePolicy(actions.DefaultRetry)
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != "10x30s,10x30m" || p.Retries() != 20 {
		t.Errorf("default policy %q retries %d times", p, p.Retries())
	}
	tests := []struct {
		failures int
		want     time.Duration
		ok       bool
	}{
		{-1, 0, false},
		{0, 0, true},
		{1, 30 * time.Second, true},
		{10, 30 * time.Second, true},
		{11, 30 * time.Minute, true},
		{20, 30 * time.Minute, true},
		{21, 0, false},
	}
	for _, tt := range tests {
		if got, ok := p.Delay(tt.failures); got != tt.want || ok != tt.ok {
			t.Errorf("Delay(%d) = %v, %v; want %v, %v", tt.failures, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := actions.Policy(nil).Delay(1); ok {
		t.Error("the zero Policy retries")
	}
	if d, ok := actions.Policy(nil).Delay(0); d != 0 || !ok {
		t.Errorf("the zero Policy's first attempt: Delay(0) = %v, %v; want 0, true", d, ok)
	}
	if s := actions.Policy(nil).String(); s != "none" {
		t.Errorf("the zero Policy is written %q, want none (an empty policy means the default)", s)
	}
}
