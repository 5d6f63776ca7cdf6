package dispatcher_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/wal"
)

type lockedBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

// What a real processor stores in its WAL (dead-letter reasons, a retried
// batch's last error) and logs, for an HTTP receiver that echoes the
// request, holds none of the URL's secrets nor the header secrets.
func TestHTTPSecretsStayOutOfTheWAL(t *testing.T) {
	const (
		password = "hunter2-pass"
		token    = "tok-0123456789abcdef"
		apiKey   = "key-0123456789abcdef"
	)
	secrets := []string{password, token, apiKey, "sig=a1b2",
		base64.StdEncoding.EncodeToString([]byte("svc-account:" + password))}
	for _, status := range []int{http.StatusBadRequest, http.StatusServiceUnavailable} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var sb strings.Builder
				fmt.Fprintf(&sb, "%s %s\n", r.Method, r.RequestURI)
				for name, vs := range r.Header {
					fmt.Fprintf(&sb, "%s: %s\n", name, strings.Join(vs, ","))
				}
				http.Error(w, sb.String(), status)
			}))
			t.Cleanup(srv.Close)
			logs := &lockedBuffer{}
			logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			rawURL := strings.Replace(srv.URL, "http://", "http://svc-account:"+password+"@", 1) +
				"/v1?access_token=" + token + "&sig=a1b2"
			d, err := dispatcher.NewHTTP[int](rawURL, dispatcher.WithHeader("X-Api-Key", apiKey), dispatcher.WithLogger(logger))
			require.NoError(t, err)
			t.Cleanup(d.CloseIdleConnections)
			path := filepath.Join(t.TempDir(), "secrets.wal")
			p, err := processor.Open[int](path, d, processor.WithBatchSize(2), processor.WithMaxRetries(0),
				processor.WithMaxAge(time.Hour), processor.WithLogger(logger))
			require.NoError(t, err)
			for i := range 2 {
				require.NoError(t, p.Enqueue(context.Background(), i))
			}
			require.NoError(t, p.Flush(context.Background()))
			require.NoError(t, p.Stop(context.Background()))

			l, err := wal.Open(path, nil)
			require.NoError(t, err)
			defer l.Close()
			s, err := l.Stream(processor.DefaultStream)
			require.NoError(t, err)
			var stored []string
			require.NoError(t, s.ForEachDead(func(dl wal.DeadLetter) error {
				stored = append(stored, dl.Reason)
				return nil
			}))
			require.Len(t, stored, 2)
			require.Contains(t, stored[0], fmt.Sprintf("HTTP %d", status))
			require.Contains(t, stored[0], "access_token=REDACTED")
			for _, text := range append(stored, logs.String()) {
				for _, secret := range secrets {
					require.NotContains(t, text, secret)
				}
			}
		})
	}
}
