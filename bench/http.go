package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
	"github.com/walbatch/walbatch/dispatcher"
)

// runHTTP: end to end. One producer calls EnqueueMany (1000 events, durable)
// for the scenario's duration; the processor sends batches of 1000 with the
// HTTP dispatcher (JSON envelope) to a receiver on loopback that decodes
// each body and counts its events. The rate is events received divided by
// the time from the first enqueue until the last event is received.
func runHTTP(e *env) (benchkit.Result, error) {
	var got atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return benchkit.Result{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got.Add(int64(len(body.Events)))
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	h, err := dispatcher.NewHTTP[benchkit.Event]("http://" + ln.Addr().String() + "/events")
	if err != nil {
		return benchkit.Result{}, err
	}
	p, err := openProcessor(filepath.Join(e.dir, "http.wal"), syncAlways, h)
	if err != nil {
		return benchkit.Result{}, err
	}
	defer stopSoon(p)
	const per = 1000
	evs := make([]benchkit.Event, per)
	ctx := context.Background()
	start := time.Now()
	n, _, err := benchkit.Produce(1, e.dur, func(_, i int) (int, error) {
		for j := range evs {
			evs[j] = *e.pool.At(i*per + j)
		}
		return per, p.EnqueueMany(ctx, evs)
	})
	if err != nil {
		return benchkit.Result{}, err
	}
	// Flush sends the tail and returns once every event is delivered.
	fctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		return benchkit.Result{}, err
	}
	if got.Load() < n {
		return benchkit.Result{}, fmt.Errorf("received %d of %d", got.Load(), n)
	}
	return benchkit.Rate("", got.Load(), time.Since(start).Seconds()), nil
}
