package store

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// peakHeap runs fn and returns how far the heap's live objects grew above
// where they were before, sampled every millisecond with the collector
// made eager (GOGC 10), so that garbage counts little. Sampling can only
// miss a peak, never invent one.
func peakHeap(fn func()) uint64 {
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

// Compacting a file of about 100 MB (80 MiB of keys and values) grows the
// heap by less than 64 MiB: the copy is made in bounded transactions, not
// held whole (bbolt's nodes and pages take about four times what a
// transaction copies).
func TestCompactMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 100 MB file")
	}
	path := newPath(t)
	db, err := Open(path, &Options{NoSync: true})
	require.NoError(t, err)
	const n, size = 40000, 2000
	for i := 0; i < n; i += 2000 {
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(testBucket)
			if err != nil {
				return err
			}
			for j := i; j < i+2000; j++ {
				if err := b.Put(key(j), value(j, size)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.NoError(t, db.Close())
	out := newPath(t)
	var res CompactResult
	grew := peakHeap(func() { res, err = CompactFile(path, out, nil) })
	require.NoError(t, err)
	t.Logf("compacted %d bytes to %d; heap grew by %d MiB", res.BeforeBytes, res.AfterBytes, grew>>20)
	require.Less(t, grew, uint64(64<<20), "heap growth compacting %d bytes", res.BeforeBytes)
	require.Len(t, contentsAt(t, out), n)
}
