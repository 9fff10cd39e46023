package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/golden"

	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// seedStore writes events into a store in a new data directory and leaves
// the store open, as a running hookd serve would.
func seedStore(t *testing.T) (data string, events []event.Event) {
	t.Helper()
	data = filepath.Join(t.TempDir(), "data")
	st := openDataStore(t, data)
	t.Cleanup(func() { st.Close() })
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rows := []struct {
		typ, email, campaign, source string
		category                     event.Category
		class                        event.BounceClass
	}{
		{"sent", "ann@a.com", "spring", "mailjet", event.Delivered, ""},
		{"open", "ann@a.com", "spring", "mailjet", event.Open, ""},
		{"click", "bob@b.org", "spring", "mailjet", event.Click, ""},
		{"bounce", "cat@b.org", "", "transactional", event.Bounce, event.Soft},
		{"blocked", "dan@c.net", "summer sale", "mailjet", event.Blocked, ""},
		{"spam", "eve\x1b[31m@c.net", "", "mailjet", event.Complaint, ""},
	}
	// Some have a fraction of a second, as providers' times may have.
	fractions := []time.Duration{0, 0, 0, 907 * time.Millisecond, 500 * time.Millisecond, 123456789}
	for i, r := range rows {
		at := base.Add(time.Duration(i)*90*time.Second + fractions[i])
		email, domain := event.NormalizeEmail(r.email)
		events = append(events, event.Event{
			ID: fmt.Sprintf("mailjet:%02d", i), Source: r.source, Provider: "mailjet", Type: r.typ,
			Time: at, Received: at.Add(time.Second), Email: email, Domain: domain,
			MessageID: fmt.Sprint(1152921504606846976 + i), Campaign: r.campaign, Category: r.category, BounceClass: r.class,
			Data: json.RawMessage(fmt.Sprintf(`{"event":%q,"MessageID":%d}`, r.typ, 1152921504606846976+i)),
		})
	}
	if err := st.Insert(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	return data, events
}

func TestEventsCommand(t *testing.T) {
	data, _ := seedStore(t)
	// The server's file, read from a shell without the server's secrets:
	// a listing needs only data and store.
	t.Setenv("HOOKD_TEST_UNSET", "")
	os.Unsetenv("HOOKD_TEST_UNSET")
	cfg := writeFile(t, "hookd.yaml", fmt.Sprintf("data: %q\nsources:\n  - name: mailjet\n    provider: mailjet\n"+
		"    auth: { basic: { user: hookd, password: \"${HOOKD_TEST_UNSET}\" } }\n", data))
	tests := []struct {
		name, golden string
		args         []string
		stderr       string
	}{
		{name: "all", golden: "all.txt", args: []string{"--data", data}},
		{name: "filters", golden: "filters.txt", args: []string{"--data", data, "--domain", "B.ORG", "--since", "2025-03-01T12:03:00Z"}},
		{name: "config", golden: "filters.txt", args: []string{"--config", cfg, "--domain", "b.org", "--until", "2025-03-01T12:05:00Z"}},
		{name: "limit", golden: "limit.txt", args: []string{"--data", data, "--limit", "2"}, stderr: "more events match: repeat with --cursor "},
		{name: "none", golden: "none.txt", args: []string{"--data", data, "--type", "unsub"},
			stderr: "no stored event has type \"unsub\" (types stored: blocked, bounce, click, open, sent, spam)\n"},
		// A type or source no event has, near one that some have, is
		// taken for a typo; one that events have says nothing, though
		// none is in the window.
		{name: "type typo", golden: "none.txt", args: []string{"--data", data, "--type", "clik"},
			stderr: "no stored event has type \"clik\": did you mean click? (types stored: blocked, bounce, click, open, sent, spam)\n"},
		{name: "source typo", golden: "none.txt", args: []string{"--data", data, "--source", "mailjett"},
			stderr: "no stored event has source \"mailjett\": did you mean mailjet? (sources stored: mailjet, transactional)\n"},
		{name: "type stored, not then", golden: "none.txt", args: []string{"--data", data, "--type", "click", "--until", "2025-03-01"}},
		{name: "dates", golden: "all.txt", args: []string{"--data", data, "--since", "2025-03-01", "--until", "2025-03-02"}},
		{name: "until a date", golden: "none.txt", args: []string{"--data", data, "--until", "2025-03-01"}},
		{name: "campaign", golden: "campaign.txt", args: []string{"--data", data, "--campaign", "summer sale"}},
		{name: "category and class", golden: "soft-bounces.txt", args: []string{"--data", data, "--category", "bounce", "--bounce-class", "soft"}},
		{name: "category", golden: "none.txt", args: []string{"--data", data, "--category", "bounce", "--bounce-class", "hard"}},
		// The time of an event as the table shows it selects that event.
		{name: "since a time of the table", golden: "since-bounce.txt", args: []string{"--data", data, "--since", "2025-03-01T12:04:30.907Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHookd(t, append([]string{"events"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(stderr, tt.stderr) || (tt.stderr == "") != (stderr == "") || strings.HasSuffix(tt.stderr, "\n") && stderr != tt.stderr {
				t.Errorf("stderr = %q, want it to start with %q", stderr, tt.stderr)
			}
			goldenText(t, filepath.Join("testdata", "events", tt.golden), stdout)
		})
	}
}

// TestEventsCommandCursor follows the --cursor notes through every page.
func TestEventsCommandCursor(t *testing.T) {
	data, events := seedStore(t)
	var ids []string
	args := []string{"events", "--data", data, "--limit", "4", "--json"}
	for range len(events) {
		stdout, stderr, err := runHookd(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(stdout) {
			var e event.Event
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			ids = append(ids, e.ID)
		}
		cursor, ok := strings.CutPrefix(strings.TrimSpace(stderr), "more events match: repeat with --cursor ")
		if !ok {
			break
		}
		args = []string{"events", "--data", data, "--limit", "4", "--json", "--cursor", cursor}
	}
	if got := strings.Join(ids, " "); got != "mailjet:05 mailjet:04 mailjet:03 mailjet:02 mailjet:01 mailjet:00" {
		t.Fatalf("pages hold %s", got)
	}
}

func TestEventsCommandJSON(t *testing.T) {
	data, events := seedStore(t)
	stdout, _, err := runHookd(t, "events", "--data", data, "--json", "--email", "ANN@a.com")
	if err != nil {
		t.Fatal(err)
	}
	// Each line is the event as the API lists it.
	var want bytes.Buffer
	for _, e := range []event.Event{events[1], events[0]} {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		want.Write(append(b, '\n'))
	}
	if stdout != want.String() {
		t.Fatalf("stdout:\n%s\nwant:\n%s", stdout, want.String())
	}
}

func TestEventsCommandFails(t *testing.T) {
	data, _ := seedStore(t)
	missing := filepath.Join(t.TempDir(), "missing")
	empty := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no data directory", []string{"--data", missing}, "events: data directory " + missing + " does not exist"},
		{"no store", []string{"--data", empty}, "events: open store: sqlite: " + filepath.Join(empty, store.FileName) + " does not exist"},
		{"limit zero", []string{"--data", data, "--limit", "0"}, "events: --limit 0: want 1 to 1000"},
		{"limit too large", []string{"--data", data, "--limit", "1001"}, "events: --limit 1001: want 1 to 1000"},
		{"bad since", []string{"--data", data, "--since", "yesterday"}, `events: --since "yesterday" is not an RFC 3339 time such as 2025-03-01T12:00:00Z, a date such as 2025-03-01 (its midnight UTC) or a duration ago such as 24h`},
		{"bad until", []string{"--data", data, "--until", "-1h"}, `events: --until "-1h" is not an RFC 3339 time`},
		{"since after until", []string{"--data", data, "--since", "1h", "--until", "2h"}, "events: --since: "},
		{"bad cursor", []string{"--data", data, "--cursor", "x"}, `events: --cursor: "x" is not a cursor`},
		{"bad category", []string{"--data", data, "--category", "bounced"}, `events: --category: "bounced" is not one of [sent delivered`},
		{"bad bounce class", []string{"--data", data, "--bounce-class", "permanent"}, `events: --bounce-class: "permanent" is not hard or soft`},
		{"unknown flag", []string{"--data", data, "--typ", "open"}, "unknown flag: --typ"},
		{"argument", []string{"--data", data, "open"}, `unknown command "open"`},
		{"bad config", []string{"--config", filepath.Join(missing, "hookd.yaml")}, "load config: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runHookd(t, append([]string{"events"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the missing data directory was created: %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, store.FileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a store was created in the empty data directory: %v", err)
	}
}

// goldenText compares got with the file at path, or rewrites the file
// with -update.
func goldenText(t *testing.T, path, got string) {
	t.Helper()
	golden.Check(t, path, []byte(got), *update)
}

// TestEventsCommandLarge lists events larger than a store page holds a few
// of (store.PageBytes): --limit still counts events, not store pages, and
// the cursor note continues after the last one printed.
func TestEventsCommandLarge(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	st := openDataStore(t, data)
	t.Cleanup(func() { st.Close() })
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var events []event.Event
	for i := range 12 {
		at := base.Add(time.Duration(i) * time.Second)
		events = append(events, event.Event{
			ID: fmt.Sprintf("big-%02d", i), Source: "mailjet", Provider: "mailjet", Type: "open",
			Time: at, Received: at, Email: "fat@x.com", Domain: "x.com", MessageID: fmt.Sprint(i),
			Data: json.RawMessage(fmt.Sprintf(`{"event":"open","p":%q}`, strings.Repeat("z", 1<<20))),
		})
	}
	if err := st.Insert(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		want  string
		more  bool
		table bool
	}{
		{name: "json", args: []string{"--limit", "10", "--json"}, want: "big-11 big-10 big-09 big-08 big-07 big-06 big-05 big-04 big-03 big-02", more: true},
		{name: "table", args: []string{"--limit", "10"}, want: "big-11 big-10 big-09 big-08 big-07 big-06 big-05 big-04 big-03 big-02", more: true, table: true},
		{name: "all", args: []string{"--limit", "1000", "--json"}, want: "big-11 big-10 big-09 big-08 big-07 big-06 big-05 big-04 big-03 big-02 big-01 big-00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHookd(t, append([]string{"events", "--data", data}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for line := range strings.Lines(stdout) {
				if tt.table {
					if f := strings.Fields(line); f[0] != "TIME" {
						ids = append(ids, f[len(f)-1])
					}
					continue
				}
				var e event.Event
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("line of %d bytes: %v", len(line), err)
				}
				ids = append(ids, e.ID)
			}
			if got := strings.Join(ids, " "); got != tt.want {
				t.Fatalf("listed %s, want %s", got, tt.want)
			}
			cursor, more := strings.CutPrefix(strings.TrimSpace(stderr), "more events match: repeat with --cursor ")
			if more != tt.more {
				t.Fatalf("stderr = %q, want a cursor note: %v", stderr, tt.more)
			}
			if !more {
				return
			}
			stdout, _, err = runHookd(t, "events", "--data", data, "--json", "--cursor", cursor)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(stdout, "\n"); n != 2 || !strings.Contains(stdout, `"id":"big-01"`) || !strings.Contains(stdout, `"id":"big-00"`) {
				t.Fatalf("after the cursor: %d lines, want big-01 and big-00", n)
			}
		})
	}
}
