package dispatcher

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// click is the event type of most tests.
type click struct {
	User string `json:"user"`
	N    int    `json:"n"`
}

// t0 is the enqueue time of the first test event.
var t0 = time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.UTC)

// makeBatch returns a batch of n click events with sequences from seq.
func makeBatch(id string, n int, seq uint64) *Batch[click] {
	b := &Batch[click]{ID: id, Stream: "clicks", Attempt: 1}
	for i := range n {
		s := seq + uint64(i)
		b.Events = append(b.Events, Event[click]{
			ID:         fmt.Sprintf("ev-%d", s),
			Seq:        s,
			EnqueuedAt: t0.Add(time.Duration(i) * time.Millisecond),
			Value:      click{User: fmt.Sprintf("u%d", s), N: int(s)},
		})
	}
	return b
}

// received is one request as the receiver saw it.
type received struct {
	Method string
	Path   string
	Header http.Header
	Wire   []byte // the body as sent, maybe gzip
	Body   []byte // the body decompressed
}

// wireEvent and wireBatch decode the default body.
type wireEvent struct {
	ID   string          `json:"id"`
	Seq  uint64          `json:"seq"`
	Time string          `json:"time"`
	Key  string          `json:"key"`
	Data json.RawMessage `json:"data"`
}

type wireBatch struct {
	BatchID string      `json:"batch_id"`
	Stream  string      `json:"stream"`
	Attempt int         `json:"attempt"`
	Events  []wireEvent `json:"events"`
}

// receiver is a loopback HTTP server recording every request. respond
// answers request number n (from 0); nil answers 204.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newReceiver(t testing.TB, respond func(w http.ResponseWriter, r *received, n int)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wire, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		rec := received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Wire: wire, Body: wire}
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(wire))
			if err == nil {
				rec.Body, err = io.ReadAll(zr)
			}
			if err != nil {
				http.Error(w, "bad gzip", http.StatusBadRequest)
				return
			}
		}
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.reqs = append(rc.reqs, rec)
		rc.mu.Unlock()
		if respond == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		respond(w, &rec, n)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// decode parses an envelope body.
func decode(t testing.TB, body []byte) wireBatch {
	t.Helper()
	var wb wireBatch
	require.NoError(t, json.Unmarshal(body, &wb), "body: %s", body)
	return wb
}

// newHTTP builds a click dispatcher, closing its idle connections at the end.
func newHTTP(t testing.TB, url string, opts ...HTTPOption) *HTTP[click] {
	t.Helper()
	h, err := NewHTTP[click](url, opts...)
	require.NoError(t, err)
	t.Cleanup(h.CloseIdleConnections)
	return h
}

// logBuffer returns a Debug-level logger writing into a buffer safe for
// concurrent use.
func logBuffer() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
