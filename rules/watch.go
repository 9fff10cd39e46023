package rules

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hookd/hookd/config"
)

// debounce is how long the Watcher waits after a change for the next one
// before it reloads: an editor's save, or a deployment replacing several
// files, is one reload.
const debounce = 100 * time.Millisecond

// Watcher keeps a rule Set current. It reloads the rule files when anything
// in their directories, or in those of the template files the rules name,
// changes (Run), and when asked (Reload, for SIGHUP).
// A reload that fails keeps the running Set, logs why and reports it in
// Status until a reload succeeds. A pattern with wildcards that comes to
// match no file (Unmatched) is logged as a warning once, when it starts to
// match nothing, and again only after it has matched a file since.
type Watcher struct {
	patterns []string
	opts     Options
	logger   *slog.Logger

	current atomic.Pointer[Set]
	// resync tells Run that Reload read the files, which may now be in
	// directories Run does not watch yet.
	resync chan struct{}

	mu        sync.Mutex // serializes reloads and guards what follows
	status    Status
	digest    [sha256.Size]byte // of the rule and template files as last compiled
	templates []source          // the template files the rules name, as last compiled
	watched   []string          // the directories to watch, from the last read
	unmatched []string          // the patterns that matched no file at the last read
}

// Status is what a Watcher is running and how its last reload went.
type Status struct {
	// Set is the running rule set.
	Set *Set
	// Loaded is when Set was loaded.
	Loaded time.Time
	// Checked is when the files were last read, whether or not that led to
	// a reload.
	Checked time.Time
	// Errors say why the files as last read do not load, in file order;
	// nil when Set is their current contents.
	Errors []*Error
}

// NewWatcher loads the rule files that patterns name, as Load does, and
// returns a Watcher running them; it fails with Load's error. Logs go to
// logger; nil discards them. Call Run to follow changes.
func NewWatcher(ctx context.Context, patterns []string, opts Options, logger *slog.Logger) (*Watcher, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{patterns: append([]string(nil), patterns...), opts: opts, logger: logger, resync: make(chan struct{}, 1)}
	if err := w.reload(ctx, true); err != nil {
		return nil, err
	}
	return w, nil
}

// Current returns the running rule set. It is safe for concurrent use and
// never returns nil.
func (w *Watcher) Current() *Set { return w.current.Load() }

// Status returns the running set and how the last reload went. It is safe
// for concurrent use.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.status
	s.Errors = append([]*Error(nil), s.Errors...)
	return s
}

// Reload reads and loads the rule files now, even if they seem unchanged,
// and returns Load's error; on error the running set stays. Run then
// watches each directory again where its path now leads (a symbolic link
// swapped to another release). The server calls it on SIGHUP. It is safe
// for concurrent use with Run.
func (w *Watcher) Reload(ctx context.Context) error {
	err := w.reload(ctx, true)
	select {
	case w.resync <- struct{}{}:
	default:
	}
	return err
}

// reload reads the files and, when force is set or they or the template
// files of the last compile differ from what that compile read, loads them.
func (w *Watcher) reload(ctx context.Context, force bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	sources := read(w.patterns, w.opts.Dir)
	w.status.Checked = time.Now()
	w.warnUnmatched()
	w.watched = w.dirs(sources)
	if !force && digestOf(sources, reread(w.templates)) == w.digest {
		return nil
	}
	set, templates, err := compile(ctx, sources, w.opts)
	var errs []*Error
	for _, e := range unjoin(err) {
		var re *Error
		if !errors.As(e, &re) { // ctx ended: nothing was wrong with the files
			return err
		}
		errs = append(errs, re)
	}
	w.templates, w.digest = templates, digestOf(sources, templates)
	w.watched = w.dirs(sources)
	if err != nil {
		w.status.Errors = errs
		if w.current.Load() != nil {
			w.logger.Error("rule files do not load; the previous rules keep running", "files", len(sources), "error", err)
		}
		return err
	}
	w.current.Store(set)
	w.status = Status{Set: set, Loaded: w.status.Checked, Checked: w.status.Checked}
	w.logger.Info("rules loaded", "files", len(set.files), "rules", len(set.rules))
	for _, e := range set.warnings {
		e := *e
		e.Snippet = "" // a line of its own, which a log line is not
		w.logger.Warn(e.Error())
	}
	return nil
}

// warnUnmatched logs the patterns that match no file now and did at the
// last read, or that the first read finds matching nothing: deleting every
// rule file leaves no rules running, which "rules loaded" with files=0
// says only to whoever knows to look.
func (w *Watcher) warnUnmatched() {
	now := Unmatched(w.patterns, w.opts.Dir)
	for _, p := range now {
		if !slices.Contains(w.unmatched, p) {
			w.logger.Warn("rules pattern matches no file", "pattern", p)
		}
	}
	w.unmatched = now
}

// Run watches the directories of the rule files and reloads them, 100 ms
// after the last change, until ctx ends; then it returns nil. It logs a
// directory it cannot watch and goes on (Reload still works). It fails when
// the file system cannot be watched at all.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch rule files: %w", err)
	}
	defer fw.Close()
	watching := map[string]bool{} // directory → whether Add succeeded
	w.watch(fw, watching)
	// Catch what changed between NewWatcher and the watches; reload logs
	// a failure.
	_ = w.reload(ctx, false)
	w.watch(fw, watching)

	timer := time.NewTimer(debounce)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return errors.New("watch rule files: watcher closed")
			}
			if ev.Op != fsnotify.Chmod {
				timer.Reset(debounce)
			}
			// A watched directory renamed or deleted (a deployment
			// that puts a new rules directory in its place) is no
			// longer watched, fsnotify having dropped its watch: the
			// reload watches what is at its path now.
			if d := filepath.Clean(ev.Name); (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) && watching[d] {
				_ = fw.Remove(d) // gone already where fsnotify drops it
				delete(watching, d)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return errors.New("watch rule files: watcher closed")
			}
			// The kernel's queue overflowed, say: reread to be sure.
			w.logger.Warn("watching rule files", "error", err)
			timer.Reset(debounce)
		case <-timer.C:
			_ = w.reload(ctx, false) // reload logs a failure
			w.watch(fw, watching)
		case <-w.resync:
			// Reload read the files through their paths, which may now
			// lead elsewhere (a symbolic link to a release, swapped):
			// watch every directory again where its path leads, and
			// catch what changed between the two.
			for d, ok := range watching {
				if ok {
					_ = fw.Remove(d)
				}
				delete(watching, d)
			}
			w.watch(fw, watching)
			_ = w.reload(ctx, false) // reload logs a failure
			w.watch(fw, watching)
		}
	}
}

// watch makes fw watch the directories of the last read, and only them.
func (w *Watcher) watch(fw *fsnotify.Watcher, watching map[string]bool) {
	w.mu.Lock()
	dirs := w.watched
	w.mu.Unlock()
	want := map[string]bool{}
	for _, d := range dirs {
		want[d] = true
		ok, tried := watching[d]
		if ok {
			continue
		}
		err := fw.Add(d)
		if err != nil && !tried {
			w.logger.Warn("cannot watch a rule directory; changes in it need a reload", "dir", d, "error", err)
		}
		watching[d] = err == nil
	}
	for d, ok := range watching {
		if !want[d] {
			if ok {
				_ = fw.Remove(d) // it may be gone already
			}
			delete(watching, d)
		}
	}
}

// dirs returns the directories to watch for sources: those of the patterns
// whose directory part has no glob characters, where a matching file may
// appear, those of the files read, and those of the template files of the
// last compile.
func (w *Watcher) dirs(sources []source) []string {
	seen := map[string]bool{}
	var dirs []string
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	for _, p := range w.patterns {
		if !filepath.IsAbs(p) && w.opts.Dir != "" {
			p = filepath.Join(w.opts.Dir, p)
		}
		if d := filepath.Dir(p); !config.HasWildcards(d) {
			add(d)
		}
	}
	for _, s := range sources {
		if s.err == nil {
			add(filepath.Dir(s.name))
		}
	}
	// A template file that could not be read may yet appear: its
	// directory is watched all the same.
	for _, t := range w.templates {
		add(filepath.Dir(t.name))
	}
	return dirs
}

// reread reads the template files again.
func reread(templates []source) []source {
	out := make([]source, len(templates))
	for i, t := range templates {
		src, err := os.ReadFile(t.name)
		out[i] = templateSource(t.name, src, err)
	}
	return out
}

// digestOf returns a hash of the rule files' and the template files' names,
// contents and read errors.
func digestOf(sources, templates []source) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range slices.Concat(sources, templates) {
		for _, part := range []string{s.name, string(s.src), errText(s.err)} {
			h.Write([]byte(strconv.Itoa(len(part)) + ":" + part))
		}
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

func errText(e *Error) string {
	if e == nil {
		return ""
	}
	return e.Error()
}

// unjoin returns the errors joined in err; none when err is nil.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
