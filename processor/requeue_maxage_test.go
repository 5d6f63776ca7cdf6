package processor

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// A requeued event keeps its old enqueue time and goes behind younger
// events. In a format 2 file OldestPendingTime is the first pending
// event's time, and the max-age flush still seals the requeued event
// within MaxAge of the Requeue: every event before it was enqueued before
// the Requeue, so the first pending one is due by then, and once the
// requeued event is first its own, older, time makes it due at once. In a
// format 1 file (what walbatch 0.1.0 reads) it is due at once after the
// Requeue, as before. The loop's seal decision is driven here with chosen
// times, not the clock: the processor is not started.
func TestRequeuedEventSealedWithinMaxAge(t *testing.T) {
	for _, f := range []uint64{1, 2} {
		t.Run(fmt.Sprintf("format %d", f), func(t *testing.T) { testRequeuedMaxAge(t, f) })
	}
}

func testRequeuedMaxAge(t *testing.T, f uint64) {
	noLeaks(t)
	const maxAge = time.Hour
	p := openP(t, walPath(t), newRecSink(nil), quiet(WithStartOnOpen(false), WithBatchSize(10), WithMaxAge(maxAge),
		WithInactiveTimeout(1000*time.Hour), WithWALOptions(wal.Options{Store: store.Options{Format: f}}))...)
	s := p.s

	// D is enqueued, dead-lettered, and requeued behind the younger Q and R.
	enqueueN(t, p, 0, 1)
	res, err := s.Seal(wal.SealOptions{MaxEvents: 1, Force: true})
	require.NoError(t, err)
	require.NoError(t, s.DeadLetter(res.Batch.Seq, "400", false))
	time.Sleep(time.Millisecond) // Q younger than D however coarse the clock
	enqueueN(t, p, 1, 2)
	before := time.Now()
	n, err := p.RequeueAllDead()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	requeuedBy := time.Now() // the Requeue committed between before and this

	// Q and R keep their sequence numbers 2 and 3; D is at 4 now, under
	// the ID of its first append (1).
	times := map[uint64]time.Time{} // sequence number -> enqueue time
	require.NoError(t, s.ForEachEvent(0, 0, func(r wal.Record, err error) error {
		require.NoError(t, err)
		times[r.Seq] = r.Time
		if r.Seq == 4 {
			require.Equal(t, s.EventID(1), r.ID, "D, requeued")
		}
		return nil
	}))
	require.Len(t, times, 3)
	tD, tQ := times[4], times[2]
	require.True(t, tD.Before(tQ) && !tQ.After(before))

	// The oldest-age gauge (Stats' OldestPending): the first live event,
	// Q, in format 2; D at once in format 1.
	oldest, err := s.OldestPendingTime()
	require.NoError(t, err)
	if f == 1 {
		require.Equal(t, tD, s.Stats().OldestPending)
		require.Equal(t, tD, oldest)
	} else {
		require.Equal(t, tQ, s.Stats().OldestPending)
		require.Equal(t, tQ, oldest)
	}

	l := newLoop(p)
	defer l.cancel()
	// Just before Q's max age nothing is due in format 2 (D counts from
	// the Requeue, later still); in format 1 D's own time makes it due.
	_, trig, due := l.sealDue(tQ.Add(maxAge-time.Nanosecond), l.staying())
	if f == 1 {
		require.True(t, due)
		require.Equal(t, TriggerMaxAge, trig)
	} else {
		require.False(t, due, "sealed before the first pending event's max age")
	}

	// MaxAge after the Requeue, the max-age flush seals every pending
	// event, D included.
	l.move(requeuedBy.Add(maxAge))
	l.waitMove()
	require.Len(t, l.batches, 1, "a batch due by max age at the Requeue's time + MaxAge")
	for _, ib := range l.batches {
		require.Equal(t, TriggerMaxAge, ib.trigger)
		require.Equal(t, [3]uint64{2, 4, 3}, [3]uint64{ib.b.First, ib.b.Last, uint64(ib.b.Count)}, "Q, R and D")
	}
	require.Zero(t, s.Stats().PendingEvents)
}
