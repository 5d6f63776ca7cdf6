package wal

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every AppendAsync callback runs exactly once, with its own sequence
// number, however the writer's groups and the callback goroutine's queue
// interleave.
func TestCallbacksEachOnce(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	const producers, each = 4, 5000
	seen := make([]atomic.Int32, producers*each+1)
	var wg sync.WaitGroup
	wg.Add(producers * each)
	for range producers {
		go func() {
			for i := range each {
				if i%500 == 0 {
					time.Sleep(time.Millisecond) // let the callback goroutine find its queue empty
				}
				s.AppendAsync([]Entry{{Payload: []byte("x")}}, func(seq uint64, err error) {
					if err == nil && seq < uint64(len(seen)) {
						seen[seq].Add(1)
					}
					wg.Done()
				})
			}
		}()
	}
	wg.Wait()
	for seq := 1; seq < len(seen); seq++ {
		require.EqualValues(t, 1, seen[seq].Load(), "seq %d", seq)
	}
}

// Callbacks run on a goroutine of the Log, not the writer's: one that
// appends and waits for the commit is answered.
func TestCallbackMayAppend(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	done := make(chan error, 1)
	s.AppendAsync([]Entry{{Payload: []byte("a")}}, func(_ uint64, err error) {
		if err == nil {
			_, err = s.Append("", []byte("b"))
		}
		done <- err
	})
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second): // a hang guard, not a speed limit
		t.Fatal("an Append from a callback never returned")
	}
	require.EqualValues(t, 2, s.Stats().PendingEvents)
}
