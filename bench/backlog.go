package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// The backlog: e.backlog events pending in the processor's default stream,
// written once per run by runBuild (SyncNone, large AppendMany groups: the
// fast way to fill a file, not a scenario users would run), then copied for
// each scenario that consumes it.

func runBuild(e *env) (benchkit.Result, error) {
	path := e.file
	o := walOptions(wal.SyncNone)
	l, err := wal.Open(path, &o)
	if err != nil {
		return benchkit.Result{}, err
	}
	s, err := l.Stream(processor.DefaultStream)
	if err != nil {
		_ = l.Close()
		return benchkit.Result{}, err
	}
	const group = 16384
	entries := make([]wal.Entry, 0, group)
	start := time.Now()
	for done := 0; done < e.backlog; {
		entries = entries[:0]
		for ; len(entries) < group && done < e.backlog; done++ {
			entries = append(entries, wal.Entry{Payload: benchkit.Encode(e.pool.At(done))})
		}
		if _, err := s.AppendMany(entries); err != nil {
			_ = l.Close()
			return benchkit.Result{}, err
		}
	}
	secs := time.Since(start).Seconds()
	st := s.Stats()
	if err := l.Close(); err != nil {
		return benchkit.Result{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return benchkit.Result{}, err
	}
	r := benchkit.Rate("", int64(e.backlog), secs)
	r.Set("file_bytes", float64(fi.Size()))
	r.Set("bytes_per_event", float64(fi.Size())/float64(e.backlog))
	r.Set("payload_bytes_per_event", float64(st.PendingBytes)/float64(e.backlog))
	return r, nil
}

func waitFor(cond func() bool, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Microsecond)
	}
	return true
}

// runOpen: how long from processor.Open on a file holding the backlog until
// the first batch reaches the dispatcher.
func runOpen(e *env) (benchkit.Result, error) {
	var d noop
	start := time.Now()
	p, err := openProcessor(e.file, syncAlways, d.dispatcher())
	if err != nil {
		return benchkit.Result{}, err
	}
	opened := time.Since(start)
	defer stopSoon(p)
	if !waitFor(func() bool { return d.first.Load() != 0 }, 30*time.Second) {
		return benchkit.Result{}, fmt.Errorf("no batch within 30s")
	}
	first := time.Unix(0, d.first.Load()).Sub(start)
	r := benchkit.Result{Events: p.Recovery().PendingEvents, Seconds: first.Seconds()}
	r.Set("open_s", opened.Seconds())
	r.Set("first_batch_s", first.Seconds())
	return r, nil
}

// runDrain: open the backlog and deliver all of it to a no-op dispatcher
// (default options: batch size 1000, one batch in flight); then Stop,
// measure the file, compact it and measure again.
func runDrain(e *env) (benchkit.Result, error) {
	var d noop
	fi, err := os.Stat(e.file)
	if err != nil {
		return benchkit.Result{}, err
	}
	start := time.Now()
	p, err := openProcessor(e.file, syncAlways, d.dispatcher())
	if err != nil {
		return benchkit.Result{}, err
	}
	want := p.Recovery().PendingEvents
	ok := waitFor(func() bool { return d.n.Load() >= want }, 10*time.Minute)
	secs := time.Since(start).Seconds()
	stopSoon(p)
	if !ok {
		return benchkit.Result{}, fmt.Errorf("drained %d of %d", d.n.Load(), want)
	}
	r := benchkit.Rate("", d.n.Load(), secs)
	after, err := os.Stat(e.file)
	if err != nil {
		return r, err
	}
	cr, err := store.CompactFile(e.file, "", nil)
	if err != nil {
		return r, err
	}
	r.Set("file_bytes_full", float64(fi.Size()))
	r.Set("file_bytes_drained", float64(after.Size()))
	r.Set("file_bytes_compacted", float64(cr.AfterBytes))
	return r, nil
}

// runMemory: a processor open on the backlog, not dispatching (start on open
// off), as a service whose backlog waits on disk. Its anonymous memory is
// read after a GC and a second of idling.
func runMemory(e *env) (benchkit.Result, error) {
	var d noop
	p, err := openProcessor(e.file, syncAlways, d.dispatcher(), processor.WithStartOnOpen(false))
	if err != nil {
		return benchkit.Result{}, err
	}
	defer stopSoon(p)
	// A few enqueues on top of the backlog, as a live service would do.
	for i := range 100 {
		if err := p.Enqueue(context.Background(), *e.pool.At(i)); err != nil {
			return benchkit.Result{}, err
		}
	}
	runtime.GC()
	time.Sleep(time.Second)
	_, anon := benchkit.Memory()
	r := benchkit.Result{Events: p.Stream().Stats().PendingEvents}
	r.Set("rss_anon_waiting", float64(anon))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.Set("go_heap_inuse", float64(ms.HeapInuse))
	return r, nil
}
