package redact

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://collector.example/v1/events", "https://collector.example/v1/events"},
		{"https://user:hunter2@collector.example/v1", "https://REDACTED@collector.example/v1"},
		{"https://tok3n@collector.example", "https://REDACTED@collector.example"},
		{"https://:tok3n@collector.example:8443/", "https://REDACTED@collector.example:8443/"},
		{"https://a@b:c@host/p@q", "https://REDACTED@host/p@q"}, // the last @ of the authority, as net/url
		{"https://host/v1?access_token=abc&api_key=k3y&region=", "https://host/v1?access_token=REDACTED&api_key=REDACTED&region="},
		{"https://host/?sig=a%2Fb;x=1&bare&&", "https://host/?sig=REDACTED;x=REDACTED&REDACTED&&"},
		{"https://host/?", "https://host/?"},
		{"https://host/p#access_token=abc", "https://host/p#REDACTED"},
		{"https://host/p#", "https://host/p#"},
		{"https://u:p@host/p?q=1#f", "https://REDACTED@host/p?q=REDACTED#REDACTED"},
		{"/v1/events?token=abc", "/v1/events?token=REDACTED"},
		{"http://u:p@%zz/?k=v", "http://REDACTED@%zz/?k=REDACTED"}, // does not parse, redacted all the same
		{"u:p@host/x", "REDACTED@host/x"},
		{"", ""},
	} {
		require.Equal(t, tc.want, URL(tc.in), tc.in)
	}
}

func TestSecretsAndForms(t *testing.T) {
	raw := "https://svc-account:hunter2-pass@host/v1?access_token=tok-0123456789&sig=a%2Bb%2Bc%2Bd%2B&n=1"
	got := Secrets(raw)
	require.Contains(t, got, "hunter2-pass")
	require.Contains(t, got, "svc-account")
	require.Contains(t, got, "c3ZjLWFjY291bnQ6aHVudGVyMi1wYXNz") // base64("svc-account:hunter2-pass")
	require.Contains(t, got, "tok-0123456789")
	require.Contains(t, got, "a%2Bb%2Bc%2Bd%2B")
	require.Contains(t, got, "a+b+c+d+")
	require.NotContains(t, got, "1", "a short value would hide ordinary text")
	require.Equal(t, [][2]string{
		{raw, "https://REDACTED@host/v1?access_token=REDACTED&sig=REDACTED&n=REDACTED"},
		{"/v1?access_token=tok-0123456789&sig=a%2Bb%2Bc%2Bd%2B&n=1", "/v1?access_token=REDACTED&sig=REDACTED&n=REDACTED"},
	}, Forms(raw))
	require.Equal(t, "GET /v1?access_token=REDACTED&sig=REDACTED&n=REDACTED; Authorization: Basic REDACTED; token REDACTED",
		InText("GET /v1?access_token=tok-0123456789&sig=a%2Bb%2Bc%2Bd%2B&n=1; Authorization: Basic c3ZjLWFjY291bnQ6aHVudGVyMi1wYXNz; token tok-0123456789", raw))
	require.Empty(t, Forms("https://host/v1"))
	require.Empty(t, Secrets("https://host/v1"))
}

// FuzzURL checks, for any text, that URL is idempotent, that whatever
// net/url reads from its result holds no userinfo but the mark, no query
// value but the mark or empty and no fragment but the mark, and that the
// scheme, host and path net/url reads are those of an input with a host.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"https://u:p@h/x?a=b#c", "http://h/?a=1;b&c=", "//u@h", "u:p@h", "http://[::1]:80/?x=%zz", "a@b@c/d?e#f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		safe := URL(raw)
		require.Equal(t, safe, URL(safe), "URL is idempotent")
		u, err := url.Parse(safe)
		if err != nil {
			return
		}
		if u.User != nil {
			_, hasPassword := u.User.Password()
			require.False(t, hasPassword, "%q gives %q", raw, safe)
			require.Equal(t, Mark, u.User.Username(), "%q gives %q", raw, safe)
		}
		require.Contains(t, []string{"", Mark}, u.Fragment, "%q gives %q", raw, safe)
		for _, part := range strings.FieldsFunc(u.RawQuery, func(r rune) bool { return r == '&' || r == ';' }) {
			key, value, ok := strings.Cut(part, "=")
			if !ok {
				require.Equal(t, Mark, key, "%q gives %q", raw, safe)
				continue
			}
			require.Contains(t, []string{"", Mark}, value, "%q gives %q", raw, safe)
		}
		if orig, err := url.Parse(raw); err == nil && orig.Host != "" {
			// Only secrets go: where it leads is kept. (Without an
			// authority, what precedes an @ goes too.)
			require.Equal(t, [3]string{orig.Scheme, orig.Host, orig.Path}, [3]string{u.Scheme, u.Host, u.Path}, "%q gives %q", raw, safe)
		}
	})
}
