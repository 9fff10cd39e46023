package rules

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
)

// bodyFileExts are the extensions that make a body parameter the path of
// a template file rather than an inline template.
var bodyFileExts = []string{".html", ".htm", ".txt", ".tmpl", ".tpl"}

// isBodyFile reports whether a body parameter's text names a template
// file: one line, no template action, ending in one of bodyFileExts.
func isBodyFile(s string) bool {
	if s == "" || strings.ContainsAny(s, "\n\r") || strings.Contains(s, "{{") {
		return false
	}
	ext := strings.ToLower(filepath.Ext(s))
	for _, e := range bodyFileExts {
		if ext == e {
			return true
		}
	}
	return false
}

// body compiles a body parameter s: the template file it names, relative
// to the rule file, or the inline template it is; with html/template when
// html, so that what the template prints from the event is escaped. The
// parameter's written value stays s.
func (pl *paramLoader) body(s *strValue, field string, html bool) param {
	sp := &stringParam{strValue: s, field: field}
	text, name := s.text, "t"
	at, _ := s.locate(0)
	if isBodyFile(s.text) {
		path := s.text
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(pl.file.name), path)
		}
		src, err := os.ReadFile(path)
		*pl.templates = append(*pl.templates, templateSource(path, src, err))
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			pl.failAt(at, field, pl.rule, errors.New("read template file "+path+": "+err.Error()), "")
			return nil
		}
		text, name = string(src), path
	}
	var err error
	if html {
		var t *htmltemplate.Template
		if t, err = htmltemplate.New(name).Option("missingkey=error").Parse(text); err == nil {
			// Before html/template escapes it, as for a text/template
			// (optionalTemplates, checkParams).
			for _, d := range t.Templates() {
				optionalData(d.Tree, d == t)
				checkPrints(d.Tree)
			}
			t.Funcs(valueFuncs)
			sp.tmpl, sp.root = t, t.Tree.Root
			// html/template escapes on the first Execute: run it once on
			// nothing so that a template it cannot escape fails here, at
			// load, rather than on every event.
			var he *htmltemplate.Error
			if xerr := t.Execute(io.Discard, nil); errors.As(xerr, &he) {
				err = xerr
			}
		}
	} else {
		var t *template.Template
		if t, err = template.New(name).Option("missingkey=error").Parse(text); err == nil {
			optionalTemplates(t)
			sp.tmpl, sp.root, sp.simple = t, t.Root, simpleTemplate(t.Root)
		}
	}
	if err != nil {
		if name == "t" {
			p, msg := s.templateError(err)
			pl.failAt(p, field, pl.rule, errors.New(msg), "")
		} else {
			pl.failAt(at, field, pl.rule, fileError(name, text, err), "")
		}
		return nil
	}
	if fname, off, ok := unknownField(sp.root, true); ok {
		err := fieldError(fname)
		if name == "t" {
			at, _ = s.locate(utf8.RuneCountInString(text[:off]))
		} else {
			err = fmt.Errorf("%s: %w", fileLocation(name, text, int(off)), err)
		}
		pl.failAt(at, field, pl.rule, err, "")
		return nil
	}
	return sp
}

// fileError returns err, from parsing or escaping the template file name
// whose text is text, as "NAME:LINE:COL: message" where the error tells a
// node, so that it points into the file as the errors of executing it do
// (COL is text/template's, a 0-based byte offset in the line), and as
// "NAME:LINE: message" for a syntax error, whose line alone text/template
// tells. An error that is about the end of the text (html/template's "ends
// in a non-text context") is at the end.
func fileError(name, text string, err error) error {
	var he *htmltemplate.Error
	if errors.As(err, &he) {
		switch {
		case he.Node != nil:
			loc, _ := (*parse.Tree)(nil).ErrorContext(he.Node)
			return fmt.Errorf("%s: html/template: %s", loc, he.Description)
		case he.Line > 0:
			return fmt.Errorf("%s:%d:0: html/template: %s", name, he.Line, he.Description)
		}
		return fmt.Errorf("%s: html/template: %s", fileLocation(name, text, len(text)), he.Description)
	}
	// text/template's parse errors, "template: NAME:LINE: message", give
	// the line only.
	if rest, ok := strings.CutPrefix(err.Error(), "template: "+name+":"); ok {
		return fmt.Errorf("%s:%s", name, rest)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// fileLocation returns "NAME:LINE:COL" for the byte offset off of text, as
// text/template writes the location of a node (parse.Tree.ErrorContext).
func fileLocation(name, text string, off int) string {
	before := text[:off]
	col := off
	if nl := strings.LastIndexByte(before, '\n'); nl >= 0 {
		col = off - nl - 1
	}
	return fmt.Sprintf("%s:%d:%d", name, 1+strings.Count(before, "\n"), col)
}
