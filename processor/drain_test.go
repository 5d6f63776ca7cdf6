package processor

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/wal"
)

// Drain dispatches a tail smaller than the batch size at once, waits out a
// retry, and returns with the stream empty.
func TestDrainEmptiesTheStream(t *testing.T) {
	noLeaks(t)
	var calls atomic.Int32
	sink := newRecSink(func(context.Context, attempt) error {
		if calls.Add(1) == 2 {
			return errDown // the second batch fails once
		}
		return nil
	})
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(5), WithRetryDelay(20*time.Millisecond, 20*time.Millisecond))...)
	enqueueN(t, p, 0, 12)
	require.NoError(t, p.Drain(context.Background()))
	st := p.Stats()
	require.Zero(t, st.PendingEvents)
	require.Zero(t, st.InFlightEvents)
	require.Equal(t, seqN(0, 12), sink.delivered())
	require.NoError(t, p.Drain(context.Background()), "an empty stream drains at once")
}

// Drain also waits for events enqueued while it waits, and for batches a
// previous process left in flight.
func TestDrainWaitsForEventsEnqueuedMeanwhileAndRecovered(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	// Stop must not spend the batch's retries (they would dead-letter it):
	// many retries, a short stop timeout.
	p := openP(t, path, newRecSink(failing), quiet(WithBatchSize(3), WithRetryDelay(300*time.Millisecond, 300*time.Millisecond),
		WithJitter(0), WithMaxRetries(1000), WithStopTimeout(50*time.Millisecond))...)
	enqueueN(t, p, 0, 5) // one batch of 3 fails and waits to retry; 2 pending
	require.Eventually(t, func() bool { return p.Stats().Retried >= 1 }, 10*time.Second, 2*time.Millisecond)
	err := p.Stop(context.Background())
	u := requireLeft(t, err, leftIn(t, path, DefaultStream))
	require.EqualValues(t, 3, u.InFlightEvents, "the failed batch is left in flight")
	require.EqualValues(t, 2, u.PendingEvents)
	inspect(t, path, func(s *wal.Stream) {
		require.Zero(t, s.Stats().DeadEvents)
	})

	release := make(chan struct{})
	var seen atomic.Int32
	sink := newRecSink(func(_ context.Context, a attempt) error {
		if seen.Add(int32(len(a.Ns))) <= 5 {
			<-release // hold the first deliveries until the producer below ran
		}
		return nil
	})
	p = openP(t, path, sink, quiet(WithBatchSize(3))...)
	done := make(chan error, 1)
	go func() { done <- p.Drain(context.Background()) }()
	enqueueN(t, p, 5, 4)
	close(release)
	require.NoError(t, <-done)
	require.ElementsMatch(t, seqN(0, 9), sink.delivered())
	st := p.Stats()
	require.Zero(t, st.PendingEvents+st.InFlightEvents)
}

// A sink that never accepts: Drain returns when its ctx ends, and the
// events stay queued.
func TestDrainReturnsWhenCtxEnds(t *testing.T) {
	noLeaks(t)
	p := openP(t, walPath(t), newRecSink(failing), quiet(WithRetryDelay(10*time.Millisecond, 10*time.Millisecond))...)
	enqueueN(t, p, 0, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.Drain(ctx), context.DeadlineExceeded)
	st := p.Stats()
	require.EqualValues(t, 3, st.PendingEvents+st.InFlightEvents)
}

func TestDrainLifecycle(t *testing.T) {
	noLeaks(t)
	p := openP(t, walPath(t), newRecSink(nil), quiet(WithStartOnOpen(false))...)
	require.ErrorIs(t, p.Drain(context.Background()), ErrNotStarted)
	require.NoError(t, p.Start())
	require.NoError(t, p.Drain(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
	require.ErrorIs(t, p.Drain(context.Background()), ErrStopped)
}
