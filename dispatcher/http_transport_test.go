package dispatcher

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hangingServer never answers until the client goes away or the test ends.
func hangingServer(t *testing.T) *httptest.Server {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() {
		close(release)
		srv.Close()
	})
	return srv
}

func TestHTTPTimeoutIsRetryable(t *testing.T) {
	srv := hangingServer(t)
	h := newHTTP(t, srv.URL, WithTimeout(100*time.Millisecond))
	start := time.Now()
	err := h.Dispatch(context.Background(), makeBatch("b", 2, 1))
	require.Less(t, time.Since(start), 5*time.Second)
	require.Error(t, err)
	require.False(t, IsPermanent(err))
	require.Contains(t, err.Error(), "no response within 100ms")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
}

func TestHTTPHonoursTheCallersContext(t *testing.T) {
	srv := hangingServer(t)
	h := newHTTP(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := h.Dispatch(ctx, makeBatch("b", 2, 1))
	require.Less(t, time.Since(start), 5*time.Second)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, IsPermanent(err))

	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	err = h.Dispatch(done, makeBatch("b", 2, 1))
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, IsPermanent(err))
}

// plainServer serves handler with net/http on 127.0.0.1:0, no httptest.
func plainServer(t *testing.T, handler http.HandlerFunc) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// hijack reads the request, writes partial to the raw connection and closes it.
func hijack(w http.ResponseWriter, r *http.Request, partial string) {
	_, _ = io.Copy(io.Discard, r.Body)
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	_, _ = rw.WriteString(partial)
	_ = rw.Flush()
	_ = conn.Close()
}

func TestHTTPConnectionClosedMidResponse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		partial string
		ok      bool
	}{
		{"nothing written", "", false},
		{"status line cut", "HTTP/1.1 200 O", false},
		{"headers cut", "HTTP/1.1 200 OK\r\nContent-Len", false},
		// The receiver said 200: the batch was accepted, whatever happens
		// to the rest of the body.
		{"body cut after 200", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			url := plainServer(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				hijack(w, r, tc.partial)
			})
			h := newHTTP(t, url)
			err := h.Dispatch(context.Background(), makeBatch("b", 3, 1))
			require.GreaterOrEqual(t, calls.Load(), int32(1))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.False(t, IsPermanent(err))
			var se *StatusError
			require.False(t, errors.As(err, &se))
		})
	}
}

func TestHTTPConnectionRefusedIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	err = newHTTP(t, "http://"+addr).Dispatch(context.Background(), makeBatch("b", 1, 1))
	require.Error(t, err)
	require.False(t, IsPermanent(err))
}
