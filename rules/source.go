package rules

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/hookd/hookd/internal/yamlfile"
)

// srcFile is a rule file's text, kept so that an error inside a value can
// be located at its line and column.
type srcFile struct {
	name  string
	text  []rune
	lines []int // rune offset where each line starts
}

func newSrcFile(name string, src []byte) *srcFile {
	f := &srcFile{name: name, text: []rune(string(src)), lines: []int{0}}
	for i, r := range f.text {
		if r == '\n' {
			f.lines = append(f.lines, i+1)
		}
	}
	return f
}

// offset returns the rune offset of a 1-based line and column, clamped to
// the text.
func (f *srcFile) offset(line, col int) int {
	if line < 1 {
		return 0
	}
	if line > len(f.lines) {
		return len(f.text)
	}
	return min(f.lines[line-1]+max(col-1, 0), len(f.text))
}

// position returns the 1-based line and column of a rune offset.
func (f *srcFile) position(off int) (line, col int) {
	lo, hi := 0, len(f.lines)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if f.lines[mid] <= off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + 1, off - f.lines[lo] + 1
}

// scalar is a string value of the file, as written, with what it takes to
// find where each of its characters is in the file.
type scalar struct {
	file *srcFile
	raw  string // the value before ${VAR} expansion
	// start is the rune offset of its first character, or of the line
	// after the header of a block scalar.
	start int
	style token.Type
	// indent is a block scalar's indentation.
	indent int
}

// newScalar returns the string value of n with its location, or false when
// n is not a scalar that can stand for a string (a number or a boolean is
// its text as written).
func newScalar(f *srcFile, n ast.Node) (*scalar, bool) {
	switch v := n.(type) {
	case *ast.LiteralNode:
		tk := v.Start
		s := &scalar{file: f, raw: v.Value.Value, start: f.offset(tk.Position.Line+1, 1), style: tk.Type}
		s.indent = blockIndent(tk.Value, f.text[s.start:])
		return s, true
	case ast.ScalarNode:
		tk := v.GetToken()
		if tk == nil || !isText(tk.Type) {
			return nil, false
		}
		raw := tk.Value
		if sn, ok := v.(*ast.StringNode); ok {
			raw = sn.Value
		}
		return &scalar{file: f, raw: raw, start: f.tokenStart(tk), style: tk.Type}, true
	}
	return nil, false
}

// tokenStart returns the rune offset where the scalar of token tk starts.
//
// goccy/go-yaml places a plain scalar whose line ends in blanks too far
// right: it takes the value's length without the blanks from the column of
// the line break. From there, the value's first character may not be found
// at all, and every position in it would fall at the end of the file. So
// the start of a plain scalar is looked for again, no farther left than the
// line's blanks: the leftmost place from which the rest of the line, blanks
// left out, begins the value.
func (f *srcFile) tokenStart(tk *token.Token) int {
	line, start := tk.Position.Line, f.offset(tk.Position.Line, tk.Position.Column)
	if line < 1 || line > len(f.lines) || quoted(tk.Type) {
		return start
	}
	end := len(f.text)
	if line < len(f.lines) {
		end = f.lines[line] - 1
	}
	trimmed := end
	for trimmed > f.lines[line-1] && (f.text[trimmed-1] == ' ' || f.text[trimmed-1] == '\t' || f.text[trimmed-1] == '\r') {
		trimmed--
	}
	value := []rune(tk.Value)
	for s := max(start-(end-trimmed), f.lines[line-1]); s < min(start, trimmed); s++ {
		if rest := f.text[s:trimmed]; len(rest) <= len(value) && string(rest) == string(value[:len(rest)]) {
			return s
		}
	}
	return start
}

// quoted reports whether a scalar of type t is quoted or a block scalar,
// whose start goccy/go-yaml places right.
func quoted(t token.Type) bool {
	switch t {
	case token.DoubleQuoteType, token.SingleQuoteType, token.LiteralType, token.FoldedType:
		return true
	}
	return false
}

// blockIndent returns the indentation of a block scalar with the header
// ("|", ">-", "|2") and the text that follows it: the header's indicator if
// it has one, else the indentation of the first line that is not blank.
func blockIndent(header string, text []rune) int {
	for _, r := range header {
		if r >= '1' && r <= '9' {
			return int(r - '0')
		}
	}
	n := 0
	for _, r := range text {
		switch r {
		case ' ':
			n++
		case '\n', '\r':
			n = 0
		default:
			return n
		}
	}
	return n
}

// offsets returns, for each rune of the value as written, its rune offset
// in the file, and one more for the end of the value. It replays how YAML
// turned the source into the value: quotes, escapes, line folding and
// indentation are skipped; a character that cannot be matched is placed at
// the end of what was matched.
func (s *scalar) offsets() []int {
	value := []rune(s.raw)
	out := make([]int, len(value)+1)
	text := s.file.text
	block := s.style == token.LiteralType || s.style == token.FoldedType
	j := s.start
	if s.style == token.DoubleQuoteType || s.style == token.SingleQuoteType {
		j++
	}
	// lineStart skips the indentation that starts a line of the value.
	lineStart := func() {
		for n := 0; j < len(text) && (text[j] == ' ' || !block && text[j] == '\t'); n++ {
			if block && n == s.indent {
				return
			}
			j++
		}
	}
	if block {
		lineStart()
	}
	for i, v := range value {
		out[i] = min(j, len(text))
		for j < len(text) {
			c := text[j]
			if s.style == token.DoubleQuoteType && c == '\\' && j+1 < len(text) {
				if text[j+1] == '\n' { // an escaped line break joins lines
					j += 2
					lineStart()
					continue
				}
				out[i] = j
				j += escapeLen(text[j+1])
				break
			}
			if s.style == token.SingleQuoteType && c == '\'' && j+1 < len(text) && text[j+1] == '\'' {
				out[i] = j
				j += 2
				break
			}
			j++
			if c == v || c == '\n' && v == ' ' {
				out[i] = j - 1
				if c == '\n' {
					lineStart()
				}
				break
			}
			if c == '\n' {
				lineStart()
			}
		}
	}
	out[len(value)] = min(j, len(text))
	return out
}

// commentAfter tells whether s is a plain value that a comment follows on
// its line: YAML ends a plain value at " #", so an expression using expr's
// # (any(data.tags, # == "vip")) was cut there.
func (s *scalar) commentAfter() bool {
	if s.style != token.StringType {
		return false
	}
	offs := s.offsets()
	text, j := s.file.text, offs[len(offs)-1]
	for j < len(text) && (text[j] == ' ' || text[j] == '\t') {
		j++
	}
	return j < len(text) && text[j] == '#'
}

// escapeLen returns the length of a double-quoted escape sequence whose
// letter is c.
func escapeLen(c rune) int {
	switch c {
	case 'x':
		return 4
	case 'u':
		return 6
	case 'U':
		return 10
	}
	return 2
}

// position returns the line and column in the file of the rune at offset
// off of the value as written.
func (s *scalar) position(off int) (line, col int) {
	offs := s.offsets()
	return s.file.position(offs[min(max(off, 0), len(offs)-1)])
}

// expansion is a value after ${VAR} expansion, with what it takes to map an
// offset in it back to the value as written.
type expansion struct {
	text string
	subs []substitution
}

// substitution is one replaced piece, in rune offsets: raw[rawFrom:rawTo]
// became text[from:to]. name is the variable, "" for "$${".
type substitution struct {
	rawFrom, rawTo, from, to int
	name                     string
}

// variableAt returns the variable whose value is at rune offset off of
// x.text, if any.
func (x *expansion) variableAt(off int) (string, bool) {
	if s := x.substitutionAt(off); s != nil {
		return s.name, true
	}
	return "", false
}

// withoutValues returns raw, the value as written, with each ${VAR}
// removed: what the value would be if every variable were empty.
func (x *expansion) withoutValues(raw string) string {
	r := []rune(raw)
	var b strings.Builder
	from := 0
	for _, s := range x.subs {
		if s.name == "" {
			continue
		}
		b.WriteString(string(r[from:s.rawFrom]))
		from = s.rawTo
	}
	b.WriteString(string(r[from:]))
	return b.String()
}

// substitutionAt returns the substitution of a variable whose value is
// at rune offset off of x.text, or nil.
func (x *expansion) substitutionAt(off int) *substitution {
	for i := range x.subs {
		if s := &x.subs[i]; s.name != "" && off >= s.from && off < s.to {
			return s
		}
	}
	return nil
}

// secretSafe is the message for an error caused by a variable's value,
// which may be a secret and so is not quoted.
func secretSafe(name string) error {
	return fmt.Errorf("invalid with the value of ${%s} (not shown: it may be a secret)", name)
}

// rawOffset maps a rune offset in x.text to one in the value as written; a
// character that came from a variable maps to the "${" it replaced.
func (x *expansion) rawOffset(off int) int {
	shift := 0
	for _, s := range x.subs {
		if off < s.from {
			break
		}
		if off < s.to {
			return s.rawFrom
		}
		shift = s.rawTo - s.to
	}
	return off + shift
}

// expand expands s as yamlfile.Expand does and records each substitution,
// so that positions in the expanded text map back to the text as written.
func expand(s string) (*expansion, error) {
	x := &expansion{}
	if !strings.Contains(s, "${") {
		x.text = s
		return x, nil
	}
	var b strings.Builder
	raw, out := 0, 0 // rune offsets in s and in b
	err := yamlfile.Expand(s, func(piece, text, name string) {
		rawLen, n := utf8.RuneCountInString(piece), utf8.RuneCountInString(text)
		if piece != text || name != "" {
			x.subs = append(x.subs, substitution{rawFrom: raw, rawTo: raw + rawLen, from: out, to: out + n, name: name})
		}
		b.WriteString(text)
		raw += rawLen
		out += n
	})
	if err != nil {
		return nil, err
	}
	x.text = b.String()
	return x, nil
}
