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

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/internal/yamlfile"
	"github.com/hookd/hookd/listener"
)

// startConfig is the configuration file as serve started with it. On
// SIGHUP serve applies a change of its sources (and of their secret
// files), and of the rule files, but a change of any other key only at a
// restart, and says so rather than let a SIGHUP seem to have applied it.
type startConfig struct {
	path string
	src  []byte
	// load loads the configuration as serve did, its flags included; nil
	// applies no change of the sources.
	load   func() (*config.Config, error)
	logger *slog.Logger

	sources []config.Source // the sources running
	// apply swaps in new sources (listener.Listener.SetSources).
	apply func([]config.Source) (listener.SourceChanges, error)
	// applied is called with the sources apply took.
	applied func([]config.Source)
}

// readStartConfig reads the configuration file of cfg, which load loads
// again; nil when there is none (the built-in configuration) or it cannot
// be read, which serve's load of it just did.
func readStartConfig(cfg *config.Config, load func() (*config.Config, error), logger *slog.Logger) *startConfig {
	if cfg.File == "" {
		return nil
	}
	src, err := os.ReadFile(cfg.File)
	if err != nil {
		return nil
	}
	return &startConfig{path: cfg.File, src: src, load: load, logger: logger, sources: cfg.Sources}
}

// reload is SIGHUP's look at the configuration file. When the file loads
// and validates as a whole and its sources differ from those running,
// they are swapped in (apply) and an info line names the sources added,
// removed and changed; a file that does not load is logged as an error,
// and the running sources stay. A change of any other key is warned of,
// naming the file and the keys: it applies at a restart. It does nothing
// on a nil startConfig.
func (c *startConfig) reload() {
	if c == nil {
		return
	}
	src, err := os.ReadFile(c.path)
	if err != nil {
		c.logger.Warn("configuration file unreadable; the running configuration stays as it was loaded at the start", "file", c.path, "err", err)
		return
	}
	if c.load != nil && c.apply != nil {
		cfg, err := c.load()
		if err != nil {
			c.logger.Error("configuration file does not load; the running sources stay", "file", c.path, "err", err)
			return
		}
		if !reflect.DeepEqual(cfg.Sources, c.sources) {
			ch, err := c.apply(cfg.Sources)
			if err != nil {
				c.logger.Error("sources not reloaded; the running sources stay", "file", c.path, "err", err)
				return
			}
			c.sources = cfg.Sources
			if c.applied != nil {
				c.applied(cfg.Sources)
			}
			if !ch.Empty() {
				c.logger.Info("sources reloaded", "file", c.path, "added", ch.Added, "removed", ch.Removed, "changed", ch.Changed)
			}
		}
	}
	c.warnChanged(src)
}

// warnChanged logs a warning, naming the file and the top-level keys whose
// values differ, when src, the file's content, is no longer what serve
// started with in keys that apply at a restart only.
func (c *startConfig) warnChanged(src []byte) {
	if bytes.Equal(src, c.src) {
		return
	}
	attrs := []any{"file", c.path}
	if keys, err := changedKeys(c.src, src); err != nil {
		attrs = append(attrs, "err", err)
	} else {
		if c.load != nil && c.apply != nil {
			// Applied by reload.
			keys = slices.DeleteFunc(keys, func(k string) bool { return k == "sources" })
		}
		if len(keys) == 0 {
			return
		}
		attrs = append(attrs, "keys", keys)
	}
	c.logger.Warn("configuration file changed; restart hookd to apply it (a reload applies changes of sources and of the rule files, not of the other keys)", attrs...)
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
