package main

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// snapshot's messages never show the URL's userinfo or query values: not
// in a usage error, a transport error, a refusal (even when the server
// echoes the request), nor after a redirect; and a redirect carries no
// Referer quoting the token.
func TestSnapshotHidesURLSecrets(t *testing.T) {
	const (
		user     = "svc-account"
		password = "hunter2-pass"
		token    = "tok-0123456789abcdef"
	)
	secrets := []string{user, password, token, "sig=a1b2", base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	withSecrets := func(base string) string {
		return strings.Replace(base, "http://", "http://"+user+":"+password+"@", 1) + "/debug/wal?access_token=" + token + "&sig=a1b2"
	}
	echo := func(w http.ResponseWriter, r *http.Request) {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s %s\n", r.Method, r.RequestURI)
		for name, vs := range r.Header {
			fmt.Fprintf(&sb, "%s: %s\n", name, strings.Join(vs, ","))
		}
		http.Error(w, sb.String(), http.StatusInternalServerError)
	}
	var mu sync.Mutex
	var referers []string
	landing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		referers = append(referers, r.Header.Values("Referer")...)
		mu.Unlock()
		echo(w, r)
	}))
	defer landing.Close()
	redirect := httptest.NewServer(http.RedirectHandler(landing.URL+"/elsewhere", http.StatusFound))
	defer redirect.Close()
	echoing := httptest.NewServer(http.HandlerFunc(echo))
	defer echoing.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())

	for _, tc := range []struct {
		name, url string
		code      int
	}{
		{"not http", strings.Replace(withSecrets("http://h"), "http://", "ftp://", 1), exitUsage},
		{"unparsable", withSecrets("http://%zz"), exitUsage},
		{"echoed", withSecrets(echoing.URL), exitError},
		{"refused", withSecrets(refused), exitError},
		{"redirected", withSecrets(redirect.URL), exitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := walctl(t, "snapshot", tc.url, "-o", filepath.Join(t.TempDir(), "copy.wal"))
			require.Equal(t, tc.code, r.code, r.stderr)
			require.NotEmpty(t, r.stderr)
			for _, s := range secrets {
				require.NotContains(t, r.stderr+r.stdout, s)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, referers)
}
