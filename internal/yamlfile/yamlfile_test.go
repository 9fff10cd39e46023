package yamlfile_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/yamlfile"
)

func TestExpand(t *testing.T) {
	t.Setenv("HOOKD_T_PASS", "p#:{}'\"")
	tests := []struct {
		in, want  string
		pieces    string // raw>text|... as emitted
		errOffset int    // -1: no error
		errText   string
	}{
		{in: "plain", want: "plain", pieces: "plain>plain", errOffset: -1},
		{in: "pw=${HOOKD_T_PASS}!", want: "pw=p#:{}'\"!", pieces: "pw=>pw=|${HOOKD_T_PASS}>p#:{}'\"|!>!", errOffset: -1},
		{in: "a$${b}", want: "a${b}", pieces: "a>a|$${>${|b}>b}", errOffset: -1},
		{in: "é${HOOKD_T_UNSET_X}", errOffset: 2, errText: "HOOKD_T_UNSET_X is not set"},
		{in: "x ${1BAD}", errOffset: 2, errText: "invalid variable name"},
		{in: "x ${OPEN", errOffset: 2, errText: `without "}"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var pieces []string
			err := yamlfile.Expand(tt.in, func(raw, text, _ string) { pieces = append(pieces, raw+">"+text) })
			if tt.errOffset >= 0 {
				var ee *yamlfile.ExpandError
				if !errors.As(err, &ee) || ee.Offset != tt.errOffset || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v (%+v), want offset %d and %q", err, ee, tt.errOffset, tt.errText)
				}
				if strings.Contains(err.Error(), "p#:") {
					t.Fatal("error quotes a value")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(pieces, "|"); got != tt.pieces {
				t.Errorf("pieces = %q, want %q", got, tt.pieces)
			}
			if got, err := yamlfile.ExpandString(tt.in); err != nil || got != tt.want {
				t.Errorf("ExpandString = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
