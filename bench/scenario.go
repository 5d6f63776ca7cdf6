package main

import (
	"time"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
	"github.com/walbatch/walbatch/processor"
)

// env is what a scenario runs with.
type env struct {
	dir     string        // a fresh directory of its own
	file    string        // a copy of the backlog file, for backlog scenarios
	dur     time.Duration // how long a rate scenario produces
	backlog int           // events in the backlog file
	pool    benchkit.Pool
}

type scenario struct {
	name    string
	what    string // one line for the table
	backlog bool   // needs a copy of the backlog file
	peer    bool   // runs in the bench/otelq binary, not in this one (run is nil)
	run     func(e *env) (benchkit.Result, error)
}

// scenarios in the order they run and are reported.
var scenarios = []scenario{
	{name: "raw-fsync-1", what: "raw file: write + fdatasync per event, 1 producer", run: runRawFsync},
	{name: "raw-group-32", what: "raw group commit: one writer, one write + fdatasync per group, 32 producers waiting", run: rawGroupScenario(32, false)},
	{name: "raw-all-1", what: "raw group commit that gathers every waiting producer into one write + fdatasync, 1 producer", run: rawGroupScenario(1, true)},
	{name: "raw-all-32", what: "raw group commit that gathers every waiting producer into one write + fdatasync, 32 producers waiting", run: rawGroupScenario(32, true)},
	{name: "wb-always-1", what: "walbatch Enqueue, SyncAlways, 1 producer", run: enqueueScenario(syncAlways, 1)},
	{name: "wb-always-32", what: "walbatch Enqueue, SyncAlways, 32 producers waiting", run: enqueueScenario(syncAlways, 32)},
	{name: "wb-many-always", what: "walbatch EnqueueMany (1000 per call), SyncAlways, 1 producer", run: enqueueManyScenario(syncAlways)},
	{name: "wb-many-always-held", what: "walbatch EnqueueMany (1000 per call), SyncAlways, 1 producer, dispatch not started (enqueue cost alone)", run: enqueueManyScenario(syncAlways, processor.WithStartOnOpen(false))},
	{name: "wb-async-always", what: "walbatch EnqueueAsync (10k window), SyncAlways, 1 producer", run: enqueueAsyncScenario(syncAlways)},
	{name: "wb-async-always-held", what: "walbatch EnqueueAsync (10k window), SyncAlways, 1 producer, dispatch not started (enqueue cost alone)", run: enqueueAsyncScenario(syncAlways, processor.WithStartOnOpen(false))},
	{name: "wb-many-always-owned", what: "wb-many-always with WithHandoff(HandoffOwned): batches dispatched with the enqueued values, not decoded", run: enqueueManyScenario(syncAlways, processor.WithHandoff(processor.HandoffOwned))},
	{name: "wb-async-always-owned", what: "wb-async-always with WithHandoff(HandoffOwned): batches dispatched with the enqueued values, not decoded", run: enqueueAsyncScenario(syncAlways, processor.WithHandoff(processor.HandoffOwned))},
	{name: "wal-async-always", what: "wal Stream.AppendAsync (10k window), SyncAlways, 1 producer", run: asyncScenario(syncAlways)},
	{name: "wb-none-1", what: "walbatch Enqueue, SyncNone, 1 producer", run: enqueueScenario(syncNone, 1)},
	{name: "wb-none-32", what: "walbatch Enqueue, SyncNone, 32 producers waiting", run: enqueueScenario(syncNone, 32)},
	{name: "wb-many-none", what: "walbatch EnqueueMany (1000 per call), SyncNone, 1 producer", run: enqueueManyScenario(syncNone)},
	{name: "wb-async-none", what: "walbatch EnqueueAsync (10k window), SyncNone, 1 producer", run: enqueueAsyncScenario(syncNone)},
	{name: "wal-async-none", what: "wal Stream.AppendAsync (10k window), SyncNone, 1 producer", run: asyncScenario(syncNone)},
	{name: "dq-sync1", what: "go-diskqueue Put, SyncEvery 1, 1 producer", run: diskqueueScenario(1)},
	{name: "dq-default", what: "go-diskqueue Put, SyncEvery 2500 / 2s (nsqd's defaults), 1 producer", run: diskqueueScenario(2500)},
	{name: "otel-1", what: "OpenTelemetry Collector persistent queue (exporterhelper + file_storage, fsync on): ConsumeLogs of 1 record, 1 producer", peer: true},
	{name: "otel-32", what: "OpenTelemetry Collector persistent queue, fsync on: ConsumeLogs of 1 record, 32 producers waiting", peer: true},
	{name: "otel-many-1", what: "OpenTelemetry Collector persistent queue, fsync on: ConsumeLogs of 1000 records, 1 producer", peer: true},
	{name: "otel-many-32", what: "OpenTelemetry Collector persistent queue, fsync on: ConsumeLogs of 1000 records, 32 producers", peer: true},
	{name: "bolt-keys-1", what: "bbolt alone: append 1000 events per commit, one per key, and delete the previous 1000; fdatasync", run: boltScenario(1)},
	{name: "bolt-keys-50", what: "bbolt alone: the same with 50 events per key (a possible future layout)", run: boltScenario(50)},
	{name: "optimizely", what: "Optimizely BatchEventProcessor (in memory, not durable), no-op dispatcher, 1 producer", run: runOptimizely},
	{name: "backlog-build", what: "write the backlog: wal AppendMany in groups of 16384, SyncNone", run: runBuild},
	{name: "open", what: "processor.Open on the backlog until the first batch reaches the dispatcher", backlog: true, run: runOpen},
	{name: "drain", what: "processor.Open on the backlog, drain through a no-op dispatcher; then Stop and CompactFile", backlog: true, run: runDrain},
	{name: "memory", what: "processor.Open on the backlog, not started: memory while it waits on disk", backlog: true, run: runMemory},
	{name: "e2e-http", what: "EnqueueMany (SyncAlways) to a loopback HTTP receiver, HTTP dispatcher, batch 1000", run: runHTTP},
	{name: "e2e-kafka", what: "EnqueueMany (SyncAlways) to an in-process kfake cluster on loopback, Kafka sink, batch 1000: events the log acknowledged", run: runKafka},
	{name: "e2e-nats", what: "EnqueueMany (SyncAlways) to an in-process nats-server (JetStream, file storage) on loopback, walnats, batch 1000: events the stream acknowledged", run: runNATS},
}

func findScenario(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}
