package safetext

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"orders", "orders"},
		{"héllo wörld ✓ 日本", "héllo wörld ✓ 日本"},
		{`back\slash {"a":"b\tc"}`, `back\slash {"a":"b\tc"}`},
		{"\x1b[31mred\x1b[0m", `"\x1b[31mred\x1b[0m"`},
		{"\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", `"\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\"`},
		{"a\u009b2Jb", `"a\u009b2Jb"`},
		{"abc\u202edef", `"abc\u202edef"`},
		{"\u2066x\u2069\u200e\u200f\u061c", `"\u2066x\u2069\u200e\u200f\u061c"`},
		{"nul\x00del\x7f", `"nul\x00del\x7f"`},
		{"tab\tnl\ncr\r", `"tab\tnl\ncr\r"`},
		{"bad\xff\xc3", `"bad\xff\xc3"`},
		{"line\u2028para\u2029", `"line\u2028para\u2029"`},
		{"\u0085next", `"\u0085next"`},
		{`"quoted" text`, `"quoted" text`},
		{`"quo\ted"`, `"\"quo\\ted\""`},
		{`x\x1b`, `x\x1b`}, // clean: the literal text, shown as it is
		{"x\x1b\\x1b", `"x\x1b\\x1b"`},
	} {
		got := Escape(c.in)
		require.Equal(t, c.want, got, "Escape(%q)", c.in)
		require.True(t, Clean(got), "Escape(%q) = %q is not clean", c.in, got)
	}
}

func TestClean(t *testing.T) {
	for _, s := range []string{"orders", "eu-west/1", "日本", "a b", `back\slash`, "\ufffd"} {
		require.True(t, Clean(s), "%q", s)
	}
	for _, s := range []string{"\x00", "a\x1b", "\u009b", "x\u202e", "\xff", "tab\t", "\u2028", "\x7f"} {
		require.False(t, Clean(s), "%q", s)
	}
}

// FuzzEscape checks that Escape's output is always clean, that it changes
// nothing it does not quote, and that a quoted result (one that starts with
// a quote and holds a backslash) unquotes to the input: no two strings
// escape alike.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31m", "\u009b\u202e", "\xff\\x1b", `\\`, "\\\x1b", `"x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Escape(s)
		if !Clean(got) {
			t.Fatalf("Escape(%q) = %q is not clean", s, got)
		}
		if !strings.HasPrefix(got, `"`) || !strings.Contains(got, `\`) {
			if got != s {
				t.Fatalf("Escape(%q) = %q changed an unquoted string", s, got)
			}
			return
		}
		back, err := strconv.Unquote(got)
		if err != nil || back != s {
			t.Fatalf("Escape(%q) = %q unquotes to %q, %v", s, got, back, err)
		}
	})
}
