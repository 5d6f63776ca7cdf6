package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/walbatch/walbatch/internal/redact"
)

// maxRedirects is how many redirects the default policy follows, as
// net/http's own default.
const maxRedirects = 10

// newDefaultClient returns the client used without WithClient: its own
// transport, cloned from http.DefaultTransport (TLS verification on), with
// room for a few idle connections to the receiver.
func newDefaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: t}
}

// withRedirectPolicy returns a shallow copy of c (c is not changed) whose
// redirects carry no secret to another origin:
//
//   - a redirect that would change the method is returned instead of
//     followed: a 301, 302 or 303 answer to a POST turns into a GET without
//     a body, whose 2xx would look like a delivery;
//   - a redirect to another origin (scheme, host or port other than the
//     first request's) is followed without the headers named in secret
//     (net/http itself drops only Authorization and Cookie, and keeps them
//     for another port or a subdomain), and logged at Warn;
//   - no redirect carries the Referer net/http adds (it quotes the previous
//     URL, query token included); a Referer the request set itself stays.
//
// 307 and 308 keep method and body and are followed, then under c's own
// policy if it has one.
func withRedirectPolicy(c *http.Client, secret map[string]bool, log *slog.Logger) *http.Client {
	cp := *c
	next := c.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) == 0 {
			return nil
		}
		first := via[0]
		if req.Method != first.Method {
			return http.ErrUseLastResponse
		}
		if first.Header.Get("Referer") == "" {
			req.Header.Del("Referer")
		}
		if !sameOrigin(req.URL, first.URL) {
			for name := range req.Header {
				if secret[http.CanonicalHeaderKey(name)] {
					req.Header.Del(name)
				}
			}
			log.LogAttrs(context.Background(), slog.LevelWarn,
				"dispatcher: redirected to another origin; secret headers are not sent there",
				slog.String("from", redact.URL(first.URL.String())), slog.String("to", redact.URL(req.URL.String())))
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return errors.New("dispatcher: stopped after 10 redirects")
		}
		return nil
	}
	return &cp
}

// sameOrigin reports whether a and b have the same scheme and host,
// port included (as written: "host" and "host:443" differ).
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}
