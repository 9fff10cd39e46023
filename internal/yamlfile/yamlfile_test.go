package yamlfile_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/parser"

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

func TestWithin(t *testing.T) {
	laughs := "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
	for i := 1; i <= 9; i++ {
		laughs += fmt.Sprintf("a%d: &a%d [%s*a%d]\n", i, i, strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 8), i-1)
	}
	tests := []struct {
		name, src string
		limit     int
		want      bool
	}{
		// The document, the mapping, two entries, two keys, 1, the list
		// and its two items.
		{"plain", "a: 1\nb: [x, y]\n", 10, true},
		{"one node too many", "a: 1\nb: [x, y]\n", 9, false},
		// Each alias is the anchor's four nodes, written once.
		{"an alias counts its anchor's nodes each time", "a: &x [1, 2]\nb: *x\nc: *x\n", 20, true},
		{"each time, one too many", "a: &x [1, 2]\nb: *x\nc: *x\n", 19, false},
		{"a billion laughs", laughs, 1_000_000, false},
		{"an alias inside its own anchor", "a: &x [1, *x]\n", 1_000_000, false},
		{"an unknown alias", "a: *nothing\n", 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file, err := parser.ParseBytes([]byte(tt.src), 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := yamlfile.Within(file.Docs[0], tt.limit); got != tt.want {
				t.Errorf("Within(%d) = %v, want %v", tt.limit, got, tt.want)
			}
		})
	}
}
