package golden_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/internal/golden"
)

// recorder is a testing.TB that records failures instead of stopping.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; panic(r) }
func (r *recorder) Fatal(...any)          { r.failed = true; panic(r) }

// check runs golden.Check and reports whether it failed.
func check(t *testing.T, path string, got string, update bool) (failed bool) {
	r := &recorder{TB: t}
	defer func() {
		if v := recover(); v != nil && v != r {
			panic(v)
		}
		failed = r.failed
	}()
	golden.Check(r, path, []byte(got), update)
	return r.failed
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.golden")
	if !check(t, path, "a\n", false) {
		t.Error("a missing golden file passed")
	}
	if check(t, path, "a\n", true) {
		t.Fatal("update failed")
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "a\n" {
		t.Fatalf("update wrote %q, %v", b, err)
	}
	if check(t, path, "a\n", false) {
		t.Error("the same output failed")
	}
	if !check(t, path, "b\n", false) {
		t.Error("other output passed")
	}
}
