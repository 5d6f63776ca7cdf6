package processor

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

// A listener sees each dispatched batch with its outcome, each scheduled
// retry, each dead letter, the recovery at open, and each finished Flush.
func TestListenersSeeEveryKind(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	path := walPath(t)
	var calls atomic.Int64
	sink := newRecSink(func(_ context.Context, a attempt) error {
		switch {
		case a.Keys[0] == "bad":
			return dispatcher.Permanent(errors.New("rejected by schema"))
		case calls.Add(1) == 1:
			return errDown
		}
		return nil
	})
	n := &notes{}
	p := openP(t, path, sink, quiet(WithBatchSize(10), WithBatchKey(func(e tev) string { return e.K }),
		WithRetryDelay(5*time.Millisecond, 5*time.Millisecond), WithJitter(0), WithListener(Recovered, n.listen))...)
	n.subscribe(p, BatchDispatched, RetryScheduled, DeadLettered, Flushed)

	require.NoError(t, p.EnqueueMany(ctx, []tev{{N: 0}, {N: 1}, {N: 2}}))
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.EnqueueMany(ctx, []tev{{N: 3, K: "bad"}, {N: 4, K: "bad"}}))
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Stop(ctx)) // delivers the queued notifications

	rec := n.of(Recovered)
	require.Len(t, rec, 1)
	require.Equal(t, DefaultStream, rec[0].Stream)
	require.NotNil(t, rec[0].Recovery)

	ok := sink.okBatches()
	require.Len(t, ok, 1)
	d := n.of(BatchDispatched)
	require.Len(t, d, 3)
	require.Equal(t, ok[0].BatchID, d[0].BatchID)
	require.ErrorIs(t, d[0].Err, errDown)
	require.Equal(t, 1, d[0].Attempt)
	require.Equal(t, 3, d[0].Count)
	require.Zero(t, d[0].Delivered)
	require.NoError(t, d[1].Err)
	require.Equal(t, 2, d[1].Attempt)
	require.Equal(t, 3, d[1].Delivered)
	require.Positive(t, d[1].Bytes)
	require.True(t, dispatcher.IsPermanent(d[2].Err))

	r := n.of(RetryScheduled)
	require.Len(t, r, 1)
	require.Equal(t, ok[0].BatchID, r[0].BatchID)
	require.Equal(t, 1, r[0].Attempt)
	require.False(t, r[0].NextAttempt.IsZero())

	dl := n.of(DeadLettered)
	require.Len(t, dl, 1)
	require.Equal(t, 2, dl[0].Count)
	require.Equal(t, d[2].BatchID, dl[0].BatchID)
	require.ErrorContains(t, dl[0].Err, "rejected by schema")

	require.Len(t, n.of(Flushed), 2)

	// Recovered reports the work left behind by the previous open.
	p2 := openP(t, path, sink, quiet(WithStartOnOpen(false))...)
	enqueueN(t, p2, 5, 2)
	require.EqualValues(t, 2, requireLeft(t, p2.Stop(ctx), leftIn(t, path, DefaultStream)).PendingEvents)
	n2 := &notes{}
	p3 := openP(t, path, newRecSink(nil), quiet(WithListener(Recovered, n2.listen))...)
	require.NoError(t, p3.Stop(ctx))
	rec = n2.of(Recovered)
	require.Len(t, rec, 1)
	require.EqualValues(t, 2, rec[0].Recovery.PendingEvents)
	require.EqualValues(t, 2, rec[0].Recovery.DeadEvents)
	require.Equal(t, rec[0].Recovery.PendingEvents, p3.Recovery().PendingEvents)
}

// A listener that panics, and one that blocks, neither stall nor crash
// the processor; the panicking one keeps being called.
func TestPanickingAndSlowListeners(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(1))...)
	var panics atomic.Int64
	p.Subscribe(BatchDispatched, func(Notification) {
		panics.Add(1)
		panic("listener bug")
	})
	release := make(chan struct{})
	var slow atomic.Int64
	p.Subscribe(BatchDispatched, func(Notification) {
		slow.Add(1)
		<-release
	})
	const n = 300
	evs := make([]tev, n)
	for i := range evs {
		evs[i].N = i
	}
	require.NoError(t, p.EnqueueMany(context.Background(), evs))
	sink.waitDelivered(t, n) // while the slow listener is stuck on its first call
	require.EqualValues(t, 1, slow.Load())
	close(release)
	require.Eventually(t, func() bool { return panics.Load() == n }, 10*time.Second, time.Millisecond)
	enqueueN(t, p, n, 1)
	sink.waitDelivered(t, n+1)
	require.NoError(t, p.Stop(context.Background()))
	require.Equal(t, seqN(0, n+1), sink.delivered())
}

// A slow listener does not hold Stop past its timeout: notifications still
// queued when the time is up are dropped and counted.
func TestSlowListenerDoesNotHoldStop(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	const stopTimeout = 300 * time.Millisecond
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(1), WithStopTimeout(stopTimeout))...)
	var calls atomic.Int64
	p.Subscribe(BatchDispatched, func(Notification) {
		calls.Add(1)
		time.Sleep(50 * time.Millisecond)
	})
	const n = 200 // 10s of listener work
	evs := make([]tev, n)
	for i := range evs {
		evs[i].N = i
	}
	require.NoError(t, p.EnqueueMany(context.Background(), evs))
	sink.waitDelivered(t, n)
	start := time.Now()
	require.NoError(t, p.Stop(context.Background()))
	require.Less(t, time.Since(start), 5*time.Second, "Stop waited for the slow listener")
	require.Less(t, calls.Load(), int64(n))
	require.Positive(t, p.Stats().NotificationsDropped)
}
