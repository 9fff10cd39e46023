// Package golden compares what a test produced with a golden file kept in
// the package's testdata, and rewrites the file when the test runs with
// its package's -update flag.
package golden

import (
	"bytes"
	"os"
	"testing"
)

// Check compares got with the file at path, failing t when they differ or
// the file is missing; with update it writes got to path instead. Each
// test package defines its own -update flag and passes its value, so that
// packages tested in one binary do not define the flag twice.
func Check(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n got: %s\nwant: %s", path, got, want)
	}
}
