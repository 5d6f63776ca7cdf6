package processor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/wal"
)

// Stop with a sink that is down returns within its timeout and keeps the
// events: the next open delivers them all, with the same event IDs and the
// same batch ID, the attempt count continuing.
func TestStopWithDeadSinkKeepsEventsForNextOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(ctx context.Context, a attempt) error
	}{
		{"failing", failing},
		{"hanging", func(ctx context.Context, _ attempt) error { <-ctx.Done(); return ctx.Err() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			path := walPath(t)
			const stopTimeout = 300 * time.Millisecond
			sink := newRecSink(tc.fn)
			p, err := Open[tev](path, sink, quiet(WithBatchSize(10), WithRetryDelay(20*time.Millisecond, 50*time.Millisecond),
				WithMaxRetries(1000), WithStopTimeout(stopTimeout))...)
			require.NoError(t, err)
			enqueueN(t, p, 0, 5)
			start := time.Now()
			err = p.Stop(context.Background())
			took := time.Since(start)
			u := requireLeft(t, err, leftIn(t, path, DefaultStream))
			require.Equal(t, Left{InFlightEvents: 5, InFlightBytes: u.InFlightBytes}, u.Left, "Stop sealed the 5 events and left the batch in flight")
			require.Positive(t, u.InFlightBytes)
			require.GreaterOrEqual(t, took, stopTimeout-time.Millisecond, "Stop gave up before its timeout")
			require.Less(t, took, stopTimeout+10*time.Second)
			before := sink.all()
			require.NotEmpty(t, before)
			require.Empty(t, sink.delivered())
			first := before[0]

			var failed int
			inspect(t, path, func(s *wal.Stream) {
				bs, err := s.Batches()
				require.NoError(t, err)
				require.Len(t, bs, 1)
				require.Equal(t, first.BatchID, bs[0].ID)
				require.Equal(t, 5, bs[0].Count)
				failed = bs[0].Attempts
			})

			n := &notes{}
			ok := newRecSink(nil)
			p2 := openP(t, path, ok, quiet(WithBatchSize(10), WithRetryDelay(time.Millisecond, time.Millisecond),
				WithListener(Recovered, n.listen))...)
			ok.waitDelivered(t, 5)
			got := ok.all()
			require.Len(t, got, 1)
			require.Equal(t, seqN(0, 5), got[0].Ns)
			require.Equal(t, first.IDs, got[0].IDs)
			require.Equal(t, first.BatchID, got[0].BatchID)
			require.Equal(t, failed+1, got[0].Attempt)
			require.NoError(t, p2.Stop(context.Background()))
			rec := n.of(Recovered)
			require.Len(t, rec, 1)
			require.Equal(t, 1, rec[0].Recovery.InFlightBatches)
			require.EqualValues(t, 5, rec[0].Recovery.InFlightEvents)
		})
	}
}

// With start on open off, Enqueue persists and nothing is dispatched until
// Start; the lifecycle errors are as decided.
func TestStartOnOpenOffAndLifecycle(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	path := walPath(t)
	sink := newRecSink(nil)
	p := openP(t, path, sink, quiet(WithBatchSize(2), WithStartOnOpen(false))...)
	enqueueN(t, p, 0, 5) // two full batches and a tail
	require.EqualValues(t, 5, p.Stats().PendingEvents)
	require.ErrorIs(t, p.Flush(ctx), ErrNotStarted)
	time.Sleep(100 * time.Millisecond)
	require.Empty(t, sink.all(), "dispatched before Start")

	require.NoError(t, p.Start())
	require.NoError(t, p.Start(), "Start on a started processor does nothing")
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, seqN(0, 5), sink.delivered())

	require.NoError(t, p.Stop(ctx))
	require.NoError(t, p.Stop(ctx), "Stop is idempotent")
	require.ErrorIs(t, p.Start(), ErrStopped)
	require.ErrorIs(t, p.Flush(ctx), ErrStopped)
	require.ErrorIs(t, p.Enqueue(ctx, tev{N: 99}), ErrStopped)
	require.ErrorIs(t, p.TryEnqueue(tev{N: 99}), ErrStopped)
	require.ErrorIs(t, p.EnqueueMany(ctx, []tev{{N: 99}}), ErrStopped)

	// Never started: Stop keeps the events for the next open.
	p2 := openP(t, path, sink, quiet(WithStartOnOpen(false))...)
	enqueueN(t, p2, 5, 3)
	u := requireLeft(t, p2.Stop(ctx), leftIn(t, path, DefaultStream))
	require.EqualValues(t, 3, u.PendingEvents, "a processor never started leaves all it was given")
	require.Zero(t, u.InFlightEvents)
	require.Len(t, sink.delivered(), 5)
	p3 := openP(t, path, sink, quiet()...)
	require.NoError(t, p3.Flush(ctx))
	require.Equal(t, seqN(0, 8), sink.delivered())
}

// Concurrent Stop calls all wait for the first and return its result.
func TestStopConcurrentCallsWait(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	sink := newRecSink(func(ctx context.Context, _ attempt) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(1))...)
	enqueueN(t, p, 0, 1)
	require.Eventually(t, func() bool { return sink.count() == 0 && p.Stats().InFlightEvents == 1 }, 5*time.Second, time.Millisecond)
	var wg sync.WaitGroup
	var returned atomic.Int64
	for range 4 {
		wg.Go(func() {
			require.NoError(t, p.Stop(context.Background()))
			returned.Add(1)
		})
	}
	time.Sleep(50 * time.Millisecond)
	require.Zero(t, returned.Load(), "Stop returned while a dispatch was still running")
	close(release)
	wg.Wait()
	require.Equal(t, []int{0}, sink.delivered())
}

// Stop returns within its timeout while producers keep calling Enqueue;
// every Enqueue that began after Stop gets ErrStopped, and every event
// that was acknowledged is delivered (by this open or the next).
func TestStopWhileProducersEnqueue(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	sink := newRecSink(nil)
	const stopTimeout = 500 * time.Millisecond
	p := openP(t, path, sink, WithBatchSize(50), WithMaxAge(10*time.Millisecond), WithInactiveTimeout(5*time.Millisecond),
		WithStopTimeout(stopTimeout))
	var acked atomic.Int64
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				err := p.Enqueue(context.Background(), tev{N: int(next.Add(1))})
				if errors.Is(err, ErrStopped) {
					return
				}
				if err != nil {
					t.Errorf("Enqueue: %v", err)
					return
				}
				acked.Add(1)
			}
		})
	}
	require.Eventually(t, func() bool { return acked.Load() > 200 }, 10*time.Second, time.Millisecond)
	start := time.Now()
	require.NoError(t, p.Stop(context.Background()))
	require.Less(t, time.Since(start), stopTimeout+10*time.Second)
	wg.Wait() // every producer saw ErrStopped

	p2 := openP(t, path, sink, quiet()...)
	require.NoError(t, p2.Flush(context.Background()))
	seen := map[int]bool{}
	for _, n := range sink.delivered() {
		seen[n] = true
	}
	require.GreaterOrEqual(t, int64(len(seen)), acked.Load())
}

// A dispatcher that panics does not crash the host: the attempt is a
// retryable failure and the batch goes out again with the same ID.
func TestDispatcherPanicBecomesRetry(t *testing.T) {
	noLeaks(t)
	var calls atomic.Int64
	sink := newRecSink(func(context.Context, attempt) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return nil
	})
	n := &notes{}
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(3), WithRetryDelay(time.Millisecond, time.Millisecond))...)
	n.subscribe(p, RetryScheduled)
	enqueueN(t, p, 0, 3)
	require.NoError(t, p.Flush(context.Background()))
	require.Equal(t, seqN(0, 3), sink.delivered())
	require.EqualValues(t, 2, calls.Load())
	require.EqualValues(t, 1, p.Stats().Retried)
	require.NoError(t, p.Stop(context.Background()))
	r := n.of(RetryScheduled)
	require.Len(t, r, 1)
	require.ErrorIs(t, r[0].Err, ErrDispatcherPanicked)
	require.ErrorContains(t, r[0].Err, "boom")
}

// A batch the sink accepts at the very end of Stop's time (here: a sink
// that answers success only when its context is cancelled) is marked
// complete before Stop returns, not left in flight to be sent again.
func TestStopCompletesABatchDeliveredAtTheDeadline(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	sink := newRecSink(func(ctx context.Context, _ attempt) error { <-ctx.Done(); return nil })
	p, err := Open[tev](path, sink, quiet(WithBatchSize(10), WithStopTimeout(100*time.Millisecond))...)
	require.NoError(t, err)
	enqueueN(t, p, 0, 5)
	require.NoError(t, p.Stop(context.Background()))
	require.Equal(t, int64(5), p.Stats().Delivered)
	inspect(t, path, func(s *wal.Stream) {
		st := s.Stats()
		require.Zero(t, st.InFlightEvents, "a delivered batch was left in flight")
		require.Equal(t, int64(5), st.CompletedEvents)
	})
}
