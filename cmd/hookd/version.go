package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print hookd's version",
		Long: `version prints the version hookd was built as: the -X main.version of the
build or the version of the module (go install ...@v1.2.3), and the commit it
was built from, short, with +dirty when the working tree had changes, and
that commit's time, when the build recorded them (a go build in a git
checkout does; go run, a build with -buildvcs=false, and one in a git
worktree, whose .git is a file, do not), then the Go version. A build with neither prints (devel).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "hookd %s\n", currentBuild())
			return err
		},
	}
}

// build describes the binary: what hookd version prints, serve logs at
// its start, and /metrics exports as hookd_build_info.
type build struct {
	Version  string // -X main.version or the module's version; "" when neither
	Revision string // the commit, 12 hex digits; "" when not recorded
	Time     string // the commit's time, RFC 3339
	Dirty    bool   // the working tree had changes
	Go       string // runtime.Version()
}

// currentBuild returns the running binary's build.
func currentBuild() build {
	bi, _ := debug.ReadBuildInfo()
	return buildOf(bi, version, runtime.Version())
}

// buildOf returns the build that bi (nil when unknown) and an -X
// main.version of ldVersion describe. The go command records "(devel)" as
// the module's version when it knows none, and in a checkout without a tag
// a pseudo-version, v0.0.0-TIME-COMMIT, that only repeats the commit.
func buildOf(bi *debug.BuildInfo, ldVersion, goVersion string) build {
	b := build{Version: ldVersion, Go: goVersion}
	if bi == nil {
		return b
	}
	if v := bi.Main.Version; b.Version == "" && v != "" && v != "(devel)" && !strings.HasPrefix(v, "v0.0.0-") {
		b.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value[:min(12, len(s.Value))]
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Dirty = s.Value == "true"
		}
	}
	return b
}

// revision returns the short commit with +dirty when the tree had
// changes; "" when the build recorded none.
func (b build) revision() string {
	if b.Revision == "" || !b.Dirty {
		return b.Revision
	}
	return b.Revision + "+dirty"
}

// String returns the version, or the commit when there is none, or
// (devel) when there is neither, followed by what else is known in
// parentheses: "v1.2.3 (0123456789ab, 2025-03-01T12:00:00Z, go1.26.0)",
// "0123456789ab+dirty (2025-03-01T12:00:00Z, go1.26.0)".
func (b build) String() string {
	head, rest := b.Version, []string{}
	switch {
	case head != "" && b.Revision != "":
		rest = append(rest, b.revision())
	case head == "" && b.Revision != "":
		head = b.revision()
	case head == "":
		head = "(devel)"
	}
	if b.Time != "" {
		rest = append(rest, b.Time)
	}
	if b.Go != "" {
		rest = append(rest, b.Go)
	}
	if len(rest) == 0 {
		return head
	}
	return head + " (" + strings.Join(rest, ", ") + ")"
}

// collector returns the hookd_build_info gauge: 1, with the build in its
// labels, so that a dashboard can tell the replicas' builds apart during
// an upgrade.
func (b build) collector() prometheus.Collector {
	v := b.Version
	if v == "" {
		v = "(devel)"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "hookd_build_info",
		Help:        "Always 1; the labels describe the running build: version (or (devel)), revision (the commit, +dirty when the tree had changes; empty when not recorded) and goversion.",
		ConstLabels: prometheus.Labels{"version": v, "revision": b.revision(), "goversion": b.Go},
	})
	g.Set(1)
	return g
}
