package jsonenc_test

import (
	"encoding/json"
	"testing"

	"github.com/hookd/hookd/internal/jsonenc"
)

func check(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := jsonenc.AppendString([]byte("x"), s); string(got) != "x"+string(want) {
		t.Fatalf("AppendString(%q) = %s, want x%s", s, got, want)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{
		"", "plain", `"quoted" \back\slash`, "<a href=x>&amp;</a>",
		"\x00\x01\b\f\n\r\t\x1f\x7f", "é ü 日本 \U0001F600", "\u2028 and \u2029",
		"bad \xff \xc3 \xed\xa0\x80 end", "\xe2\x80", "tail\\",
	} {
		check(t, s)
	}
}

// FuzzAppendString compares AppendString with encoding/json on any string.
func FuzzAppendString(f *testing.F) {
	f.Add("<&>\u2028\xff\"\\\n")
	f.Fuzz(check)
}
