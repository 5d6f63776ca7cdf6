package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// collector counts the events it received per stream, by event ID.
type collector struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, e := range body.Events {
		c.ids[e.ID] = true
	}
	c.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}

// The recipe end to end: events posted to two streams are acknowledged
// with 202, the debug listener serves the WAL's stats, and a shutdown
// (SIGTERM's ctx) stops the server, flushes every stream to the collector
// and closes the file.
func TestServiceTakesEventsAndFlushesThemAtShutdown(t *testing.T) {
	defer goleak.VerifyNone(t)
	coll := &collector{ids: map[string]bool{}}
	cs := httptest.NewServer(coll)
	defer cs.Close()
	path := filepath.Join(t.TempDir(), "events.wal")
	cfg := config{addr: "127.0.0.1:0", debugAddr: "127.0.0.1:0", walPath: path, collector: cs.URL,
		maxEvents: 1000, shutdown: 10 * time.Second, logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, func(api, debug string) { addrs <- [2]string{api, debug} }) }()
	a := <-addrs
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	post := func(stream, body string) int {
		resp, err := client.Post("http://"+a[0]+"/events/"+stream, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 10 {
		require.Equal(t, http.StatusAccepted, post([]string{"web", "mobile"}[i%2], fmt.Sprintf(`{"type":"click","user":"u%d"}`, i)))
	}
	require.Equal(t, http.StatusBadRequest, post("web", `not json`))
	require.Equal(t, http.StatusBadRequest, post("bad%1bname", `{"type":"x"}`), "a stream name with a control character")

	resp, err := client.Get("http://" + a[1] + "/debug/wal/stats")
	require.NoError(t, err)
	var stats struct {
		FormatVersion uint64 `json:"format_version"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&stats))
	resp.Body.Close()
	require.Equal(t, store.FormatVersion, stats.FormatVersion)
	client.CloseIdleConnections()

	cancel() // SIGTERM
	require.NoError(t, <-done)
	require.Equal(t, 10, coll.count(), "Stop flushed every stream")

	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err, "the file was closed")
	require.ElementsMatch(t, []string{"mobile", "web"}, l.Streams())
	require.NoError(t, l.Close())
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// With the collector down, a shutdown leaves the events in the WAL, logs
// how many, and is not a failure: run returns nil.
func TestServiceLogsWhatItLeftForTheNextStart(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer cs.Close()
	path := filepath.Join(t.TempDir(), "events.wal")
	logs := &lockedBuffer{}
	cfg := config{addr: "127.0.0.1:0", debugAddr: "127.0.0.1:0", walPath: path, collector: cs.URL,
		maxEvents: 1000, shutdown: 300 * time.Millisecond, logger: slog.New(slog.NewTextHandler(logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, func(api, debug string) { addrs <- [2]string{api, debug} }) }()
	a := <-addrs
	client := &http.Client{Transport: &http.Transport{}}
	for i := range 4 {
		resp, err := client.Post("http://"+a[0]+"/events/"+[]string{"web", "mobile"}[i%2], "application/json",
			strings.NewReader(fmt.Sprintf(`{"type":"click","user":"u%d"}`, i)))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
	}
	client.CloseIdleConnections()

	cancel() // SIGTERM
	require.NoError(t, <-done, "events left for the next start are not a failure")
	require.Contains(t, logs.String(), `msg="left 4 events for the next start"`)
	require.Contains(t, logs.String(), "streams=2")

	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err)
	defer l.Close()
	var left int64
	for _, name := range l.Streams() {
		s, err := l.Stream(name)
		require.NoError(t, err)
		ev, _ := s.Stats().Outstanding()
		left += ev
	}
	require.EqualValues(t, 4, left, "what the log line says is in the file")
}

func TestStatusOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("stream web: %w", processor.ErrFull), http.StatusTooManyRequests},
		{processor.ErrStopped, http.StatusServiceUnavailable},
		{fmt.Errorf("commit: %w", store.ErrNoSpace), http.StatusInsufficientStorage},
		{processor.ErrEventTooLarge, http.StatusRequestEntityTooLarge},
		{fmt.Errorf("processor: %w", wal.ErrInvalidName), http.StatusBadRequest},
		{context.Canceled, http.StatusServiceUnavailable},
		{io.ErrUnexpectedEOF, http.StatusInternalServerError},
	} {
		require.Equal(t, c.want, statusOf(c.err), "%v", c.err)
	}
}
