package config_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/config"
)

// FuzzLoad checks Load on any file: it never panics, and every problem it
// reports is a *config.Error naming the file, at a line the file has. Its
// seeds are the files of testdata and testdata/errors, and a few broken
// ones, so every go test runs it over them.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "testdata/errors/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			src, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	for _, src := range []string{
		"",
		"---\n---\n",
		"sources: [",
		"sources:\n  - &a {name: x, provider: mailjet}\n  - *a\n",
		"sources:\n  - <<: *missing\n",
		"limits: {max_inflight: 99999999999999999999999}\n",
		"sources:\n  - name: x\n    provider: generic\n    verify: {hmac: {secret: \"${UNSET_FUZZ_VAR}\"}}\n",
		"\t- :\n",
		"a: !!binary \"=\"\n",
	} {
		f.Add([]byte(src))
	}
	// One file per worker process, rewritten for each input: the fuzz
	// function runs one input at a time in a process.
	path := filepath.Join(f.TempDir(), "hookd.yaml")
	f.Fuzz(func(t *testing.T, src []byte) {
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, known)
		if err == nil {
			if cfg == nil {
				t.Fatal("Load returned neither a config nor an error")
			}
			return
		}
		if cfg != nil {
			t.Errorf("Load returned a config with error %v", err)
		}
		lines := bytes.Count(src, []byte("\n")) + 1
		for _, e := range unjoinAll(err) {
			var ce *config.Error
			if !errors.As(e, &ce) {
				t.Errorf("error %q (%T) is not a *config.Error", e, e)
				continue
			}
			if ce.File != path || !strings.HasPrefix(ce.Error(), path+":") {
				t.Errorf("error %q does not name the file %s", ce, path)
			}
			if ce.Line < 0 || ce.Line > lines {
				t.Errorf("error %q is at line %d of a file of %d lines", ce, ce.Line, lines)
			}
			if ce.Err == nil || ce.Err.Error() == "" {
				t.Errorf("error %q says nothing of what is wrong", ce)
			}
		}
	})
}

// unjoinAll returns the errors joined in err, and in any join among them.
func unjoinAll(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var errs []error
	for _, e := range j.Unwrap() {
		errs = append(errs, unjoinAll(e)...)
	}
	return errs
}
