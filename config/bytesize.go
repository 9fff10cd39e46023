package config

import (
	"fmt"
	"math"

	"github.com/dustin/go-humanize"
	"github.com/goccy/go-yaml/ast"

	"github.com/hookd/hookd/internal/yamlfile"
)

// UnmarshalYAML decodes a size written as a number of bytes or a number
// with a unit, such as 1048576, "512KiB", "1MiB" or "2MB". It implements
// goccy/go-yaml's NodeUnmarshaler.
func (b *ByteSize) UnmarshalYAML(n ast.Node) error {
	if t, ok := n.(*ast.TagNode); ok {
		n = t.Value
	}
	var s string
	switch v := n.(type) {
	case *ast.StringNode:
		s = v.Value
	case *ast.IntegerNode:
		s = v.GetToken().Value
	default:
		return fmt.Errorf("want %s, got %s", describe(byteSizeType), yamlfile.Kind(n))
	}
	size, err := parseSize(s)
	if err != nil {
		return err
	}
	*b = size
	return nil
}

// size writes b for an error message: "16 MiB".
func size(b ByteSize) string { return humanize.IBytes(uint64(b)) }

func parseSize(s string) (ByteSize, error) {
	// ParseBigBytes reads any size, so that one past the int64 range is
	// told from one that is no size at all.
	n, err := humanize.ParseBigBytes(s)
	switch {
	case err != nil || n.Sign() < 0:
		return 0, fmt.Errorf("invalid size %q: want a number of bytes, or a number with a unit such as \"512KiB\", \"1MiB\" or \"2MB\"", s)
	case !n.IsInt64():
		return 0, fmt.Errorf("size %q is too large: at most %d bytes (8EiB less one byte)", s, int64(math.MaxInt64))
	}
	return ByteSize(n.Int64()), nil
}
