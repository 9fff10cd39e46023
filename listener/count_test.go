package listener

import (
	"encoding/json"
	"testing"
)

func TestArrayLen(t *testing.T) {
	for _, tc := range []struct {
		body string
		want int
	}{
		{``, -1},
		{`   `, -1},
		{`{"a":[1,2,3]}`, -1},
		{`"[1,2]"`, -1},
		{`[]`, 0},
		{` [ ] `, 0},
		{"\t\r\n[1]", 1},
		{`[1,2,3]`, 3},
		{`[ 1 , 2 , 3 ]`, 3},
		{`[{"a":1,"b":[1,2,{"c":"]"}]},{}]`, 2},
		{`[[1,2],[3,[4,5]],[]]`, 3},
		{`["a,b", "c\"]", "d\\", "e\\\"f,"]`, 4},
		{`[null,true,false,-1.5e3,"x",{},[]]`, 7},
		{`[{"email":"a@b.c,d"},{"email":"\u005d,"}]`, 2},
		// Not JSON: a count all the same, never a panic.
		{`[1,2`, 2},
		{`["unterminated`, 1},
		{`[1,,2]`, 2},
		{`[1]]]`, 1},
		{`[\`, 1},
	} {
		if got := arrayLen([]byte(tc.body)); got != tc.want {
			t.Errorf("arrayLen(%q) = %d, want %d", tc.body, got, tc.want)
		}
	}
}

// FuzzArrayLen checks arrayLen against encoding/json on every input that is
// valid JSON, and that it never panics on the rest.
func FuzzArrayLen(f *testing.F) {
	for _, s := range []string{`[]`, `[1,"a,]",{"b":[1,2]}]`, `{"a":1}`, `[[],[[]],"\\\""]`, `[1,`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := arrayLen(body)
		if !json.Valid(body) {
			return
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("json.Valid(%q), yet: %v", body, err)
		}
		want := -1
		if a, ok := v.([]any); ok {
			want = len(a)
		}
		if got != want {
			t.Errorf("arrayLen(%q) = %d, want %d", body, got, want)
		}
	})
}
