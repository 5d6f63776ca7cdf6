package dispatcher

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The secrets a URL carries in these tests: userinfo, a long query token
// and a short signature.
const (
	urlUser  = "svc-account"
	urlToken = "tok-0123456789abcdef"
	urlSig   = "a1b2"
)

// urlSecrets are the texts that must never show once a URL carries the
// secrets above: each value, the Basic credentials the userinfo becomes,
// and the short signature with its key (alone, "a1b2" could be anything).
var urlSecrets = []string{urlUser, urlPassword, urlToken, "sig=" + urlSig,
	base64.StdEncoding.EncodeToString([]byte(urlUser + ":" + urlPassword))}

// withURLSecrets puts userinfo and a query token into an http:// URL.
func withURLSecrets(rawURL string) string {
	return strings.Replace(rawURL, "http://", "http://"+urlUser+":"+urlPassword+"@", 1) +
		"/v1/events?access_token=" + urlToken + "&sig=" + urlSig
}

// echoRequest answers with the request line and every header in the body.
func echoRequest(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s %s\n", r.Method, r.RequestURI)
		for name, vs := range r.Header {
			fmt.Fprintf(&sb, "%s: %s\n", name, strings.Join(vs, ","))
		}
		http.Error(w, sb.String(), status)
	}
}

// A URL's userinfo and query values never show in an error or a log line,
// whatever the failure: a receiver echoing the request (its Authorization:
// Basic header above all), a timeout, a refused connection, a redirect to
// a URL with a token of its own.
func TestHTTPURLSecretsNeverShowInErrorsOrLogs(t *testing.T) {
	logger, logs := logBuffer()
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		return "http://" + addr
	}()
	var sawBasic bool
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		sawBasic = sawBasic || (ok && user == urlUser && password == urlPassword)
		echoRequest(http.StatusBadRequest)(w, r)
	}))
	t.Cleanup(echo.Close)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, withURLSecrets(refused), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)

	var errs []error
	for _, base := range []string{echo.URL, plainServer(t, echoRequest(http.StatusServiceUnavailable)),
		hangingServer(t).URL, refused, redirect.URL} {
		h := newHTTP(t, withURLSecrets(base), WithLogger(logger), WithTimeout(200*time.Millisecond))
		err := h.Dispatch(context.Background(), makeBatch("b-url", 2, 1))
		require.Error(t, err)
		errs = append(errs, err)
	}
	// An event factory's error quoting the URL it was given, or a URL of
	// its own that does not parse.
	for _, factory := range []EventFactory[click]{
		func(url string, _ *Batch[click]) (*LogEvent, error) {
			return nil, fmt.Errorf("cannot sign a request for %s", url)
		},
		func(url string, _ *Batch[click]) (*LogEvent, error) {
			return &LogEvent{URL: strings.Replace(url, "127.0.0.1", "%zz", 1)}, nil
		},
	} {
		h := newHTTP(t, withURLSecrets(echo.URL), WithLogger(logger), WithEventFactory(factory))
		err := h.Dispatch(context.Background(), makeBatch("b-url", 2, 1))
		require.Error(t, err)
		errs = append(errs, err)
	}
	require.True(t, sawBasic, "the userinfo is still sent as Basic credentials")
	texts := []string{logs.String()}
	for _, err := range errs {
		texts = append(texts, errorTexts(err)...)
	}
	for _, text := range texts {
		for _, s := range urlSecrets {
			require.NotContains(t, text, s)
		}
	}
	require.Contains(t, errs[0].Error(), "/v1/events?access_token=REDACTED&sig=REDACTED", "the echoed request line is redacted")
	require.Contains(t, errs[0].Error(), "Authorization: [REDACTED]")
	require.Contains(t, logs.String(), "http://REDACTED@127.0.0.1:", "the URL is logged with its userinfo hidden")
}

// An echoed request line that starts within the excerpt is read whole
// before it is cut, so that none of its short query values shows.
func TestExcerptHidesAnEchoedRequestLineCutByTheLimit(t *testing.T) {
	raw := "http://host/v1?sig=" + urlSig
	for i := range 30 {
		raw += fmt.Sprintf("&k%d=v", i)
	}
	dest, err := newDestination(raw)
	require.NoError(t, err)
	red := newRedactor(nil, nil, dest)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	for pad := excerptBytes - 40; pad < excerptBytes; pad++ {
		body := strings.Repeat("-", pad) + "POST " + u.RequestURI() + " HTTP/1.1"
		got := excerpt(strings.NewReader(body), red)
		require.NotContains(t, got, "sig="+urlSig, "pad %d", pad)
	}
}

// A *url.Error deeper in an error's chain (a factory wrapping one) has its
// URL redacted in the message, whatever URL it names.
func TestRedactorHidesTheURLOfAWrappedURLError(t *testing.T) {
	red := newRedactor(nil, nil)
	for _, raw := range []string{"http://u:" + urlPassword + "@h/?sig=" + urlSig, "http://h/\"?sig=" + urlSig} {
		err := fmt.Errorf("signing: %w", &url.Error{Op: "Get", URL: raw, Err: io.ErrUnexpectedEOF})
		got := red.Error(err)
		require.NotContains(t, got.Error(), urlSig, raw)
		require.NotContains(t, got.Error(), urlPassword, raw)
		require.Contains(t, got.Error(), "sig=REDACTED", raw)
		require.ErrorIs(t, got, io.ErrUnexpectedEOF)
	}
}
