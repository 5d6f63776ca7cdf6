// Command otelq is the bench's durable peer: the OpenTelemetry Collector's
// persistent sending queue (exporterhelper's sending_queue with storage set
// to the file_storage extension, fsync on), run outside a collector the way
// the collector's own tests set it up, and fed the bench's event.
//
// It is a module of its own because the file_storage extension needs bbolt
// v1.5.0 while walbatch pins v1.4.3: in one module Go's minimal version
// selection would raise walbatch's bbolt inside the bench to v1.5.0, so the
// bench would no longer measure walbatch as its go.mod builds it. The bench
// (cd bench && go run .) builds this binary and runs it like any of its own
// scenario subprocesses:
//
//	go run . -scenario otel-32 -dir /tmp/x -dur 3s   # prints one RESULT line
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
)

// scenario is one way of feeding the queue.
type scenario struct {
	producers int
	perCall   int // log records per ConsumeLogs call (one queue item whatever its size)
}

// Scenarios, by the names the bench lists them under.
var scenarios = map[string]scenario{
	"otel-1":       {producers: 1, perCall: 1},
	"otel-32":      {producers: 32, perCall: 1},
	"otel-many-1":  {producers: 1, perCall: 1000},
	"otel-many-32": {producers: 32, perCall: 1000},
}

var (
	flagScenario = flag.String("scenario", "", "the scenario to run: otel-1, otel-32, otel-many-1, otel-many-32")
	flagDir      = flag.String("dir", os.TempDir(), "a fresh directory for the queue's file")
	flagDur      = flag.Duration("dur", 3*time.Second, "how long the producers produce")
	flagProfile  = flag.String("profile", "", "write a CPU profile to DIR/<scenario>.cpu.prof")
)

func main() {
	flag.Parse()
	s, ok := scenarios[*flagScenario]
	if !ok {
		fmt.Fprintf(os.Stderr, "otelq: unknown scenario %q\n", *flagScenario)
		os.Exit(2)
	}
	if *flagProfile != "" {
		f, err := os.Create(filepath.Join(*flagProfile, *flagScenario+".cpu.prof"))
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	r, err := run(s, *flagDir, *flagDur, benchkit.NewPool(4096))
	if err == nil {
		err = benchkit.Emit(os.Stdout, *flagScenario, r)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "otelq: %s: %v\n", *flagScenario, err)
		os.Exit(1)
	}
}

// host is the component.Host a collector would be: it serves the storage
// extension under the ID the queue names.
type host map[component.ID]component.Component

func (h host) GetExtensions() map[component.ID]component.Component { return h }

// queue is a logs exporter with a persistent sending queue in dir, and the
// count of log records its no-op push function received.
type queue struct {
	exp    exporter.Logs
	ext    extension.Extension
	pushed atomic.Int64
}

// openQueue starts the file_storage extension (fsync on) and a logs exporter
// whose sending queue is stored in it: the queue's defaults (1000 requests,
// 10 consumers) with BlockOnOverflow, so a full queue makes the producer
// wait instead of refusing with ErrQueueIsFull.
func openQueue(ctx context.Context, dir string) (*queue, error) {
	storageID := component.MustNewIDWithName("file_storage", "bench")
	fsf := filestorage.NewFactory()
	fcfg := fsf.CreateDefaultConfig().(*filestorage.Config)
	fcfg.Directory = dir
	fcfg.Compaction.Directory = dir
	fcfg.FSync = true
	if err := fcfg.Validate(); err != nil {
		return nil, fmt.Errorf("file_storage config: %w", err)
	}
	ext, err := fsf.Create(ctx, extensiontest.NewNopSettings(fsf.Type()), fcfg)
	if err != nil {
		return nil, fmt.Errorf("file_storage: %w", err)
	}
	h := host{storageID: ext}
	if err := ext.Start(ctx, h); err != nil {
		return nil, fmt.Errorf("file_storage start: %w", err)
	}
	q := &queue{ext: ext}
	qcfg := exporterhelper.NewDefaultQueueConfig()
	qcfg.StorageID = &storageID
	qcfg.BlockOnOverflow = true
	set := exportertest.NewNopSettings(exportertest.NopType)
	set.ID = component.MustNewIDWithName("bench", "persistent")
	push := func(_ context.Context, ld plog.Logs) error {
		q.pushed.Add(int64(ld.LogRecordCount()))
		return nil
	}
	exp, err := exporterhelper.NewLogs(ctx, set, &struct{}{}, push, exporterhelper.WithQueue(configoptional.Some(qcfg)))
	if err == nil {
		err = exp.Start(ctx, h)
	}
	if err != nil {
		_ = ext.Shutdown(ctx)
		return nil, fmt.Errorf("exporter: %w", err)
	}
	q.exp = exp
	return q, nil
}

func (q *queue) close(ctx context.Context) error {
	return errors.Join(q.exp.Shutdown(ctx), q.ext.Shutdown(ctx))
}

// logs builds one ConsumeLogs request of n records, each carrying one
// bench event encoded as msgpack (the same 204 bytes walbatch stores) as
// its body: the encoding is paid inside the timed call, as in every
// scenario of the bench.
func logs(pool benchkit.Pool, first, n int) plog.Logs {
	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	recs.EnsureCapacity(n)
	for i := range n {
		recs.AppendEmpty().Body().SetEmptyBytes().FromRaw(benchkit.Encode(pool.At(first + i)))
	}
	return ld
}

func run(s scenario, dir string, d time.Duration, pool benchkit.Pool) (benchkit.Result, error) {
	ctx := context.Background()
	q, err := openQueue(ctx, dir)
	if err != nil {
		return benchkit.Result{}, err
	}
	n, secs, err := benchkit.Produce(s.producers, d, func(g, i int) (int, error) {
		return s.perCall, q.exp.ConsumeLogs(ctx, logs(pool, (g*7919+i)*s.perCall, s.perCall))
	})
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = errors.Join(err, q.close(sctx))
	r := benchkit.Rate("", n, secs)
	r.Set("dispatched", float64(q.pushed.Load()))
	return r, err
}
