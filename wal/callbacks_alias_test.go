package wal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Callbacks queued while the callback goroutine is calling the ones it
// took (here: by the first of them, as a callback that appends does) go
// to an array of their own: they neither overwrite the callbacks being
// called nor get lost, and every callback runs once, in push order.
//
// Each round starts after the goroutine drained the last one and found
// its queue empty: the state in which swapping in the spare array once
// left queue and spare sharing one array, so that the next swap handed
// pushers the array being called (a callback skipped, another run twice,
// then cleared entries called).
func TestCallbacksPushWhileCalling(t *testing.T) {
	cb := startCallbacks()
	const rounds = 2000
	got := make([][]int, rounds) // written by the callback goroutine only
	done := make(chan struct{}, 16)
	mk := func(round, id int, then func()) *request {
		return &request{cb: func(uint64, error) {
			got[round] = append(got[round], id)
			if then != nil {
				then()
			}
			done <- struct{}{}
		}}
	}
	for i := range rounds {
		later := []*request{mk(i, 2, nil), mk(i, 3, nil)}
		cb.push([]*request{mk(i, 0, func() { cb.push(later) }), mk(i, 1, nil)})
		for range 4 {
			select {
			case <-done:
			case <-time.After(30 * time.Second): // a hang guard, not a speed limit
				t.Fatalf("round %d: a callback was never called", i)
			}
		}
	}
	cb.stop()
	for i := range rounds {
		require.Equal(t, []int{0, 1, 2, 3}, got[i], "round %d", i)
	}
}
