package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestSuppressionsCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	st := openDataStore(t, data)
	for _, e := range []string{"bob@a.com", "ann@a.com"} {
		if _, err := st.Suppress(context.Background(), e, "hard bounce", "clean", "ev-"+e); err != nil {
			t.Fatal(err)
		}
	}
	// A reason from a mail server's answer, with a terminal's escape
	// sequences in it: printed quoted, never run.
	if _, err := st.Suppress(context.Background(), "eve@b.com", "bad\x1b]0;pwned\x07\x1b[2Jreason", "clean", "ev-eve"); err != nil {
		t.Fatal(err)
	}
	// An address with a zero-width space, which shows as bob@a.com does,
	// and a reason with a right-to-left override, which would show the
	// rest of its line backwards: printed quoted, so that neither passes
	// for what it is not.
	if _, err := st.Suppress(context.Background(), "bob\u200b@a.com", "user \u202eunknown", "clean", "ev-zw"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	tests := []struct {
		name    string
		args    []string
		want    string // a regexp-free check: lines in order
		wantErr string
	}{
		{name: "list", args: []string{"list"}, want: "EMAIL SINCE RULE EVENT REASON\nann@a.com TIME clean ev-ann@a.com hard bounce\nbob@a.com TIME clean ev-bob@a.com hard bounce\n" +
			`"bob\u200b@a.com" TIME clean ev-zw "user \u202eunknown"` + "\n" +
			`eve@b.com TIME clean ev-eve "bad\x1b]0;pwned\a\x1b[2Jreason"` + "\n"},
		{name: "list json", args: []string{"list", "--json", "--limit", "1"}, want: `{"email":"ann@a.com","reason":"hard bounce","rule":"clean","event_id":"ev-ann@a.com","created":"TIME"}` + "\n"},
		{name: "remove json", args: []string{"remove", "EVE@b.com", "--json"}, want: `{"removed":"eve@b.com"}` + "\n"},
		{name: "remove", args: []string{"remove", "ANN@a.com"}, want: "ann@a.com removed from the suppression list\n"},
		{name: "remove again", args: []string{"remove", "ann@a.com"}, wantErr: "suppressions remove: ann@a.com is not suppressed (hookd suppressions list shows the list)"},
		{name: "remove not an address", args: []string{"remove", "ann"}, wantErr: `suppressions remove: "ann" is not an address`},
		{name: "list after", args: []string{"list"}, want: "EMAIL SINCE RULE EVENT REASON\nbob@a.com TIME clean ev-bob@a.com hard bounce\n" +
			`"bob\u200b@a.com" TIME clean ev-zw "user \u202eunknown"` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runHookd(t, append([]string{"suppressions", "--data", data}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := clock.ReplaceAllString(stdout, "TIME")
			got = strings.Join(strings.Fields(strings.ReplaceAll(got, "\n", " \n ")), " ")
			want := strings.Join(strings.Fields(strings.ReplaceAll(tt.want, "\n", " \n ")), " ")
			if got != want {
				t.Errorf("output\n%s\nwant\n%s", stdout, tt.want)
			}
		})
	}
}
