package config

import (
	"errors"
	"fmt"
	"regexp"
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

// MaxPeriod is the longest period ParsePeriod takes, in days or in hours
// alike: 36,600 days, a hundred years.
const MaxPeriod = Period(maxDays * 24 * time.Hour)

const maxDays = 100 * 366

// ErrPeriodTooLong is what ParsePeriod's error wraps for a period longer
// than MaxPeriod.
var ErrPeriodTooLong = errors.New("too long")

// goDuration matches what time.ParseDuration reads, unsigned: it fails on
// such a string only when the duration overflows.
var goDuration = regexp.MustCompile(`^(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+$`)

// ParsePeriod reads a period as the configuration writes it: a number of
// days ("90d") or a Go duration ("36h"), not negative and at most
// MaxPeriod. A longer one, whatever its unit, is refused with an error
// that wraps ErrPeriodTooLong and says the limit.
func ParsePeriod(s string) (Period, error) {
	tooLong := false
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		switch {
		case err == nil && n >= 0 && n <= maxDays:
			return Period(time.Duration(n) * 24 * time.Hour), nil
		case err == nil && n > maxDays, errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(days, "-"):
			tooLong = true
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		if d <= MaxPeriod.Duration() {
			return Period(d), nil
		}
		tooLong = true
	} else if err != nil && goDuration.MatchString(s) {
		tooLong = true // beyond time.Duration's 292 years
	}
	if tooLong {
		return 0, fmt.Errorf("duration %q is %w: at most %dd (%dh), a hundred years", s, ErrPeriodTooLong, maxDays, maxDays*24)
	}
	return 0, fmt.Errorf("invalid period %q: want a number of days such as \"90d\", or a duration such as \"36h\"", s)
}
