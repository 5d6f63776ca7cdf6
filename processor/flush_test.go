package processor

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Batches hold exactly the batch size; the smaller tail goes out only on a
// timer, Flush or Stop.
func TestFlushAtBatchSize(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(5))...)
	enqueueN(t, p, 0, 12)
	sink.waitDelivered(t, 10)
	time.Sleep(150 * time.Millisecond) // the tail must not follow on its own
	got := sink.all()
	require.Len(t, got, 2)
	require.Equal(t, seqN(0, 5), got[0].Ns)
	require.Equal(t, seqN(5, 5), got[1].Ns)

	require.NoError(t, p.Flush(context.Background()))
	got = sink.all()
	require.Len(t, got, 3)
	require.Equal(t, []int{10, 11}, got[2].Ns)

	// Many at once: still exactly N per batch.
	require.NoError(t, p.EnqueueMany(context.Background(), []tev{{N: 12}, {N: 13}, {N: 14}, {N: 15}, {N: 16}, {N: 17}, {N: 18}, {N: 19}, {N: 20}, {N: 21}, {N: 22}}))
	sink.waitDelivered(t, 22)
	time.Sleep(100 * time.Millisecond)
	got = sink.all()
	require.Len(t, got, 5)
	require.Equal(t, seqN(12, 5), got[3].Ns)
	require.Equal(t, seqN(17, 5), got[4].Ns)
	require.NoError(t, p.Stop(context.Background()))
	require.Len(t, sink.all(), 6)
	require.Equal(t, []int{22}, sink.all()[5].Ns)
}

// Batch size 1 dispatches every event on its own, at once (the timers are
// an hour away).
func TestBatchSizeOneDispatchesAtOnce(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(1))...)
	for i := range 4 {
		require.NoError(t, p.Enqueue(context.Background(), tev{N: i}))
		sink.waitDelivered(t, i+1)
	}
	for i, a := range sink.all() {
		require.Equal(t, []int{i}, a.Ns)
	}
}

// Max age is measured from the enqueue time of the oldest pending event:
// a producer that never pauses still sees its events go out, and no batch
// leaves before its oldest event is max age old.
func TestFlushAtMaxAge(t *testing.T) {
	noLeaks(t)
	const maxAge = 150 * time.Millisecond
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(1000), WithMaxAge(maxAge))...)

	// An inactivity timer re-armed by each event would never fire while
	// this runs; max age must.
	deadline := time.Now().Add(8 * maxAge)
	n := 0
	for time.Now().Before(deadline) {
		require.NoError(t, p.Enqueue(context.Background(), tev{N: n}))
		n++
		time.Sleep(10 * time.Millisecond)
	}
	require.NotEmpty(t, sink.all(), "no batch left while the producer kept enqueueing")
	require.NoError(t, p.Flush(context.Background()))
	got := sink.all()
	require.Equal(t, seqN(0, n), sink.delivered())
	for _, a := range got[:len(got)-1] { // the last one is the Flush's
		require.GreaterOrEqual(t, a.At.Sub(a.Enqueued[0]), maxAge-time.Millisecond,
			"batch %s left before its oldest event was max age old", a.BatchID)
	}
}

// Inactivity is measured from the most recent enqueue: each event re-arms
// it, including the first after a quiet spell.
func TestFlushAfterInactivity(t *testing.T) {
	noLeaks(t)
	const inactive = 400 * time.Millisecond
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(1000), WithInactiveTimeout(inactive))...)

	for i := range 8 {
		require.NoError(t, p.Enqueue(context.Background(), tev{N: i}))
		time.Sleep(inactive / 20)
	}
	sink.waitDelivered(t, 8)
	got := sink.all()
	require.Len(t, got, 1, "events 20ms apart must share one batch")
	require.GreaterOrEqual(t, got[0].At.Sub(got[0].Enqueued[7]), inactive-time.Millisecond)

	// After a quiet spell longer than the timeout, a new event still waits
	// the whole timeout.
	for round := range 2 {
		time.Sleep(inactive + 100*time.Millisecond)
		// Taken before the call: the timer runs from a moment inside
		// Enqueue, and a time taken after it returns can be later by however
		// long the goroutine waited to run again.
		called := time.Now()
		require.NoError(t, p.Enqueue(context.Background(), tev{N: 8 + round}))
		sink.waitDelivered(t, 9+round)
		last := sink.all()[len(sink.all())-1]
		require.Equal(t, []int{8 + round}, last.Ns)
		require.GreaterOrEqual(t, last.At.Sub(called), inactive-time.Millisecond,
			"round %d: the event left %s after its enqueue, before the inactivity timeout", round, last.At.Sub(called))
	}
}

// An empty batch is never dispatched: timers firing on an empty stream and
// Flush with nothing pending send nothing.
func TestNoEmptyBatch(t *testing.T) {
	noLeaks(t)
	var calls atomic.Int64
	sink := newRecSink(func(_ context.Context, a attempt) error {
		calls.Add(1)
		if len(a.Ns) == 0 {
			t.Errorf("empty batch %s dispatched", a.BatchID)
		}
		return nil
	})
	p := openP(t, walPath(t), sink, WithBatchSize(10), WithMaxAge(5*time.Millisecond), WithInactiveTimeout(5*time.Millisecond))
	require.NoError(t, p.Flush(context.Background()))
	time.Sleep(50 * time.Millisecond)
	require.Zero(t, calls.Load())
	require.NoError(t, p.EnqueueMany(context.Background(), []tev{{N: 0}, {N: 1}, {N: 2}}))
	sink.waitDelivered(t, 3)
	require.EqualValues(t, 1, calls.Load())
	require.NoError(t, p.Flush(context.Background()))
	time.Sleep(50 * time.Millisecond)
	require.EqualValues(t, 1, calls.Load())
}

// Stop dispatches what is pending before it returns.
func TestStopFlushes(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	n := &notes{}
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(100))...)
	n.subscribe(p, Flushed)
	enqueueN(t, p, 0, 7)
	require.Empty(t, sink.all())
	require.NoError(t, p.Stop(context.Background()))
	require.Equal(t, seqN(0, 7), sink.delivered())
	require.Len(t, sink.all(), 1)
	require.EqualValues(t, 7, p.Stats().Delivered)
}
