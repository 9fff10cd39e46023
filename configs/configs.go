// Package configs holds hookd's built-in default configuration, hookd.yaml,
// which hookd runs when no --config is given, and annotated examples of
// every configuration key. The YAML files are embedded in the binary.
package configs

import "embed"

// FS holds every *.yaml file of this directory.
//
//go:embed *.yaml
var FS embed.FS
