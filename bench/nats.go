package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
	walnats "github.com/walbatch/walbatch/sinks/nats"
)

// runNATS: end to end into NATS JetStream, beside e2e-http and e2e-kafka.
// One producer calls EnqueueMany (1000 events, durable) for the
// scenario's duration; the processor sends batches of 1000 through the
// walnats dispatcher (one message per event, the stored msgpack as body,
// Nats-Msg-Id and the batch headers, all published async, every PubAck
// awaited) to a nats-server with JetStream run in this process on
// loopback, storing its stream in files in the scenario's directory (the
// server's default: written, not fsync'd per message). The rate is
// events the stream acknowledged divided by the time from the first
// enqueue until the last PubAck. The server shares the 2 cores with the
// producer, as e2e-http's receiver does.
func runNATS(e *env) (benchkit.Result, error) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: filepath.Join(e.dir, "jetstream"), NoLog: true, NoSigs: true})
	if err != nil {
		return benchkit.Result{}, err
	}
	srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		return benchkit.Result{}, errors.New("nats-server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return benchkit.Result{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return benchkit.Result{}, err
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}}); err != nil {
		return benchkit.Result{}, err
	}
	sink, err := walnats.New[benchkit.Event](ctx, nc, "BENCH", "bench.{stream}", walnats.WithRetryHorizon(0))
	if err != nil {
		return benchkit.Result{}, err
	}
	p, err := openProcessor(filepath.Join(e.dir, "nats.wal"), syncAlways, sink)
	if err != nil {
		return benchkit.Result{}, err
	}
	defer stopSoon(p)
	const per = 1000
	evs := make([]benchkit.Event, per)
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
	fctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		return benchkit.Result{}, err
	}
	acked := sink.Stats().Acked
	if acked < n {
		return benchkit.Result{}, fmt.Errorf("the stream acknowledged %d of %d", acked, n)
	}
	return benchkit.Rate("", acked, time.Since(start).Seconds()), nil
}
