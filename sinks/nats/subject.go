package walnats

import (
	"fmt"
	"strings"

	"github.com/walbatch/walbatch/dispatcher"
)

// maxSubjectBytes bounds a rendered subject. The server reads a publish's
// subject in its protocol control line (4096 bytes by default) and closes
// the connection of a client that sends a longer line, so a long batch key
// or header must fail its own event, not the connection.
const maxSubjectBytes = 1024

// subject is a parsed subject template: literal text and placeholders,
// in order.
type subject struct {
	text  string
	parts []part
}

// part is literal text (field == "") or a placeholder: the field to
// substitute ("stream", "key" or "header"), the header's name, and the
// text used when the value is empty (hasDef: a default was given).
type part struct {
	lit    string
	field  string
	header string
	def    string
	hasDef bool
}

// parseSubject parses a subject template (see New). The template must
// render, with sample values, to a valid subject.
func parseSubject(tmpl string) (*subject, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: subject template %q: "+format, append([]any{ErrInvalidOption, tmpl}, args...)...)
	}
	s := &subject{text: tmpl}
	rest := tmpl
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			s.parts = append(s.parts, part{lit: rest})
			break
		}
		if rest[open] == '}' {
			return nil, bad("a '}' without its '{'")
		}
		if open > 0 {
			s.parts = append(s.parts, part{lit: rest[:open]})
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] == '{' {
			return nil, bad("a '{' without its '}'")
		}
		p, err := parsePlaceholder(rest[open+1 : open+1+end])
		if err != nil {
			return nil, bad("%v", err)
		}
		s.parts = append(s.parts, p)
		rest = rest[open+1+end+1:]
	}
	sample, err := s.render("stream", "key", func(string) string { return "value" })
	if err != nil {
		return nil, bad("%v", err)
	}
	if !strings.ContainsRune(tmpl, '{') && sample == "" {
		return nil, bad("empty")
	}
	return s, nil
}

// parsePlaceholder parses what is between '{' and '}': stream, key or
// header:NAME, optionally followed by |DEFAULT.
func parsePlaceholder(body string) (part, error) {
	name, def, hasDef := strings.Cut(body, "|")
	p := part{def: def, hasDef: hasDef}
	switch {
	case name == "stream" || name == "key":
		p.field = name
	case strings.HasPrefix(name, "header:"):
		p.field, p.header = "header", strings.TrimPrefix(name, "header:")
		if p.header == "" {
			return p, fmt.Errorf("{header:} names no header")
		}
	default:
		return p, fmt.Errorf("unknown placeholder {%s} (want {stream}, {key} or {header:NAME}, each optionally with |DEFAULT)", body)
	}
	if hasDef && def == "" {
		return p, fmt.Errorf("{%s}: the default after '|' is empty", body)
	}
	if hasDef {
		if err := checkSubject(def); err != nil {
			return p, fmt.Errorf("{%s}: the default: %w", body, err)
		}
	}
	return p, nil
}

// subjectOf renders the subject of one event of a batch of stream.
func subjectOf[T any](s *subject, stream string, e *dispatcher.Event[T]) (string, error) {
	return s.render(stream, e.Key, func(name string) string { return e.Headers[name] })
}

// render substitutes the values and checks the result is a subject a
// client may publish to.
func (s *subject) render(stream, key string, header func(string) string) (string, error) {
	var b strings.Builder
	for _, p := range s.parts {
		var v string
		switch p.field {
		case "":
			b.WriteString(p.lit)
			continue
		case "stream":
			v = stream
		case "key":
			v = key
		case "header":
			v = header(p.header)
		}
		if v == "" {
			if !p.hasDef {
				return "", fmt.Errorf("%w: %s is empty and the template %q gives no default", ErrSubject, p.describe(), s.text)
			}
			v = p.def
		}
		b.WriteString(v)
	}
	subj := b.String()
	if err := checkSubject(subj); err != nil {
		return "", fmt.Errorf("%w (template %q)", err, s.text)
	}
	return subj, nil
}

func (p part) describe() string {
	if p.field == "header" {
		return fmt.Sprintf("header %q", p.header)
	}
	return "the " + p.field
}

// checkSubject accepts a literal subject: dot-separated non-empty tokens of
// printable characters, none a wildcard ("*" or ">"), at most
// maxSubjectBytes long. The server answers anything else with an error
// that closes the connection, or routes it where it was not meant to go.
func checkSubject(subj string) error {
	if len(subj) > maxSubjectBytes {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrSubject, len(subj), maxSubjectBytes)
	}
	for tok := range strings.SplitSeq(subj, ".") {
		switch {
		case tok == "":
			return fmt.Errorf("%w: %q has an empty token", ErrSubject, subj)
		case tok == "*" || tok == ">":
			return fmt.Errorf("%w: %q has the wildcard %q", ErrSubject, subj, tok)
		}
		for _, r := range tok {
			if r <= ' ' || r == 0x7f {
				return fmt.Errorf("%w: %q has whitespace or a control character", ErrSubject, subj)
			}
		}
	}
	return nil
}
