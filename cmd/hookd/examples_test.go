package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The end-to-end tests of examples/: each runs the real hookd binary with
// an example's own configuration, rules, templates and sample events, only
// the addresses of what its actions talk to (the catcher's defaults,
// 127.0.0.1:1025 and http://127.0.0.1:8025) pointed at servers started by
// the test, and asserts every side effect.

// exampleDir copies examples/name to a temporary directory, replaces each
// old with its new in the .yaml files (each old must be found), and
// returns the copy's directory.
func exampleDir(t *testing.T, name string, replace map[string]string) string {
	t.Helper()
	src := filepath.Join("..", "..", "examples", name)
	dst := filepath.Join(t.TempDir(), name)
	found := map[string]bool{}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if d.Name() == "data" {
				return filepath.SkipDir // left by someone trying the example
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o750)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".yaml") {
			s := string(b)
			for old, new := range replace {
				if strings.Contains(s, old) {
					found[old] = true
					s = strings.ReplaceAll(s, old, new)
				}
			}
			b = []byte(s)
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	for old := range replace {
		if !found[old] {
			t.Fatalf("examples/%s: %q not found in its configuration", name, old)
		}
	}
	return dst
}

// hookdSend runs `hookd send` (the binary) with args, as the example's
// README does, and fails the test unless every request was answered 200.
func hookdSend(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, hookdBinary(t), append([]string{"send"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("hookd send %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// apiJob is what the tests read of a job from /api/jobs.
type apiJob struct {
	ID      int64           `json:"id"`
	Key     string          `json:"key"`
	Rule    string          `json:"rule"`
	Action  string          `json:"action"`
	Target  string          `json:"target"`
	Status  string          `json:"status"`
	EventID string          `json:"event_id"`
	Params  json.RawMessage `json:"params"`
	History []struct {
		Error string `json:"error"`
		Note  string `json:"note"`
	} `json:"history"`
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// settle waits, at most 60 s, until the store holds events events (the
// rules ran on each in the transaction that stored it, so every job they
// make exists) and no job is pending or running, and returns the jobs,
// oldest first.
func settle(t *testing.T, p *proc, events int) []apiJob {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var evs struct{ Events []json.RawMessage }
		getJSON(t, p.admin+"/api/events?limit=1000", &evs)
		var jobs struct{ Jobs []apiJob }
		getJSON(t, p.admin+"/api/jobs?limit=1000", &jobs)
		busy := slices.ContainsFunc(jobs.Jobs, func(j apiJob) bool { return j.Status == "pending" || j.Status == "running" })
		if len(evs.Events) == events && !busy {
			slices.Reverse(jobs.Jobs)
			return jobs.Jobs
		}
		if len(evs.Events) > events {
			t.Fatalf("%d events stored, want %d", len(evs.Events), events)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: %d events stored (want %d), jobs %+v\n%s", len(evs.Events), events, jobs.Jobs, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jobSummary lists jobs as "rule action target status note", one a line.
func jobSummary(jobs []apiJob) string {
	var b strings.Builder
	for _, j := range jobs {
		note := ""
		if n := len(j.History); n > 0 {
			note = j.History[n-1].Note + j.History[n-1].Error
		}
		fmt.Fprintf(&b, "%s %s %s %s %s\n", j.Rule, j.Action, j.Target, j.Status, note)
	}
	return b.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newRequest returns a function that sends a request without a body and
// returns its status code.
func newRequest(method, url string) (func() (int, error), error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return nil, err
	}
	return func() (int, error) {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}, nil
}

// TestExamplesAfterQuickStart loads each example's configuration as its
// README runs it, from the repository's root, where the README's quick
// start (hookd serve on the built-in configuration) has left hookd's files
// in ./data: an example keeps its own data beside its hookd.yaml, and
// hookd refuses a file that leaves data out while ./data of the working
// directory holds hookd's files, taking it for a file written before data
// followed the file.
func TestExamplesAfterQuickStart(t *testing.T) {
	t.Setenv("MJ_APIKEY_PUBLIC", "try")
	t.Setenv("MJ_APIKEY_PRIVATE", "try")
	t.Setenv("SENDGRID_API_KEY", "try")
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", "hookd.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples/*/hookd.yaml: %v", err)
	}
	dirs := map[string]string{}
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f))
		dirs[name] = exampleDir(t, name, nil)
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "data"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "data", "hookd.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, err := runHookd(t, "check", "--config", filepath.Join(dir, "hookd.yaml"))
			if err != nil {
				t.Fatalf("hookd check: %v\n%s%s", err, stdout, stderr)
			}
		})
	}
}
