package dispatcher

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHTTPStatusTable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		status  int
		outcome string
	}{
		{200, "ok"}, {201, "ok"}, {202, "ok"}, {204, "ok"},
		{408, "retry"}, {429, "retry"}, {500, "retry"}, {502, "retry"}, {503, "retry"}, {504, "retry"},
		{400, "permanent"}, {401, "permanent"}, {403, "permanent"}, {404, "permanent"},
		{409, "permanent"}, {422, "permanent"},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			h := newHTTP(t, srv.URL+"/"+strconv.Itoa(tc.status))
			err := h.Dispatch(context.Background(), makeBatch("b", 2, 1))
			if tc.outcome == "ok" {
				require.NoError(t, err)
				return
			}
			var se *StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.status, se.Status)
			require.Equal(t, tc.outcome == "permanent", IsPermanent(err))
			_, partial := Delivered(err, 2)
			require.False(t, partial)
		})
	}
}

func TestHTTPServerErrorThenSuccess(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *received, n int) {
		if n == 0 {
			http.Error(w, "database unavailable", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h := newHTTP(t, rc.URL)
	b := makeBatch("b-500", 3, 1)

	err := h.Dispatch(context.Background(), b)
	require.Error(t, err)
	require.False(t, IsPermanent(err))
	var re *RetryableError
	require.ErrorAs(t, err, &re)
	_, ok := RetryAfter(err)
	require.False(t, ok, "no Retry-After: the processor's backoff applies")
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, StatusError{Status: 500, Body: "database unavailable"}, *se)

	b.Attempt = 2
	require.NoError(t, h.Dispatch(context.Background(), b))
	reqs := rc.requests()
	require.Len(t, reqs, 2)
	require.Equal(t, reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"))
	require.Equal(t, 2, decode(t, reqs[1].Body).Attempt)
}

func TestHTTPRetryAfterInBothForms(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		value    func() string
		min, max time.Duration
		ok       bool
	}{
		{"429 seconds", 429, func() string { return "7" }, 7 * time.Second, 7 * time.Second, true},
		{"429 date", 429, func() string { return time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat) }, 85 * time.Second, 90 * time.Second, true},
		{"503 seconds", 503, func() string { return "120" }, 2 * time.Minute, 2 * time.Minute, true},
		{"429 absurd", 429, func() string { return "99999999999999" }, time.Hour, time.Hour, true},
		{"429 garbage", 429, func() string { return "soon" }, 0, 0, false},
		{"408 date in the past", 408, func() string { return "Mon, 02 Jan 2006 15:04:05 GMT" }, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter, _ *received, _ int) {
				w.Header().Set("Retry-After", tc.value())
				w.WriteHeader(tc.status)
			})
			err := newHTTP(t, rc.URL).Dispatch(context.Background(), makeBatch("b", 1, 1))
			require.Error(t, err)
			require.False(t, IsPermanent(err))
			after, ok := RetryAfter(err)
			require.Equal(t, tc.ok, ok)
			require.GreaterOrEqual(t, after, tc.min)
			require.LessOrEqual(t, after, tc.max)
		})
	}
}

func TestHTTPBadRequestIsPermanentWithABodyExcerpt(t *testing.T) {
	long := "field \"user\" is required; " + strings.Repeat("x", 1000)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *received, _ int) {
		http.Error(w, long, http.StatusBadRequest)
	})
	err := newHTTP(t, rc.URL).Dispatch(context.Background(), makeBatch("b-400", 2, 1))
	require.True(t, IsPermanent(err))
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusBadRequest, se.Status)
	require.Len(t, se.Body, excerptBytes)
	require.True(t, strings.HasPrefix(long, se.Body))
	require.Contains(t, err.Error(), `HTTP 400 Bad Request: field "user" is required`)
	require.Contains(t, err.Error(), "b-400")
}

func TestHTTPRedirects(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *received, _ int) {
		switch r.Path {
		case "/found":
			w.Header().Set("Location", "/ok")
			w.WriteHeader(http.StatusFound)
		case "/temporary":
			w.Header().Set("Location", "/ok")
			w.WriteHeader(http.StatusTemporaryRedirect)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	// A 302 would turn the POST into a GET without a body: refuse it.
	err := newHTTP(t, rc.URL+"/found").Dispatch(context.Background(), makeBatch("b", 1, 1))
	require.True(t, IsPermanent(err))
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusFound, se.Status)
	require.Len(t, rc.requests(), 1)

	// A 307 keeps method and body.
	require.NoError(t, newHTTP(t, rc.URL+"/temporary").Dispatch(context.Background(), makeBatch("b", 1, 1)))
	reqs := rc.requests()
	require.Len(t, reqs, 3)
	require.Equal(t, "/ok", reqs[2].Path)
	require.Equal(t, http.MethodPost, reqs[2].Method)
	require.Equal(t, "b", decode(t, reqs[2].Body).BatchID)
}

func TestHTTPReusesConnectionsAfterErrorResponses(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, strings.Repeat("e", 10_000), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(strings.Repeat("k", 10_000)))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	bad := newHTTP(t, srv.URL+"/bad", WithClient(srv.Client()))
	good := newHTTP(t, srv.URL+"/good", WithClient(srv.Client()))
	for range 5 {
		require.True(t, IsPermanent(bad.Dispatch(context.Background(), makeBatch("b", 1, 1))))
		require.NoError(t, good.Dispatch(context.Background(), makeBatch("b", 1, 1)))
	}
	require.Equal(t, int32(1), conns.Load(), "response bodies are drained, so one connection serves all")
}

func TestHTTPWithClientDoesNotChangeTheCallersClient(t *testing.T) {
	c := &http.Client{}
	_, err := NewHTTP[click]("http://127.0.0.1:1/", WithClient(c))
	require.NoError(t, err)
	require.Nil(t, c.CheckRedirect)
	require.False(t, errors.Is(err, ErrInvalidOption))
}
