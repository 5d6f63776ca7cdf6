package processor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// noop is a dispatcher that accepts everything and counts the events.
func noop(n *atomic.Int64) dispatcher.Dispatcher[tev] {
	return dispatcher.Func[tev](func(_ context.Context, b *dispatcher.Batch[tev]) error {
		n.Add(int64(len(b.Events)))
		return nil
	})
}

func waitCount(n *atomic.Int64, want int64) {
	for n.Load() < want {
		time.Sleep(100 * time.Microsecond)
	}
}

// BenchmarkEndToEnd measures enqueue-to-dispatch throughput through a
// no-op dispatcher: b.N events from each producer count, every Enqueue
// waiting for its commit (SyncAlways), timed until all are dispatched.
func BenchmarkEndToEnd(b *testing.B) {
	for _, producers := range []int{1, 32} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			var n atomic.Int64
			p, err := Open[tev](b.TempDir()+"/bench.wal", noop(&n), WithSync(wal.SyncAlways),
				WithMaxAge(5*time.Millisecond), WithInactiveTimeout(time.Millisecond))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Stop(context.Background())
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			var next atomic.Int64
			for range producers {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if err := p.Enqueue(context.Background(), tev{N: int(i), P: "page_view /pricing"}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			waitCount(&n, int64(b.N))
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkDrain measures dispatching a backlog: b.N events enqueued with
// start on open off (not timed), then Start, timed until all are
// dispatched through a no-op dispatcher.
func BenchmarkDrain(b *testing.B) {
	var n atomic.Int64
	p, err := Open[tev](b.TempDir()+"/bench.wal", noop(&n), WithStartOnOpen(false), WithSync(wal.SyncNone))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Stop(context.Background())
	evs := make([]tev, 0, 10_000)
	for i := 0; i < b.N; i += len(evs) {
		evs = evs[:0]
		for j := i; j < b.N && len(evs) < cap(evs); j++ {
			evs = append(evs, tev{N: j, P: "page_view /pricing"})
		}
		if err := p.EnqueueMany(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	waitCount(&n, int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkEnqueueMany: one producer, 1000 events per call, each call
// waiting for its commit (SyncAlways), while the processor dispatches to a
// no-op sink; timed until the last call returns.
func BenchmarkEnqueueMany(b *testing.B) {
	const per = 1000
	var n atomic.Int64
	p, err := Open[tev](b.TempDir()+"/bench.wal", noop(&n), WithSync(wal.SyncAlways))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Stop(context.Background())
	evs := make([]tev, per)
	for i := range evs {
		evs[i] = tev{N: i, P: "page_view /pricing"}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += per {
		if err := p.EnqueueMany(context.Background(), evs[:min(per, b.N-done)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(p.Stats().HandedOff)/float64(b.N), "handedoff/event")
	b.ReportMetric(float64(n.Load())/float64(b.N), "dispatched/event")
}

// BenchmarkEnqueueAsync: one producer keeps up to 10,000 events waiting for
// their callback (SyncAlways) while the processor dispatches to a no-op
// sink; timed until the last callback.
func BenchmarkEnqueueAsync(b *testing.B) {
	var n atomic.Int64
	p, err := Open[tev](b.TempDir()+"/bench.wal", noop(&n), WithSync(wal.SyncAlways))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Stop(context.Background())
	sem := make(chan struct{}, 10_000)
	var failed atomic.Int64
	cb := func(err error) {
		if err != nil {
			failed.Add(1)
		}
		<-sem
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		sem <- struct{}{}
		if err := p.EnqueueAsync(tev{N: i, P: "page_view /pricing"}, cb); err != nil {
			b.Fatal(err)
		}
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d callbacks reported an error", f)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(p.Stats().HandedOff)/float64(b.N), "handedoff/event")
	b.ReportMetric(float64(n.Load())/float64(b.N), "dispatched/event")
}
