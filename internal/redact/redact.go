// Package redact hides the secrets a URL can carry (its userinfo, its query
// values, its fragment) wherever walbatch shows a URL: in an error, a log
// line, a dead-letter reason stored in the WAL, walctl's messages. Every
// such URL goes through URL.
package redact

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
)

// Mark replaces each secret part of a URL.
const Mark = "REDACTED"

// minValue is the shortest query value or user name that Secrets returns
// for hiding in free text: a shorter one ("1", "eu", "json") would hide
// ordinary words. Inside a URL every value is hidden whatever its length.
const minValue = 8

// URL returns raw with its secrets replaced by REDACTED, keeping the rest
// as written: the whole userinfo ("https://REDACTED@host/"), each query
// value ("?access_token=REDACTED&sig=REDACTED"; a query part without "=" is
// replaced whole) and the fragment. The scheme, host, port and path are
// kept: a secret in the path is not recognised. raw need not parse: the
// parts are found in the text the way net/url finds them, so a string that
// is not a valid URL is redacted too. URL(URL(s)) == URL(s).
func URL(raw string) string {
	s, frag, hasFrag := strings.Cut(raw, "#")
	s, query, hasQuery := strings.Cut(s, "?")
	var b strings.Builder
	b.Grow(len(raw))
	start := 0
	if i := strings.Index(s, "//"); i >= 0 {
		start = i + 2
	}
	authority := s[start:]
	if i := strings.IndexByte(authority, '/'); i >= 0 {
		authority = authority[:i]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		b.WriteString(s[:start])
		b.WriteString(Mark)
		b.WriteString(s[start+at:])
	} else {
		b.WriteString(s)
	}
	if hasQuery {
		b.WriteByte('?')
		b.WriteString(Query(query))
	}
	if hasFrag {
		b.WriteByte('#')
		if frag != "" {
			b.WriteString(Mark)
		}
	}
	return b.String()
}

// Query returns a raw query string with every value replaced by REDACTED
// and the keys kept ("a=1&b" gives "a=REDACTED&REDACTED"): a part without
// "=" is replaced whole, an empty value stays empty. Parts are split at "&"
// and ";", which are kept.
func Query(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	for raw != "" {
		part := raw
		sep := ""
		if i := strings.IndexAny(raw, "&;"); i >= 0 {
			part, sep, raw = raw[:i], raw[i:i+1], raw[i+1:]
		} else {
			raw = ""
		}
		switch key, value, ok := strings.Cut(part, "="); {
		case ok && value == "":
			b.WriteString(key + "=")
		case ok:
			b.WriteString(key + "=" + Mark)
		case part != "":
			b.WriteString(Mark)
		}
		b.WriteString(sep)
	}
	return b.String()
}

// Secrets returns the secrets raw carries in the forms they can take in
// text that quotes them apart from the URL, such as a receiver echoing a
// request: the password, the user name (when 8 bytes or longer), the
// base64 credentials of the Authorization: Basic header the userinfo
// becomes, and each query value of 8 bytes or longer, raw and decoded. Use
// it alongside URL, not instead: a short value shows only where URL hides
// it.
func Secrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	add := func(v string, minLen int) {
		if v != "" && len(v) >= minLen {
			out = append(out, v)
		}
	}
	if u.User != nil {
		user := u.User.Username()
		password, _ := u.User.Password()
		add(password, 1)
		add(user, minValue)
		add(base64.StdEncoding.EncodeToString([]byte(user+":"+password)), 1)
	}
	for _, part := range strings.FieldsFunc(u.RawQuery, func(r rune) bool { return r == '&' || r == ';' }) {
		_, value, _ := strings.Cut(part, "=")
		add(value, minValue)
		if dec, err := url.QueryUnescape(value); err == nil && dec != value {
			add(dec, minValue)
		}
	}
	return out
}

// Forms returns the ways raw can appear whole inside other text, each
// with its redacted form to put in its place: raw itself, and its request
// URI (path and query, as a request line a receiver echoes shows it).
// Forms that need no redaction are left out.
func Forms(raw string) [][2]string {
	var out [][2]string
	add := func(s string) {
		if safe := URL(s); safe != s {
			out = append(out, [2]string{s, safe})
		}
	}
	add(raw)
	if u, err := url.Parse(raw); err == nil && u.RawQuery != "" {
		add(u.RequestURI())
	}
	return out
}

// InText returns text with rawURL's secrets hidden: each of its Forms
// replaced by its redacted form, then each of its Secrets by REDACTED,
// longest first. It is for text that may quote the URL or its parts, such
// as the body of a response to a request for rawURL.
func InText(text, rawURL string) string {
	for _, f := range Forms(rawURL) {
		text = strings.ReplaceAll(text, f[0], f[1])
	}
	secrets := Secrets(rawURL)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		text = strings.ReplaceAll(text, s, Mark)
	}
	return text
}
