package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"

	"github.com/hookd/hookd/internal/yamlfile"
)

// startConfig is the configuration file as serve started with it. serve
// applies a change of the rule files on SIGHUP, but a change of the
// configuration itself only at a restart, and says so rather than let a
// SIGHUP seem to have applied it.
type startConfig struct {
	path   string
	src    []byte
	logger *slog.Logger
}

// readStartConfig reads the configuration file at path; nil when there is
// none (the built-in configuration) or it cannot be read, which serve's
// load of it just did.
func readStartConfig(path string, logger *slog.Logger) *startConfig {
	if path == "" {
		return nil
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return &startConfig{path: path, src: src, logger: logger}
}

// warnChanged logs a warning, naming the file and the top-level keys whose
// values differ, when the file's content is no longer what serve started
// with. It does nothing on a nil startConfig.
func (c *startConfig) warnChanged() {
	if c == nil {
		return
	}
	src, err := os.ReadFile(c.path)
	if err != nil {
		c.logger.Warn("configuration file unreadable; the running configuration stays as it was loaded at the start", "file", c.path, "err", err)
		return
	}
	if bytes.Equal(src, c.src) {
		return
	}
	attrs := []any{"file", c.path}
	if keys, err := changedKeys(c.src, src); err != nil {
		attrs = append(attrs, "err", err)
	} else {
		attrs = append(attrs, "keys", keys)
	}
	c.logger.Warn("configuration file changed; restart hookd to apply it (a reload applies changes of the rule files only, not of rules: in the configuration)", attrs...)
}

// maxChangedNodes bounds the values changedKeys decodes a file to.
const maxChangedNodes = 1_000_000

// changedKeys returns the sorted top-level keys whose values differ
// between the YAML documents before and after, with those only one of
// them has; an error when after does not parse, or when its aliases
// expand it to more than maxChangedNodes values, which decoding it would
// take for ever to build. ${VAR} is compared as written, unexpanded.
func changedKeys(before, after []byte) ([]string, error) {
	var b, a map[string]any
	for _, doc := range []struct {
		src []byte
		dst *map[string]any
	}{{before, &b}, {after, &a}} {
		file, err := parser.ParseBytes(doc.src, 0)
		if err != nil {
			return nil, err
		}
		for _, d := range file.Docs {
			if !yamlfile.Within(d, maxChangedNodes) {
				return nil, fmt.Errorf("its aliases expand it to more than %d values", maxChangedNodes)
			}
		}
		if err := yaml.Unmarshal(doc.src, doc.dst); err != nil {
			return nil, err
		}
	}
	keys := []string{}
	for k, v := range a {
		if w, ok := b[k]; !ok || !reflect.DeepEqual(v, w) {
			keys = append(keys, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}
