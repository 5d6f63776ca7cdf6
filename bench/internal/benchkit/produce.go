package benchkit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Produce runs n producers until d has passed. Each call of fn produces
// (and waits for) some events and returns how many; the count is of
// acknowledged events only.
func Produce(n int, d time.Duration, fn func(g, i int) (int, error)) (events int64, secs float64, err error) {
	var total atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for g := range n {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				k, e := fn(g, i)
				if e != nil {
					errOnce.Do(func() { err = fmt.Errorf("producer %d: %w", g, e) })
					return
				}
				total.Add(int64(k))
			}
		})
	}
	wg.Wait()
	secs = time.Since(start).Seconds()
	return total.Load(), secs, err
}
