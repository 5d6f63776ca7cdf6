package main

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

const (
	syncAlways = wal.SyncAlways
	syncNone   = wal.SyncNone
)

// noop is a dispatcher that accepts every batch and counts its events and
// batches; the first batch's arrival time is kept for the open scenario.
type noop struct {
	n       atomic.Int64
	batches atomic.Int64
	first   atomic.Int64 // unix ns of the first batch
}

func (d *noop) dispatcher() dispatcher.Dispatcher[benchkit.Event] {
	return dispatcher.Func[benchkit.Event](func(_ context.Context, b *dispatcher.Batch[benchkit.Event]) error {
		d.first.CompareAndSwap(0, time.Now().UnixNano())
		d.n.Add(int64(len(b.Events)))
		d.batches.Add(1)
		return nil
	})
}

func openProcessor(path string, mode wal.SyncMode, d dispatcher.Dispatcher[benchkit.Event], opts ...processor.Option) (*processor.Processor[benchkit.Event], error) {
	opts = append([]processor.Option{processor.WithSync(mode), processor.WithStopTimeout(time.Second),
		processor.WithWALOptions(walOptions(mode))}, opts...)
	return processor.Open[benchkit.Event](path, d, opts...)
}

// walOptions are the options walbatch's scenarios open their file with:
// sync mode and the -format flag's file format.
func walOptions(mode wal.SyncMode) wal.Options {
	return wal.Options{Sync: mode, Store: store.Options{Format: *flagFormat}}
}

func stopSoon(p *processor.Processor[benchkit.Event]) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.Stop(ctx)
}

// enqueueScenario: producers each call Enqueue and wait for its commit; the
// processor dispatches to a no-op sink meanwhile, as it would in service.
func enqueueScenario(mode wal.SyncMode, producers int) func(e *env) (benchkit.Result, error) {
	return func(e *env) (benchkit.Result, error) {
		var d noop
		p, err := openProcessor(filepath.Join(e.dir, "wb.wal"), mode, d.dispatcher())
		if err != nil {
			return benchkit.Result{}, err
		}
		defer stopSoon(p)
		ctx := context.Background()
		n, secs, err := benchkit.Produce(producers, e.dur, func(g, i int) (int, error) {
			return 1, p.Enqueue(ctx, *e.pool.At(g*7919 + i))
		})
		r := benchkit.Rate("", n, secs)
		r.Set("dispatched", float64(d.n.Load()))
		setCommitFigures(&r, p.Stream().Log().CommitStats(), mode)
		return r, err
	}
}

// setCommitFigures adds the writer's figures (wal.Log.CommitStats, read
// once the producers are done, before Stop): events per commit, the batch
// transitions per commit, and fsyncs per event under SyncAlways, two per
// bbolt commit (data pages, then the meta page). CommitStats counts every
// commit of the file, the dispatch's seals and completions included, which
// share the appends' commits.
func setCommitFigures(r *benchkit.Result, cs wal.CommitStats, mode wal.SyncMode) {
	if cs.Commits == 0 || cs.Events == 0 {
		return
	}
	r.Set("events_per_group_commit", float64(cs.Events)/float64(cs.Commits))
	r.Set("transitions_per_commit", float64(cs.Transitions)/float64(cs.Commits))
	r.Set("commit_us", float64(cs.Time.Microseconds())/float64(cs.Commits))
	if mode == syncAlways {
		r.Set("fsyncs_per_event", 2*float64(cs.Commits)/float64(cs.Events))
	}
}

// enqueueManyScenario: one producer hands 1000 events per EnqueueMany call
// and waits for their commit.
func enqueueManyScenario(mode wal.SyncMode, opts ...processor.Option) func(e *env) (benchkit.Result, error) {
	return func(e *env) (benchkit.Result, error) {
		var d noop
		p, err := openProcessor(filepath.Join(e.dir, "wb.wal"), mode, d.dispatcher(), opts...)
		if err != nil {
			return benchkit.Result{}, err
		}
		defer stopSoon(p)
		const per = 1000
		evs := make([]benchkit.Event, per)
		ctx := context.Background()
		n, secs, err := benchkit.Produce(1, e.dur, func(_, i int) (int, error) {
			for j := range evs {
				evs[j] = *e.pool.At(i*per + j)
			}
			return per, p.EnqueueMany(ctx, evs)
		})
		r := benchkit.Rate("", n, secs)
		r.Set("dispatched", float64(d.n.Load()))
		return r, err
	}
}

// asyncScenario: one producer appends to the WAL directly with
// AppendAsync, keeping up to 10,000 events waiting for their commit; an
// event counts once its callback reports it committed.
func asyncScenario(mode wal.SyncMode) func(e *env) (benchkit.Result, error) {
	return func(e *env) (benchkit.Result, error) {
		o := walOptions(mode)
		l, err := wal.Open(filepath.Join(e.dir, "async.wal"), &o)
		if err != nil {
			return benchkit.Result{}, err
		}
		defer l.Close()
		s, err := l.Stream("bench")
		if err != nil {
			return benchkit.Result{}, err
		}
		const window = 10_000
		sem := make(chan struct{}, window)
		var acked, failed atomic.Int64
		cb := func(_ uint64, err error) {
			if err != nil {
				failed.Add(1)
			} else {
				acked.Add(1)
			}
			<-sem
		}
		start := time.Now()
		deadline := start.Add(e.dur)
		for i := 0; time.Now().Before(deadline); i++ {
			sem <- struct{}{}
			s.AppendAsync([]wal.Entry{{Payload: benchkit.Encode(e.pool.At(i))}}, cb)
		}
		for range window {
			sem <- struct{}{} // wait for every outstanding commit
		}
		r := benchkit.Rate("", acked.Load(), time.Since(start).Seconds())
		if f := failed.Load(); f > 0 {
			r.Set("failed", float64(f))
		}
		return r, nil
	}
}

// enqueueAsyncScenario: one producer calls processor.EnqueueAsync, keeping
// up to 10,000 events waiting for their callback; an event counts once its
// callback reports it committed. The processor dispatches to a no-op sink
// meanwhile, as in service.
func enqueueAsyncScenario(mode wal.SyncMode, opts ...processor.Option) func(e *env) (benchkit.Result, error) {
	return func(e *env) (benchkit.Result, error) {
		var d noop
		p, err := openProcessor(filepath.Join(e.dir, "wb.wal"), mode, d.dispatcher(), opts...)
		if err != nil {
			return benchkit.Result{}, err
		}
		defer stopSoon(p)
		const window = 10_000
		sem := make(chan struct{}, window)
		var acked, failed atomic.Int64
		cb := func(err error) {
			if err != nil {
				failed.Add(1)
			} else {
				acked.Add(1)
			}
			<-sem
		}
		start := time.Now()
		deadline := start.Add(e.dur)
		for i := 0; time.Now().Before(deadline); i++ {
			sem <- struct{}{}
			if err := p.EnqueueAsync(*e.pool.At(i), cb); err != nil {
				return benchkit.Result{}, err
			}
		}
		for range window {
			sem <- struct{}{} // wait for every outstanding commit
		}
		r := benchkit.Rate("", acked.Load(), time.Since(start).Seconds())
		if f := failed.Load(); f > 0 {
			r.Set("failed", float64(f))
		}
		r.Set("dispatched", float64(d.n.Load()))
		return r, nil
	}
}
