package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/hookd/hookd/internal/yamlfile"
)

// Period is a long duration, written in days ("90d") or as a Go duration
// ("36h"); zero means forever where a field says so.
type Period time.Duration

// Duration returns p as a time.Duration.
func (p Period) Duration() time.Duration { return time.Duration(p) }

// UnmarshalYAML decodes "90d" or a Go duration such as "36h". It
// implements goccy/go-yaml's NodeUnmarshaler.
func (p *Period) UnmarshalYAML(n ast.Node) error {
	if t, ok := n.(*ast.TagNode); ok {
		n = t.Value
	}
	s, ok := n.(*ast.StringNode)
	if !ok {
		return fmt.Errorf("want %s, got %s", describe(periodType), yamlfile.Kind(n))
	}
	d, err := ParsePeriod(s.Value)
	if err != nil {
		return err
	}
	*p = d
	return nil
}

// ParsePeriod reads a period as the configuration writes it: a number of
// days ("90d") or a Go duration ("36h"), not negative.
func ParsePeriod(s string) (Period, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 100*366 {
			return Period(time.Duration(n) * 24 * time.Hour), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return Period(d), nil
	}
	return 0, fmt.Errorf("invalid period %q: want a number of days such as \"90d\", or a duration such as \"36h\"", s)
}
