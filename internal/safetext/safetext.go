// Package safetext decides which characters may reach a terminal as they
// are and escapes the rest. walctl escapes everything it prints for a
// person with Escape, the HTTP dispatcher blanks unsafe characters in the
// response excerpts it keeps, and the wal package refuses stream names
// that hold any (see Clean).
//
// A character is unsafe when a terminal may act on it instead of showing
// it, or when it makes text read differently from what it holds:
//
//   - control characters (Unicode category Cc): NUL, the C0 controls
//     U+0001-U+001F (ESC starts escape sequences and OSC hyperlinks), DEL,
//     and the C1 controls U+0080-U+009F (U+009B is a one-character CSI);
//   - bidirectional formatting characters (the Bidi_Control property:
//     U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), which reorder
//     what follows them on screen;
//   - the line and paragraph separators U+2028 and U+2029.
//
// Bytes that are not valid UTF-8 are unsafe too: a terminal decodes them
// in ways that differ from one to another.
package safetext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Unsafe reports whether r must not reach a terminal as it is (see the
// package documentation). utf8.RuneError, which decoding returns for an
// invalid byte, is not unsafe by itself: U+FFFD is printable.
func Unsafe(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

// Clean reports whether s is valid UTF-8 without an unsafe character.
func Clean(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || Unsafe(r) {
			return false
		}
		i += n
	}
	return true
}

// Escape returns s as it is when it is Clean, unless it starts with a
// double quote and holds a backslash (and so could be read as a quoted
// form); otherwise it returns s quoted with strconv.Quote, which writes
// every unsafe character and invalid byte as a visible Go escape: ESC as
// \x1b, U+009B as \u009b, U+202E as \u202e, an invalid byte 0xff as \xff,
// a newline as \n, a quote as \" and a backslash as \\. The result is
// always safe to print and tells exactly what s holds: it is quoted exactly
// when it starts with a double quote and holds a backslash (a quoted form
// always holds one), and strconv.Unquote then gives s back.
func Escape(s string) string {
	if Clean(s) && !(strings.HasPrefix(s, `"`) && strings.Contains(s, `\`)) {
		return s
	}
	return strconv.Quote(s)
}
