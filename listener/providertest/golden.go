package providertest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/golden"

	"github.com/hookd/hookd/event"
)

// DecodeFunc decodes one delivery with its request headers.
type DecodeFunc func(h http.Header, body []byte) ([]event.Event, error)

// goldenEvents is what testdata/NAME.golden holds for testdata/NAME.json.
type goldenEvents struct {
	Error  string        `json:"error,omitempty"`
	Events []event.Event `json:"events,omitempty"`
}

// Golden decodes every testdata/*.json of the calling package with decode
// and compares the result with testdata/NAME.golden, or rewrites the golden
// files when update is set (each package's -update flag). A file
// testdata/NAME.headers, if present, holds the request headers, one
// "Name: value" a line. Cases named malformed-* must fail, all others
// succeed; every event must have an id, a category that is one of
// event.Categories or empty, and a valid bounce class.
func Golden(t *testing.T, update bool, decode DecodeFunc) {
	t.Helper()
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.json cases")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			h := readHeaders(t, filepath.Join("testdata", name+".headers"))
			events, err := decode(h, body)
			var got goldenEvents
			wantErr := strings.HasPrefix(name, "malformed-")
			switch {
			case wantErr && err == nil:
				t.Fatalf("Decode succeeded with %d events, want an error", len(events))
			case !wantErr && err != nil:
				t.Fatalf("Decode: %v", err)
			case err != nil:
				got.Error = err.Error()
			default:
				got.Events = events
				for i, e := range events {
					if e.ID == "" || !e.Category.Valid() || !e.BounceClass.Valid() || !json.Valid(e.Data) {
						t.Errorf("event %d: id %q, category %q, bounce_class %q, data valid %v", i, e.ID, e.Category, e.BounceClass, json.Valid(e.Data))
					}
				}
				// Decode must not keep body: the listener hands its
				// buffer to another request before the events are
				// encoded.
				data := make([]string, len(events))
				for i, e := range events {
					data[i] = string(e.Data)
				}
				for i := range body {
					body[i] = 'x'
				}
				for i, e := range events {
					if string(e.Data) != data[i] {
						t.Errorf("event %d: Data changed with the body it was decoded from: Decode kept the body", i)
					}
				}
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(got); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", name+".golden"), buf.Bytes(), update)
		})
	}
}

func readHeaders(t *testing.T, path string) http.Header {
	t.Helper()
	h := http.Header{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return h
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return h
}

// Seeds returns the bodies of the calling package's testdata/*.json, for a
// fuzz target's seed corpus.
func Seeds(t testing.TB) [][]byte {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seeds [][]byte
	for _, in := range inputs {
		b, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}
