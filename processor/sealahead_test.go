package processor

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// While a backlog drains, the next full batch is sealed ahead of its turn
// (and the previous one marked complete after the next one starts). With
// one batch in flight, dispatches still never overlap, events still go out
// in enqueue order, and a batch waiting to retry holds back the one sealed
// behind it.
func TestSealAheadKeepsOrder(t *testing.T) {
	noLeaks(t)
	var running, overlaps atomic.Int32
	var calls atomic.Int32
	sink := newRecSink(func(context.Context, attempt) error {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer running.Add(-1)
		time.Sleep(time.Millisecond) // let the loop seal ahead meanwhile
		if calls.Add(1)%3 == 0 {
			return errDown // retryable: the same batch goes again
		}
		return nil
	})
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(10), WithStartOnOpen(false),
		WithRetryDelay(time.Millisecond, time.Millisecond))...)
	enqueueN(t, p, 0, 200)
	require.NoError(t, p.Start())
	sink.waitDelivered(t, 200)
	require.Zero(t, overlaps.Load(), "dispatches overlapped with max in flight 1")
	require.Equal(t, seqN(0, 200), sink.delivered(), "delivered out of order or twice")
	// Every failed attempt is followed by the same batch again, never by
	// the batch sealed behind it.
	all := sink.all()
	for i, a := range all {
		if a.Err != nil {
			require.Less(t, i+1, len(all))
			require.Equal(t, a.BatchID, all[i+1].BatchID)
		}
	}
	require.NoError(t, p.Flush(context.Background()))
	st := p.Stats()
	require.Zero(t, st.InFlightBatches)
	require.Zero(t, st.PendingEvents)
	require.EqualValues(t, 200, st.Delivered)
}

// The loop moves several batches per writer request: while the first
// batch of a backlog is being dispatched, the batches sealed ahead of it
// (aheadMax of them) are cut in one commit, not one commit each.
func TestSealAheadInOneCommit(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	var calls atomic.Int32
	sink := newRecSink(func(context.Context, attempt) error {
		if calls.Add(1) == 1 {
			<-release
		}
		return nil
	})
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(10), WithStartOnOpen(false))...)
	enqueueN(t, p, 0, 200)
	log := p.Stream().Log()
	before := log.CommitStats().Commits
	require.NoError(t, p.Start())
	ahead := min(aheadEvents/10, maxAhead)
	require.Eventually(t, func() bool { return p.Stats().InFlightBatches == int64(1+ahead) }, 10*time.Second, time.Millisecond)
	// One commit sealed the first batch, one the batches ahead of it.
	require.Equal(t, before+2, log.CommitStats().Commits)
	close(release)
	sink.waitDelivered(t, 200)
	require.Equal(t, seqN(0, 200), sink.delivered(), "delivered out of order or twice")
	require.NoError(t, p.Flush(context.Background()))
	st := p.Stats()
	require.Zero(t, st.InFlightBatches)
	require.EqualValues(t, 200, st.Delivered)
}
