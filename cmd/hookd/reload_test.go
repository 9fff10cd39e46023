package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestReloadChangedKeys(t *testing.T) {
	const base = "listen: \":8080\"\nsources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - rules/*.yaml\n"
	tests := []struct {
		name, after string
		want        []string
	}{
		{"same content, other layout", "listen: ':8080'\nsources: [{name: mailjet, provider: mailjet}]\nrules: [rules/*.yaml]\n", []string{}},
		{"rule glob added", base + "  - more/*.yaml\n", []string{"rules"}},
		{"key added", base + "data: /srv/hookd\n", []string{"data"}},
		{"key removed", "sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - rules/*.yaml\n", []string{"listen"}},
		{"two changed", "listen: \":9090\"\nsources:\n  - name: sg\n    provider: sendgrid\nrules:\n  - rules/*.yaml\n", []string{"listen", "sources"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := changedKeys([]byte(base), []byte(tt.after))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("changedKeys = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := changedKeys([]byte(base), []byte("rules: [\n")); err == nil {
		t.Error("changedKeys of a file that does not parse: no error")
	}
	// Merge keys merging mappings that merge a mapping nine times, nine
	// times over: decoded, billions of mappings.
	bomb := base + "x:\n  m0: &m0 {a: 1}\n"
	for i := 1; i <= 11; i++ {
		bomb += fmt.Sprintf("  m%d: &m%d {<<: [%s]}\n", i, i, strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 8)+fmt.Sprintf("*m%d", i-1))
	}
	done := make(chan error, 1)
	go func() {
		_, err := changedKeys([]byte(base), []byte(bomb))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "aliases expand it to more than 1000000 values") {
			t.Errorf("changedKeys of a file whose aliases expand to billions of values: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("changedKeys of a file whose aliases expand to billions of values has not returned after 10 s")
	}
}

// TestReloadHupConfigChanged edits hookd.yaml under a running hookd and
// sends SIGHUP: the rule files reload, and a warning names the file and
// the keys that changed, which apply only at a restart. A SIGHUP with the
// file as it started warns of nothing.
func TestReloadHupConfigChanged(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("rules:\n  - name: on-open\n    when: type == \"open\"\n    actions:\n      - log: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "hookd.yaml")
	src := "sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - rules.yaml\n"
	if err := os.WriteFile(config, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHookd(t, t.TempDir(), "--config", config)

	type record struct {
		Level, Msg, File string
		Keys             []string
	}
	// hup sends SIGHUP and returns the records logged after it, until the
	// rule files reloaded.
	hup := func() []record {
		t.Helper()
		from := len(p.output())
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			var recs []record
			reloaded := false
			for line := range strings.Lines(p.output()[from:]) {
				var r record
				if json.Unmarshal([]byte(line), &r) == nil {
					recs = append(recs, r)
					reloaded = reloaded || r.Msg == "rules loaded"
				}
			}
			if reloaded {
				return recs
			}
			if time.Now().After(deadline) {
				t.Fatalf("no reload after SIGHUP\n%s", p.output()[from:])
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	changed := func(recs []record) []record {
		var out []record
		for _, r := range recs {
			if strings.HasPrefix(r.Msg, "configuration file changed") {
				out = append(out, r)
			}
		}
		return out
	}
	if w := changed(hup()); len(w) != 0 {
		t.Errorf("SIGHUP with the file unchanged warned: %+v", w)
	}
	if err := os.WriteFile(config, []byte(src+"  - more/*.yaml\nlimits: { max_body: 2MiB }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := changed(hup())
	if len(w) != 1 || w[0].Level != "WARN" || w[0].File != config || !slices.Equal(w[0].Keys, []string{"limits", "rules"}) {
		t.Errorf("SIGHUP after editing %s logged %+v, want one WARN naming the file and keys [limits rules]", config, w)
	}
}

// hupAndWait sends p SIGHUP and waits until it has handled it (without
// rules, its last line is "SIGHUP: no rule files to reload"); it returns
// what p logged meanwhile.
func hupAndWait(t *testing.T, p *proc) string {
	t.Helper()
	const done = `"msg":"SIGHUP: no rule files to reload"`
	before := p.output()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := p.output()
		if strings.Count(out, done) > strings.Count(before, done) {
			return out[len(before):]
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP not handled after 10 s\n%s", out[len(before):])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// statusOf posts a Mailjet open event to url and returns the status.
func statusOf(t *testing.T, url string, n int) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(openEvent(n)))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestReloadSources edits the sources of a running hookd and sends
// SIGHUP: a token rotated in the file, then in a secret file the file
// names, applies at once (the old token 401, the new one 200); a source
// added serves its path and stores its events, one removed is 404, and a
// moved one serves its new path only. One info line names the sources
// added, removed and changed, no token; nothing is warned of, as only
// sources changed.
func TestReloadSources(t *testing.T) {
	dir := t.TempDir()
	const t1, t2, t3 = "token-one-0123456789", "token-two-0123456789", "token-three-0123456789"
	secret := filepath.Join(dir, "token")
	if err := os.WriteFile(secret, []byte(t2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "hookd.yaml")
	write := func(src string) {
		t.Helper()
		if err := os.WriteFile(config, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("sources:\n" +
		"  - {name: tok, provider: mailjet, auth: {token: {value: " + t1 + "}}}\n" +
		"  - {name: gone, provider: mailjet}\n" +
		"  - {name: moved, provider: mailjet}\n")
	p := startHookd(t, t.TempDir(), "--config", config)
	n := 0
	want := func(path string, status int) {
		t.Helper()
		n++
		if got := statusOf(t, p.hooks+path, n); got != status {
			t.Errorf("POST %s: %d, want %d", path, got, status)
		}
	}
	want("/hooks/tok?token="+t1, 200)
	want("/hooks/gone", 200)
	want("/hooks/moved", 200)

	write("sources:\n" +
		"  - {name: tok, provider: mailjet, auth: {token: {value: " + t2 + "}}}\n" +
		"  - {name: moved, provider: mailjet, path: /hooks/elsewhere}\n" +
		"  - {name: added, provider: mailjet}\n")
	logged := hupAndWait(t, p)
	want("/hooks/tok?token="+t1, 401)
	want("/hooks/tok/"+t1, 401)
	want("/hooks/tok?token="+t2, 200)
	want("/hooks/tok/"+t2, 200)
	want("/hooks/gone", 404)
	want("/hooks/moved", 404)
	want("/hooks/elsewhere", 200)
	n++
	ids, err := idsOf(openEvent(n))
	if err != nil {
		t.Fatal(err)
	}
	postHookTo(t, p.hooks, "added", openEvent(n))
	if missing := waitStored(t, p.admin, map[string]bool{ids[0]: true}); len(missing) > 0 {
		t.Errorf("event posted to the added source not in /api/events: %v", missing)
	}
	type record struct {
		Level, Msg              string
		Added, Removed, Changed []string
	}
	var reloaded []record
	for line := range strings.Lines(logged) {
		var r record
		if json.Unmarshal([]byte(line), &r) == nil && r.Msg == "sources reloaded" {
			reloaded = append(reloaded, r)
		}
	}
	if len(reloaded) != 1 || reloaded[0].Level != "INFO" || !slices.Equal(reloaded[0].Added, []string{"added"}) ||
		!slices.Equal(reloaded[0].Removed, []string{"gone"}) || !slices.Equal(reloaded[0].Changed, []string{"moved", "tok"}) {
		t.Errorf("SIGHUP logged %+v, want one INFO line: added [added], removed [gone], changed [moved tok]\n%s", reloaded, logged)
	}
	if strings.Contains(logged, "configuration file changed") {
		t.Errorf("SIGHUP after a change of sources only warned of a restart\n%s", logged)
	}

	// The token from a secret file, then the file's content changed.
	write("sources:\n" +
		"  - {name: tok, provider: mailjet, auth: {token: {value: \"file:" + secret + "\"}}}\n" +
		"  - {name: moved, provider: mailjet, path: /hooks/elsewhere}\n" +
		"  - {name: added, provider: mailjet}\n")
	if logged := hupAndWait(t, p); strings.Contains(logged, "configuration file changed") {
		t.Errorf("SIGHUP after a change of sources only warned of a restart\n%s", logged)
	}
	want("/hooks/tok?token="+t2, 200)
	if err := os.WriteFile(secret, []byte(t3+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logged = hupAndWait(t, p)
	if !strings.Contains(logged, `"msg":"sources reloaded"`) {
		t.Errorf("SIGHUP after the secret file changed did not reload the sources\n%s", logged)
	}
	want("/hooks/tok?token="+t2, 401)
	want("/hooks/tok?token="+t3, 200)

	// Unchanged: nothing reloaded, nothing warned.
	if logged := hupAndWait(t, p); strings.Contains(logged, "sources reloaded") || strings.Contains(logged, `"level":"WARN"`) {
		t.Errorf("SIGHUP with nothing changed logged\n%s", logged)
	}
	for _, tok := range []string{t1, t2, t3} {
		if strings.Contains(p.output(), tok) {
			t.Errorf("hookd logged the token %s", tok)
		}
	}
	p.stop(t)
}

// TestReloadSourcesBadFile sends SIGHUP with a configuration file that
// does not load: the error is logged with its file, line and field, and
// the running sources serve on; a change of another key beside one of the
// sources is applied for the sources and warned of for the other key.
func TestReloadSourcesBadFile(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "hookd.yaml")
	write := func(src string) {
		t.Helper()
		if err := os.WriteFile(config, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const good = "sources:\n  - name: a\n    provider: mailjet\n"
	write(good)
	p := startHookd(t, t.TempDir(), "--config", config)
	write(good + "  - name: b\n    provider: nosuch\n")
	logged := hupAndWait(t, p)
	var rec struct{ Level, Msg, File, Err string }
	for line := range strings.Lines(logged) {
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "configuration file does not load") {
			break
		}
		rec.Msg = ""
	}
	if rec.Level != "ERROR" || rec.File != config || !strings.Contains(rec.Err, config+`:5:15: sources[1].provider: unknown provider "nosuch"`) {
		t.Errorf("SIGHUP with a file that does not load logged %+v, want an ERROR naming %s:5:15: sources[1].provider\n%s", rec, config, logged)
	}
	if got := statusOf(t, p.hooks+"/hooks/a", 1); got != 200 {
		t.Errorf("POST /hooks/a after a file that does not load: %d, want 200", got)
	}
	if got := statusOf(t, p.hooks+"/hooks/b", 2); got != 404 {
		t.Errorf("POST /hooks/b of a file that does not load: %d, want 404", got)
	}

	write(good + "  - name: b\n    provider: mailjet\nlimits: {max_body: 2MiB}\n")
	logged = hupAndWait(t, p)
	if got := statusOf(t, p.hooks+"/hooks/b", 3); got != 200 {
		t.Errorf("POST /hooks/b once added: %d, want 200", got)
	}
	var warn struct {
		Level, Msg string
		Keys       []string
	}
	for line := range strings.Lines(logged) {
		if json.Unmarshal([]byte(line), &warn) == nil && strings.HasPrefix(warn.Msg, "configuration file changed") {
			break
		}
		warn.Msg = ""
	}
	if warn.Level != "WARN" || !slices.Equal(warn.Keys, []string{"limits"}) {
		t.Errorf("SIGHUP after a change of limits and sources warned %+v, want keys [limits]\n%s", warn, logged)
	}
	p.stop(t)
}

// TestReloadSourcesUnderLoad posts events from several goroutines while
// the source they post to changes (max_body) and another comes and goes,
// SIGHUP after SIGHUP: no request fails (5xx, or no answer), and every
// event answered 200 is stored.
func TestReloadSourcesUnderLoad(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "hookd.yaml")
	p := func() *proc {
		if err := os.WriteFile(config, []byte("sources:\n  - {name: mailjet, provider: mailjet}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return startHookd(t, t.TempDir(), "--config", config)
	}()
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		next  atomic.Int64
		oks   atomic.Int64
		halt  = make(chan struct{})
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-halt:
					return
				default:
				}
				body := openEvent(int(next.Add(1)))
				resp, err := client.Post(p.hooks+"/hooks/mailjet", "application/json", strings.NewReader(body))
				if err != nil {
					t.Errorf("POST during reloads: %v", err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("POST during reloads: %d, want 200", resp.StatusCode)
					return
				}
				ids, err := idsOf(body)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[ids[0]] = true
				mu.Unlock()
				oks.Add(1)
			}
		})
	}
	for i := range 8 {
		src := "sources:\n  - {name: mailjet, provider: mailjet, max_body: 1MiB}\n"
		if i%2 == 1 {
			src = "sources:\n  - {name: mailjet, provider: mailjet, max_body: 2MiB}\n  - {name: other, provider: mailjet}\n"
		}
		if err := os.WriteFile(config, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		if logged := hupAndWait(t, p); !strings.Contains(logged, `"msg":"sources reloaded"`) {
			t.Errorf("SIGHUP %d did not reload the sources\n%s", i, logged)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(halt)
	wg.Wait()
	if oks.Load() < 10 {
		t.Fatalf("only %d requests answered 200 across the reloads", oks.Load())
	}
	t.Logf("%d requests answered 200 across 8 reloads", oks.Load())
	if missing := waitStored(t, p.admin, acked); len(missing) > 0 {
		t.Errorf("%d of %d events answered 200 not in /api/events, e.g. %s", len(missing), len(acked), missing[0])
	}
	p.stop(t)
}
