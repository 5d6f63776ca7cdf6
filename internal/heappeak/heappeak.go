// Package heappeak measures how far a function makes the heap grow, for
// tests that bound the memory of work on large files.
package heappeak

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Growth runs fn and returns how far the heap's live objects grew above
// where they were before, sampled every millisecond with the collector
// made eager (GOGC 10) so that garbage counts little. Sampling can only
// miss a peak, never invent one: a bound it reports as held may in truth
// be exceeded for less than a millisecond, never the other way round.
func Growth(fn func()) uint64 {
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base, peak := read(), uint64(0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return max(peak, base) - base
}
