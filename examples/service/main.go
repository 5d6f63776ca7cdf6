// Command service is the recipe README.md shows: an HTTP service that
// takes events on POST /events/{stream}, keeps them in a walbatch WAL (one
// stream per path, all in one file, through a processor.Manager) and
// delivers them in batches to a collector over HTTP. The WAL's stats and
// snapshots are served on a separate loopback listener for walctl.
//
//	go run ./examples/service -collector https://collector.example/events
//	curl -d '{"type":"click","user":"u1"}' localhost:8080/events/web
//	walctl snapshot http://127.0.0.1:8081/debug/wal -o copy.wal
//
// SIGTERM (or Ctrl-C) shuts it down in the one safe order: stop taking
// requests (http.Server.Shutdown), then Manager.Stop, which flushes every
// stream and closes the WAL. Whatever the collector has not accepted by
// then stays in the file and goes out at the next start; the service logs
// how much ("left N events for the next start") and exits 0 all the same.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// Event is what producers post, as JSON; the WAL keeps it as msgpack.
type Event struct {
	Type  string            `json:"type" msgpack:"type"`
	User  string            `json:"user" msgpack:"user"`
	Props map[string]string `json:"props,omitempty" msgpack:"props,omitempty"`
}

// config is the service's settings (flags in main, fixed in tests).
type config struct {
	addr      string // the events API
	debugAddr string // store.Handler, for walctl snapshot: keep it on loopback
	walPath   string
	collector string        // where batches go
	maxEvents int64         // pending events per stream before 429
	shutdown  time.Duration // for the HTTP server and then the manager
	logger    *slog.Logger
}

func main() {
	cfg := config{logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address of the events API")
	flag.StringVar(&cfg.debugAddr, "debug-addr", "127.0.0.1:8081", "address of the WAL's stats and snapshots (loopback)")
	flag.StringVar(&cfg.walPath, "wal", "events.wal", "the WAL file")
	flag.StringVar(&cfg.collector, "collector", "http://127.0.0.1:9090/events", "the collector's URL")
	flag.Int64Var(&cfg.maxEvents, "max-pending", 1_000_000, "pending events per stream before requests get 429")
	flag.DurationVar(&cfg.shutdown, "shutdown", 10*time.Second, "how long shutdown may take")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, nil); err != nil {
		cfg.logger.Error("service stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down. ready, when set, learns the
// listeners' addresses once they accept connections.
func run(ctx context.Context, cfg config, ready func(api, debug string)) error {
	factory := func(stream string) (dispatcher.Dispatcher[Event], []processor.Option, error) {
		d, err := dispatcher.NewHTTP[Event](cfg.collector, dispatcher.WithLogger(cfg.logger))
		return d, nil, err
	}
	m, err := processor.OpenManager[Event](cfg.walPath, factory, 0, nil,
		processor.WithLogger(cfg.logger),
		processor.WithPendingLimits(cfg.maxEvents, 0),
		processor.WithFullPolicy(processor.FailFast))
	if err != nil {
		return err // locked, not a WAL, newer, corrupt: the error says which
	}

	api, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return errors.Join(err, stop(context.Background(), m, cfg.logger))
	}
	debug, err := net.Listen("tcp", cfg.debugAddr)
	if err != nil {
		_ = api.Close()
		return errors.Join(err, stop(context.Background(), m, cfg.logger))
	}
	mux := http.NewServeMux()
	mux.Handle("POST /events/{stream}", enqueueHandler(m))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	debugMux := http.NewServeMux()
	debugMux.Handle("/debug/wal/", http.StripPrefix("/debug/wal", store.Handler(m.Log().Store(), nil)))
	debugSrv := &http.Server{Handler: debugMux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(api) }()
	go func() { serveErr <- debugSrv.Serve(debug) }()
	if ready != nil {
		ready(api.Addr().String(), debug.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err = <-serveErr: // a listener failed: shut down the same way
	}
	// 1. No new requests; those in progress finish (their events are
	//    committed or refused). The debug server goes too: the WAL it
	//    serves is closed next.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdown)
	defer cancel()
	err = errors.Join(ignoreClosed(err), srv.Shutdown(sctx), debugSrv.Shutdown(sctx))
	// 2. Flush and stop every stream, then close the file (OpenManager
	//    opened it). What is not delivered in time stays in the WAL.
	return errors.Join(err, stop(sctx, m, cfg.logger))
}

// stop stops the manager and logs what it left in the WAL for the next
// start: durable, so not a failure. It returns Stop's other errors (a
// stuck dispatch, a failed close).
func stop(ctx context.Context, m *processor.Manager[Event], logger *slog.Logger) error {
	err := m.Stop(ctx)
	var left *processor.UndeliveredError
	if errors.As(err, &left) {
		logger.Warn(fmt.Sprintf("left %d events for the next start", left.Events()),
			"bytes", left.Bytes(), "pending", left.PendingEvents, "in_flight", left.InFlightEvents,
			"streams", len(left.Streams), "detail", left.Error())
	}
	return processor.WithoutUndelivered(err)
}

// enqueueHandler commits each posted event to its stream before answering
// 202: a 202 means the event is durable.
func enqueueHandler(m *processor.Manager[Event]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev Event
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&ev); err != nil {
			http.Error(w, "bad event: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := m.Enqueue(r.Context(), r.PathValue("stream"), ev); err != nil {
			http.Error(w, err.Error(), statusOf(err))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

// statusOf maps what Enqueue can return to an HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, processor.ErrFull):
		return http.StatusTooManyRequests // back off: the backlog is at its limit
	case errors.Is(err, processor.ErrStopped):
		return http.StatusServiceUnavailable // shutting down: try another instance
	case errors.Is(err, store.ErrNoSpace):
		return http.StatusInsufficientStorage // the disk under the WAL is full
	case errors.Is(err, processor.ErrEventTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, wal.ErrInvalidName):
		return http.StatusBadRequest // the stream name in the path
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable // the client went away or timed out
	}
	return http.StatusInternalServerError
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
