package dispatcher

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHTTPDispatch sends batches of 1000 small events to a loopback
// receiver that reads and discards the body, and reports events/s.
//
//	go test -run '^$' -bench BenchmarkHTTPDispatch -benchtime 3s ./dispatcher/
func BenchmarkHTTPDispatch(b *testing.B) {
	const batchSize = 1000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	batch := makeBatch("bench", batchSize, 1)
	for _, bc := range []struct {
		name string
		opts []HTTPOption
	}{
		{"envelope", nil},
		{"ndjson", []HTTPOption{WithBodyFormat(BodyNDJSON)}},
		{"envelope-gzip", []HTTPOption{WithGzip()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h, err := NewHTTP[click](srv.URL, bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer h.CloseIdleConnections()
			ctx := context.Background()
			batches := 0
			b.ReportAllocs()
			for b.Loop() {
				if err := h.Dispatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
				batches++
			}
			b.ReportMetric(float64(batches*batchSize)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
