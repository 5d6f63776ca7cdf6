package dispatcher

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewHTTPRejectsBadOptions(t *testing.T) {
	factory := WithEventFactory(func(string, *Batch[string]) (*LogEvent, error) { return nil, nil })
	for _, tc := range []struct {
		name string
		url  string
		opts []HTTPOption
		want string
	}{
		{"relative URL", "/ingest", nil, "URL must be absolute"},
		{"no host", "http://", nil, "URL must be absolute"},
		{"other scheme", "ftp://host/", nil, "URL must be absolute"},
		{"zero timeout", "", []HTTPOption{WithTimeout(0)}, "WithTimeout(0s)"},
		{"negative byte limit", "", []HTTPOption{WithMaxBodyBytes(-1)}, "WithMaxBodyBytes(-1)"},
		{"zero retry-after cap", "", []HTTPOption{WithMaxRetryAfter(0)}, "WithMaxRetryAfter"},
		{"unknown format", "", []HTTPOption{WithBodyFormat(BodyFormat(9))}, "unknown format"},
		{"format and factory", "", []HTTPOption{WithBodyFormat(BodyNDJSON), WithEventFactory(func(string, *Batch[click]) (*LogEvent, error) { return nil, nil })}, "conflict"},
		{"factory of another type", "", []HTTPOption{factory}, "want EventFactory[dispatcher.click]"},
		{"nil factory", "", []HTTPOption{WithEventFactory[click](nil)}, "WithEventFactory(nil)"},
		{"nil client", "", []HTTPOption{WithClient(nil)}, "WithClient(nil)"},
		{"nil option", "", []HTTPOption{nil}, "nil option"},
		{"bad header name", "", []HTTPOption{WithHeader("Bad Name", "v")}, "not a valid token"},
		{"header value with newline", "", []HTTPOption{WithHeaders(http.Header{"X-A": {"a\r\nX-B: b"}})}, "CR, LF or NUL"},
		{"reserved header", "", []HTTPOption{WithHeader("Idempotency-Key", "mine")}, "set by the dispatcher"},
		{"reserved header via map", "", []HTTPOption{WithHeaders(http.Header{"Content-Length": {"1"}})}, "set by the dispatcher"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url
			if url == "" {
				url = "https://collector.example/ingest"
			}
			_, err := NewHTTP[click](url, tc.opts...)
			require.ErrorIs(t, err, ErrInvalidOption)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestNewHTTPDefaults(t *testing.T) {
	h, err := NewHTTP[click]("https://collector.example/ingest")
	require.NoError(t, err)
	require.Equal(t, DefaultTimeout, h.cfg.timeout)
	require.Equal(t, 3_500_000, h.cfg.maxBodyBytes)
	require.Equal(t, time.Hour, h.cfg.maxRetryAfter)
	require.Equal(t, BodyEnvelope, h.cfg.format)
	require.False(t, h.cfg.gzip)
	tr, ok := h.client.Transport.(*http.Transport)
	require.True(t, ok)
	require.True(t, tr.TLSClientConfig == nil || !tr.TLSClientConfig.InsecureSkipVerify, "TLS is verified")
	for _, name := range []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key"} {
		require.True(t, h.cfg.secret[name], name)
	}
}

func TestHTTPIsSafeForConcurrentUse(t *testing.T) {
	rc := newReceiver(t, nil)
	logger, _ := logBuffer()
	h := newHTTP(t, rc.URL, WithGzip(), WithMaxBodyBytes(800), WithLogger(logger.With(slog.String("test", t.Name()))))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				b := makeBatch("b", 10, uint64(g*1000+i*10))
				if err := h.Dispatch(context.Background(), b); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for _, r := range rc.requests() {
		for _, ev := range decode(t, r.Body).Events {
			seen[ev.ID]++
		}
	}
	require.Len(t, seen, 8*10*10)
	for id, n := range seen {
		require.Equal(t, 1, n, id)
	}
}
