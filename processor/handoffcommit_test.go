package processor

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/wal"
)

// The values of an enqueue are in the handoff once its commit is, before
// the producer comes back from it: a batch sealed and dispatched while the
// producer still waits gets the enqueued values, not decoded copies. Here
// the WAL's callback goroutine is held by the callback of a direct append,
// which kept EnqueueMany (answered through it) from returning and
// EnqueueAsync's put (made in its WAL callback) from running, so every
// event of the batch was decoded.
func TestHandoffHasTheValuesBeforeTheAnswer(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(5))...)
	raw, err := msgpack.Marshal(tev{N: 0})
	require.NoError(t, err)
	held, hold := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the Stop of openP's cleanup
	p.Stream().AppendAsync([]wal.Entry{{Payload: raw}}, func(uint64, error) {
		close(held)
		<-hold
	})
	<-held
	many := make(chan error, 1)
	go func() { many <- p.EnqueueMany(context.Background(), []tev{{N: 1}, {N: 2}}) }()
	acks := make(chan error, 2)
	for n := 3; n <= 4; n++ {
		require.NoError(t, p.EnqueueAsync(tev{N: n}, func(err error) { acks <- err }))
	}
	sink.waitDelivered(t, 5)
	require.ElementsMatch(t, []int{0, 1, 2, 3, 4}, sink.delivered())
	require.Equal(t, int64(4), p.Stats().HandedOff, "the four enqueued events came from the handoff, the direct append was decoded")
	release()
	require.NoError(t, <-many)
	require.NoError(t, <-acks)
	require.NoError(t, <-acks)
}

// An enqueue refused for the pending limits puts nothing in the handoff:
// the next append takes the same sequence numbers, and its events are
// dispatched with their own values.
func TestHandoffRefusedEnqueueLeavesNothing(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(2), WithPendingLimits(2, 0), WithFullPolicy(FailFast), WithStartOnOpen(false))...)
	require.ErrorIs(t, p.EnqueueMany(context.Background(), []tev{{N: 100}, {N: 101}, {N: 102}}), ErrFull)
	require.NoError(t, p.Enqueue(context.Background(), tev{N: 103}))
	first, err := p.Stream().AppendMany([]wal.Entry{{Payload: mustMsgpack(t, tev{N: 1})}})
	require.NoError(t, err)
	require.Equal(t, uint64(2), first, "the refused events' sequence numbers are taken again")
	require.NoError(t, p.Start())
	require.NoError(t, p.Flush(context.Background()))
	require.Equal(t, []int{103, 1}, sink.delivered())
	require.Equal(t, int64(1), p.Stats().HandedOff)
}

func mustMsgpack(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}
