package main

import (
	"context"
	"sync/atomic"
	"time"

	diskqueue "github.com/nsqio/go-diskqueue"
	"github.com/optimizely/go-sdk/v2/pkg/event"
	"github.com/optimizely/go-sdk/v2/pkg/logging"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
)

// diskqueueScenario: one producer Puts msgpack-encoded events into
// go-diskqueue. Nothing reads, so its reads cost no syncs. With syncEvery 1
// the queue fsyncs (data file, then its metadata file) after every write;
// note that Put returns once the write is done and the sync runs before the
// next write is taken, so the last Put is acknowledged before its sync.
func diskqueueScenario(syncEvery int64) func(e *env) (benchkit.Result, error) {
	return func(e *env) (benchkit.Result, error) {
		dq := diskqueue.New("bench", e.dir, 100<<20, 0, 1<<20, syncEvery, 2*time.Second,
			func(diskqueue.LogLevel, string, ...any) {})
		defer dq.Close()
		n, secs, err := benchkit.Produce(1, e.dur, func(_, i int) (int, error) {
			return 1, dq.Put(benchkit.Encode(e.pool.At(i)))
		})
		return benchkit.Rate("", n, secs), err
	}
}

// optimizely's dispatcher: accepts every batch, counts visitors.
type optNoop struct{ n atomic.Int64 }

func (d *optNoop) DispatchEvent(ev event.LogEvent) (bool, error) {
	d.n.Add(int64(len(ev.Event.Visitors)))
	return true, nil
}

// toUserEvent is the Optimizely SDK's form of the event: what its
// ProcessEvent takes (building it is the SDK's "encoding").
func toUserEvent(ev *benchkit.Event) event.UserEvent {
	attrs := make([]event.VisitorAttribute, 0, len(ev.Attrs))
	for k, v := range ev.Attrs {
		attrs = append(attrs, event.VisitorAttribute{Key: k, Value: v, AttributeType: "custom", EntityID: k})
	}
	return event.UserEvent{
		Timestamp: ev.Timestamp, UUID: ev.ID, VisitorID: ev.UserID,
		EventContext: event.Context{Revision: "42", AccountID: "1001", ProjectID: "2002", ClientName: "go-sdk", ClientVersion: "2.0.0"},
		Conversion:   &event.ConversionEvent{EntityID: "3003", Key: ev.Type, Attributes: attrs},
	}
}

// runOptimizely: one producer calls ProcessEvent on the SDK's in-memory
// BatchEventProcessor with its defaults (queue 2000, batch 10) and a no-op
// dispatcher. Its queue is bounded: a full queue drops the event
// (ProcessEvent returns false). The rate counts accepted events only.
func runOptimizely(e *env) (benchkit.Result, error) {
	logging.SetLogLevel(logging.LogLevelError)
	var d optNoop
	bp := event.NewBatchEventProcessor(event.WithEventDispatcher(&d), event.WithSDKKey("bench"),
		event.WithQueueSize(event.DefaultEventQueueSize), event.WithBatchSize(event.DefaultBatchSize))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { bp.Start(ctx); close(stopped) }()
	var dropped atomic.Int64
	n, secs, err := benchkit.Produce(1, e.dur, func(_, i int) (int, error) {
		if bp.ProcessEvent(toUserEvent(e.pool.At(i))) {
			return 1, nil
		}
		dropped.Add(1)
		return 0, nil
	})
	cancel()
	<-stopped
	r := benchkit.Rate("", n, secs)
	r.Set("dropped", float64(dropped.Load()))
	r.Set("offered_rate", float64(n+dropped.Load())/secs)
	r.Set("dispatched", float64(d.n.Load()))
	return r, err
}
