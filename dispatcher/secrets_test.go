package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Secret values of the test, and the pieces of them that must not show.
const (
	bearerToken = "s3cr3t-t0ken-5e1f"
	apiKey      = "key-0123456789abcdef"
	signature   = "sig-9f8e7d6c5b4a"
	cookieValue = "sess-a1b2c3d4e5f6"
	urlPassword = "hunter2-pass"
)

var secrets = []string{bearerToken, apiKey, signature, cookieValue, urlPassword}

// echoHeaders answers with every request header in the body, as some
// receivers do on errors.
func echoHeaders(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sb strings.Builder
		for name, vs := range r.Header {
			fmt.Fprintf(&sb, "%s: %s\n", name, strings.Join(vs, ","))
		}
		http.Error(w, sb.String(), status)
	}
}

// errorTexts returns the message of err and of everything it wraps.
func errorTexts(err error) []string {
	if err == nil {
		return nil
	}
	out := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, errorTexts(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, errorTexts(e)...)
		}
	}
	return out
}

func TestHTTPSecretsNeverShowInErrorsOrLogs(t *testing.T) {
	logger, logs := logBuffer()
	opts := func(extra ...HTTPOption) []HTTPOption {
		return append([]HTTPOption{
			WithHeader("Authorization", "Bearer "+bearerToken),
			WithHeader("X-Api-Key", apiKey),
			WithHeader("Cookie", "session="+cookieValue+"; theme=dark"),
			WithHeader("X-Signature", signature),
			WithSecretHeader("x-signature"),
			WithLogger(logger),
			WithTimeout(200 * time.Millisecond),
		}, extra...)
	}
	withPassword := func(rawURL string) string {
		return strings.Replace(rawURL, "http://", "http://user:"+urlPassword+"@", 1)
	}
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		return "http://" + addr
	}()

	var errs []error
	dispatch := func(rawURL string, extra ...HTTPOption) {
		h := newHTTP(t, withPassword(rawURL), opts(extra...)...)
		err := h.Dispatch(context.Background(), makeBatch("b-secret", 2, 1))
		require.Error(t, err)
		errs = append(errs, err)
	}
	for _, status := range []int{400, 401, 413, 429, 500} {
		srv := httptest.NewServer(echoHeaders(status))
		t.Cleanup(srv.Close)
		dispatch(srv.URL)
	}
	dispatch(hangingServer(t).URL)
	dispatch(refused)
	dispatch(plainServer(t, func(w http.ResponseWriter, r *http.Request) { hijack(w, r, "HTTP/1.1 500") }))
	dispatch(plainServer(t, echoHeaders(400)), WithMaxBodyBytes(100)) // single event too large
	dispatch(plainServer(t, echoHeaders(400)), WithEventFactory(func(string, *Batch[click]) (*LogEvent, error) {
		return nil, errors.New("signing failed with " + signature)
	}))
	dispatch(plainServer(t, echoHeaders(400)), WithEventFactory(func(url string, b *Batch[click]) (*LogEvent, error) {
		return &LogEvent{URL: url + "/x", Header: http.Header{"Authorization": {"Bearer " + bearerToken}}}, nil
	}))

	var texts []string
	for _, err := range errs {
		texts = append(texts, errorTexts(err)...)
	}
	texts = append(texts, logs.String())
	for _, text := range texts {
		for _, s := range secrets {
			require.NotContains(t, text, s)
		}
	}
	require.Contains(t, logs.String(), "http://REDACTED@127.0.0.1", "URLs are logged with the userinfo hidden")
	require.Contains(t, errs[0].Error(), redacted, "the echoed headers are redacted in the excerpt")
	require.Contains(t, errs[0].Error(), "Idempotency-Key: b-secret", "the rest of the excerpt is kept")
	require.Contains(t, errs[len(errs)-2].Error(), "signing failed with "+redacted)
	require.False(t, IsPermanent(errs[len(errs)-2]), "redaction keeps the error retryable")
}

func TestRedactorHidesSecretsCutByTheExcerptLimit(t *testing.T) {
	red := newRedactor(map[string]bool{"Authorization": true},
		http.Header{"Authorization": {"Bearer " + bearerToken}})
	body := strings.Repeat("-", excerptBytes-5) + bearerToken + " trailing"
	got := excerpt(strings.NewReader(body), red)
	require.NotContains(t, got, bearerToken[:5])
	require.LessOrEqual(t, len(got), excerptBytes)
}

func TestInvalidURLErrorsHideThePassword(t *testing.T) {
	for _, raw := range []string{"http://u:" + urlPassword + "@%zz/", "ftp://u:" + urlPassword + "@host/", "http://u:" + urlPassword + "@"} {
		_, err := NewHTTP[click](raw)
		require.ErrorIs(t, err, ErrInvalidOption)
		require.NotContains(t, err.Error(), urlPassword)
	}
	_, err := NewHTTP[click]("http://h/", WithHeader("Authorization", "Bearer "+bearerToken+"\n"))
	require.ErrorIs(t, err, ErrInvalidOption)
	require.NotContains(t, err.Error(), bearerToken)
}
