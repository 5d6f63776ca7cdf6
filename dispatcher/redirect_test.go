package dispatcher

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A 307 or 308 to another origin (another host, or the same host on
// another port) is followed without the secret headers: neither the
// defaults, nor WithSecretHeader names, nor the Authorization the URL's
// userinfo becomes reach it, and no request carries a Referer (it would
// quote the first URL's query token). A redirect within the origin keeps
// the secrets.
func TestHTTPRedirectCarriesNoSecretsToAnotherOrigin(t *testing.T) {
	landing := newReceiver(t, nil)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(landing.URL, "http://"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name, to string
		keeps    bool
	}{
		{"another host", "http://localhost:" + port + "/landing", false},
		{"another port", landing.URL + "/landing", false},
		{"same origin", "/landing", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := newReceiver(t, func(w http.ResponseWriter, r *received, _ int) {
				if r.Path == "/landing" {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				w.Header().Set("Location", tc.to)
				w.WriteHeader(http.StatusPermanentRedirect)
			})
			h := newHTTP(t, withURLSecrets(first.URL),
				WithHeader("X-Api-Key", apiKey),
				WithHeader("Cookie", "session="+cookieValue),
				WithHeader("X-Signature", signature),
				WithSecretHeader("X-Signature"),
			)
			require.NoError(t, h.Dispatch(context.Background(), makeBatch("b-redirect", 2, 1)))

			var got received
			if tc.keeps {
				reqs := first.requests()
				require.Len(t, reqs, 2)
				got = reqs[1]
			} else {
				reqs := landing.requests()
				require.NotEmpty(t, reqs)
				got = reqs[len(reqs)-1]
				require.Len(t, first.requests(), 1)
			}
			require.Equal(t, "/landing", got.Path)
			require.Equal(t, "b-redirect", decode(t, got.Body).BatchID, "the body follows the redirect")
			require.Equal(t, "b-redirect", got.Header.Get("Idempotency-Key"))
			require.Empty(t, got.Header.Values("Referer"))
			secret := []string{"Authorization", "X-Api-Key", "Cookie", "X-Signature"}
			for _, name := range secret {
				if tc.keeps {
					require.NotEmpty(t, got.Header.Get(name), name)
				} else {
					require.Empty(t, got.Header.Values(name), name)
				}
			}
			if !tc.keeps {
				for name, vs := range got.Header {
					for _, s := range append(append([]string(nil), urlSecrets...), apiKey, cookieValue, signature) {
						require.NotContains(t, strings.Join(vs, ","), s, name)
					}
				}
			}
		})
	}
}

// The first request never carries a Referer either.
func TestHTTPSendsNoReferer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Referer() != "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	require.NoError(t, newHTTP(t, withURLSecrets(srv.URL)).Dispatch(context.Background(), makeBatch("b", 1, 1)))
}
