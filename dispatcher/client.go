package dispatcher

import (
	"errors"
	"net/http"
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

// withRedirectPolicy returns a shallow copy of c (c is not changed) that
// returns, instead of following, a redirect that would change the method: a
// 301, 302 or 303 answer to a POST turns into a GET without a body, whose 2xx
// would look like a delivery. 307 and 308 keep method and body and are
// followed, under c's own policy if it has one.
func withRedirectPolicy(c *http.Client) *http.Client {
	cp := *c
	next := c.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && req.Method != via[0].Method {
			return http.ErrUseLastResponse
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
