package rules_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/rules"
)

func ruleFile(names ...string) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  - name: %s\n    when: type == \"open\"\n    actions:\n      - log: {}\n", n)
	}
	return b.String()
}

func names(s *rules.Set) []string {
	var out []string
	for _, r := range s.Rules() {
		out = append(out, r.Name)
	}
	return out
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(rulesDir, "a.yaml"), filepath.Join(rulesDir, "b.yaml")
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// replace writes as editors do: a new file renamed over the old one.
	replace := func(path, content string) {
		t.Helper()
		write(path+".tmp", content)
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(a, ruleFile("first"))

	var logs testenv.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := rules.NewWatcher(ctx, []string{"rules/*.yaml"}, rules.Options{Dir: dir}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(w.Current()); !reflect.DeepEqual(got, []string{"first"}) {
		t.Fatalf("rules at start: %q", got)
	}
	if s := w.Status(); s.Set != w.Current() || s.Loaded.IsZero() || s.Errors != nil {
		t.Fatalf("status at start: %+v", s)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	has := func(want ...string) func() bool {
		return func() bool { return reflect.DeepEqual(names(w.Current()), want) }
	}

	write(a, ruleFile("second"))
	waitFor(t, "an edited file to reload", has("second"))

	replace(b, ruleFile("third"))
	waitFor(t, "a new file to load", has("second", "third"))
	loaded := w.Status().Loaded

	write(a, ruleFile("second")+"  - name: [broken\n")
	waitFor(t, "a broken file to be reported", func() bool { return len(w.Status().Errors) > 0 })
	s := w.Status()
	if got := names(w.Current()); !reflect.DeepEqual(got, []string{"second", "third"}) {
		t.Errorf("rules after a broken edit: %q, want the previous ones", got)
	}
	if s.Errors[0].File != a || s.Errors[0].Line != 6 || !s.Loaded.Equal(loaded) || !s.Checked.After(loaded) {
		t.Errorf("status after a broken edit: %+v, error %v", s, s.Errors[0])
	}
	waitFor(t, "the failure to be logged", func() bool {
		return strings.Contains(logs.String(), "level=ERROR") && strings.Contains(logs.String(), a+":6:")
	})

	replace(a, ruleFile("fixed"))
	waitFor(t, "the fixed file to load", has("fixed", "third"))
	if s := w.Status(); s.Errors != nil || s.Set != w.Current() {
		t.Errorf("status after the fix: %+v", s)
	}

	// What SIGHUP does: the files have not changed, Reload loads them all
	// the same; a rule name used twice fails and changes nothing.
	before := w.Current()
	if err := w.Reload(ctx); err != nil || w.Current() == before {
		t.Errorf("Reload: %v; set replaced: %v", err, w.Current() != before)
	}
	before = w.Current()
	write(b, ruleFile("third", "fixed"))
	err = w.Reload(ctx)
	var re *rules.Error
	if !errors.As(err, &re) || re.File != b || !strings.Contains(re.Error(), "duplicate rule name") {
		t.Errorf("Reload with a duplicate name: %v", err)
	}
	if w.Current() != before || len(w.Status().Errors) != 1 {
		t.Errorf("after a failed Reload: set replaced %v, status %+v", w.Current() != before, w.Status())
	}

	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a removed file to unload", has("fixed"))
	if s := w.Status(); s.Errors != nil {
		t.Errorf("status after removing the broken file: %+v", s)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
}

// TestWatcherTemplates edits, breaks, removes and restores a template file
// that a rule names, in a directory of its own: each change reloads the
// rules as an edit of the rule file does.
func TestWatcherTemplates(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "rules", "templates", "open.txt")
	if err := os.MkdirAll(filepath.Dir(tmpl), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(tmpl, "Hello {{ .email }}")
	write(filepath.Join(dir, "rules", "mail.yaml"), `rules:
  - name: greet
    when: type == "open"
    actions:
      - mail: { text: templates/open.txt }
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := rules.NewWatcher(ctx, []string{"rules/*.yaml"}, rules.Options{Dir: dir, Body: bodies}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	e := mj(t, "open", map[string]any{"email": "a@example.com"})
	text := func() string {
		ms, err := w.Current().Eval(ctx, e, memLog{e})
		if err != nil || len(ms) != 1 || ms[0].Err != nil {
			t.Fatalf("Eval: %v, %+v", err, ms)
		}
		return ms[0].Actions[0].Params["text"].(string)
	}
	renders := func(want string) func() bool { return func() bool { return text() == want } }
	if got := text(); got != "Hello a@example.com" {
		t.Fatalf("text at start: %q", got)
	}

	write(tmpl, "Hi {{ .email }}")
	waitFor(t, "an edited template to reload", renders("Hi a@example.com"))

	write(tmpl, "Hi {{ .email ")
	waitFor(t, "a broken template to be reported", func() bool { return len(w.Status().Errors) > 0 })
	// At the rule, and where in the template file.
	if err := w.Status().Errors[0]; err.File != filepath.Join(dir, "rules", "mail.yaml") || !strings.Contains(err.Error(), "text: "+tmpl+":1: unclosed action") {
		t.Errorf("error for a broken template: %v", err)
	}
	if got := text(); got != "Hi a@example.com" {
		t.Errorf("text after a broken edit: %q, want the previous template's", got)
	}

	if err := os.Remove(tmpl); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a removed template to be reported", func() bool {
		errs := w.Status().Errors
		return len(errs) > 0 && strings.Contains(errs[0].Error(), "read template file")
	})
	write(tmpl, "Welcome back {{ .email }}")
	waitFor(t, "a restored template to load", renders("Welcome back a@example.com"))
	if s := w.Status(); s.Errors != nil {
		t.Errorf("status after the template came back: %+v", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestWatcherDirectoryReplaced replaces the whole rules directory while the
// Watcher runs, as deployments do, then edits a file in the new one: the
// edit reloads the rules as it would in the directory hookd started with.
func TestWatcherDirectoryReplaced(t *testing.T) {
	tests := []struct {
		name    string
		replace func(t *testing.T, rulesDir, content string)
	}{
		{"renamed over (mv rules.new rules)", func(t *testing.T, rulesDir, content string) {
			next := rulesDir + ".new"
			if err := os.Mkdir(next, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(next, "a.yaml"), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(rulesDir, rulesDir+".old"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(next, rulesDir); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted and made again", func(t *testing.T, rulesDir, content string) {
			if err := os.RemoveAll(rulesDir); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(rulesDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(rulesDir, "a.yaml"), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rulesDir := filepath.Join(dir, "rules")
			if err := os.Mkdir(rulesDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(rulesDir, "a.yaml"), []byte(ruleFile("first")), 0o644); err != nil {
				t.Fatal(err)
			}
			_, has := runWatcher(t, dir)

			// An edit that reloads tells that Run watches the directory.
			if err := os.WriteFile(filepath.Join(rulesDir, "a.yaml"), []byte(ruleFile("watched")), 0o644); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "an edit to reload", has("watched"))

			tt.replace(t, rulesDir, ruleFile("second"))
			waitFor(t, "the new directory's rules to load", has("second"))
			if err := os.WriteFile(filepath.Join(rulesDir, "a.yaml"), []byte(ruleFile("third")), 0o644); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "an edit in the new directory to reload", has("third"))
		})
	}
}

// TestWatcherSymlinkSwapped swaps the symbolic link that the rules
// directory is, as a deployment of releases does, and reloads as serve
// does on SIGHUP: the new release's rules load, and later edits of them
// reload, where the old release's directory was still the one watched.
func TestWatcherSymlinkSwapped(t *testing.T) {
	dir := t.TempDir()
	for _, rel := range []string{"rel1", "rel2"} {
		if err := os.Mkdir(filepath.Join(dir, rel), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel, "a.yaml"), []byte(ruleFile(rel)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "rules")
	if err := os.Symlink("rel1", link); err != nil {
		t.Fatal(err)
	}
	w, has := runWatcher(t, dir)
	// An edit that reloads tells that Run watches the directory.
	if err := os.WriteFile(filepath.Join(dir, "rel1", "a.yaml"), []byte(ruleFile("watched")), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an edit to reload", has("watched"))

	if err := os.Symlink("rel2", link+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link+".new", link); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new release's rules to load", has("rel2"))
	// Twice: Run reads the files once more as it watches them again.
	for _, name := range []string{"edited", "edited-again"} {
		if err := os.WriteFile(filepath.Join(dir, "rel2", "a.yaml"), []byte(ruleFile(name)), 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "an edit in the new release to reload", has(name))
	}
}

// runWatcher runs a Watcher of dir's rules/*.yaml until the test ends,
// when Run must return nil, and returns it with has: has(names...) reports
// whether its current rules are those named.
func runWatcher(t *testing.T, dir string) (w *rules.Watcher, has func(names ...string) func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := rules.NewWatcher(ctx, []string{"rules/*.yaml"}, rules.Options{Dir: dir}, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w, func(want ...string) func() bool {
		return func() bool { return reflect.DeepEqual(names(w.Current()), want) }
	}
}

func TestNewWatcherFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(path, []byte("rules: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := rules.NewWatcher(context.Background(), []string{path}, rules.Options{}, nil)
	var re *rules.Error
	if w != nil || !errors.As(err, &re) || re.File != path {
		t.Errorf("NewWatcher of a broken file = %v, %v", w, err)
	}
}

// TestWatcherUnmatched deletes every rule file a pattern matches while the
// Watcher runs: it warns once, not again on a reload that finds the same,
// and again when the pattern, having matched a file since, matches none.
func TestWatcherUnmatched(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(rulesDir, "a.yaml")
	write := func() {
		t.Helper()
		if err := os.WriteFile(a, []byte(ruleFile("first")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	remove := func() {
		t.Helper()
		if err := os.Remove(a); err != nil {
			t.Fatal(err)
		}
	}
	write()
	var logs testenv.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := rules.NewWatcher(ctx, []string{"rules/*.yaml"}, rules.Options{Dir: dir}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	warning := `level=WARN msg="rules pattern matches no file" pattern=` + filepath.Join(rulesDir, "*.yaml")
	warnings := func() int { return strings.Count(logs.String(), "level=WARN") }
	loads := func() int { return strings.Count(logs.String(), `msg="rules loaded"`) }
	steps := []struct {
		name         string
		change       func()
		wantRules    int
		wantWarnings int
	}{
		{"every file deleted", remove, 0, 1},
		{"the same files reloaded", func() {
			if err := w.Reload(ctx); err != nil {
				t.Fatal(err)
			}
		}, 0, 1},
		{"a file back", write, 1, 1},
		{"deleted again", remove, 0, 2},
	}
	if n := warnings(); n != 0 {
		t.Fatalf("%d warnings at start with a file to match:\n%s", n, logs.String())
	}
	for _, step := range steps {
		before := loads()
		step.change()
		waitFor(t, step.name+" to load", func() bool { return loads() > before && len(w.Current().Rules()) == step.wantRules })
		if n := warnings(); n != step.wantWarnings || !strings.Contains(logs.String(), warning) && n > 0 {
			t.Errorf("after %s: %d warnings, want %d (%s):\n%s", step.name, n, step.wantWarnings, warning, logs.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}

	// serve starts on a pattern that matches nothing: one warning.
	var start testenv.Buffer
	if _, err := rules.NewWatcher(context.Background(), []string{"rules/*.yaml"}, rules.Options{Dir: dir}, slog.New(slog.NewTextHandler(&start, nil))); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(start.String(), "level=WARN"); n != 1 || !strings.Contains(start.String(), warning) {
		t.Errorf("NewWatcher with no file to match: %d warnings, want 1 (%s):\n%s", n, warning, start.String())
	}
}
