package wal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Resolve completes, dead-letters and retries events of one batch in one
// transaction, leaving holes in the batch's range; the counters match a
// scan (mustOpen's Cleanup) and the batch survives a reopen as it stands.
func TestResolveMixed(t *testing.T) {
	l, _ := mustOpen(t, &Options{CompletedKeep: 4})
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 8) // 12 payload bytes each
	b := sealOne(t, s, 6)   // seqs 1..6
	next := time.Now().Add(time.Hour).Truncate(0)

	// 1 and 4 delivered, 2 and 6 dead, 3 and 5 retried.
	nb, err := s.Resolve(b.Seq, []uint64{1, 4}, []EventReason{{Seq: 2, Reason: "permanent: too big"}, {Seq: 6, Reason: "permanent: denied"}},
		next, "4 of 6 events failed")
	require.NoError(t, err)
	require.NotNil(t, nb)
	require.Equal(t, b.ID, nb.ID)
	require.Equal(t, uint64(3), nb.First)
	require.Equal(t, uint64(5), nb.Last)
	require.Equal(t, 2, nb.Count)
	require.EqualValues(t, 24, nb.Bytes)
	require.Equal(t, 1, nb.Attempts)
	require.Equal(t, 2, nb.Delivered)
	require.EqualValues(t, 24, nb.DeliveredBytes)
	require.Equal(t, next.UnixNano(), nb.NextAttempt)
	require.Equal(t, "4 of 6 events failed", nb.LastError)
	require.Equal(t, statsOf{Pending: 2, PendingBytes: 24, InFlightBatches: 1, InFlight: 2, InFlightBytes: 24,
		Dead: 2, DeadBytes: 24, CompletedEvents: 2}, statsNow(s))
	require.EqualValues(t, 1, s.Stats().RetriedSinceOpen)

	dead := deadLetters(t, s)
	require.Len(t, dead, 2)
	require.Equal(t, uint64(2), dead[0].Record.Seq)
	require.Equal(t, "permanent: too big", dead[0].Reason)
	require.Equal(t, "permanent: denied", dead[1].Reason)
	for _, d := range dead {
		require.Equal(t, b.ID, d.BatchID)
		require.Equal(t, 1, d.Attempts, "the attempt that failed them counts")
	}
	require.NoError(t, checkLog(l))

	l = reopen(t, l, &Options{CompletedKeep: 4})
	s = mustStream(t, l, "s")
	got, err := s.InFlight(b.Seq)
	require.NoError(t, err)
	require.Equal(t, nb, got)
	recs, bad, err := s.ReadBatch(got)
	require.NoError(t, err)
	require.Empty(t, bad)
	require.Len(t, recs, 2)
	require.Equal(t, []uint64{3, 5}, []uint64{recs[0].Seq, recs[1].Seq})

	// The second attempt delivers one; the other gives up (dead).
	nb, err = s.Resolve(b.Seq, []uint64{5}, []EventReason{{Seq: 3, Reason: "gave up after 2 attempts: x"}}, time.Time{}, "")
	require.NoError(t, err)
	require.Nil(t, nb)
	require.Equal(t, statsOf{Pending: 2, PendingBytes: 24, Dead: 3, DeadBytes: 36, CompletedEvents: 3}, statsNow(s))
	require.Empty(t, completions(t, s), "a batch that ends in dead letters has no completion record")
	dead = deadLetters(t, s)
	require.Equal(t, 2, dead[1].Attempts)
	_, err = s.InFlight(b.Seq)
	require.ErrorIs(t, err, ErrNoBatch)
}

// A Resolve that leaves nothing and dead-letters nothing is a completion:
// the completion record counts the whole batch.
func TestResolveCompletes(t *testing.T) {
	l, _ := mustOpen(t, &Options{CompletedKeep: 4})
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 4)
	b := sealOne(t, s, 4)
	nb, err := s.Resolve(b.Seq, []uint64{1, 3}, nil, time.Now(), "2 of 4 events failed")
	require.NoError(t, err)
	require.Equal(t, 2, nb.Count)
	nb, err = s.Resolve(b.Seq, []uint64{2, 4}, nil, time.Time{}, "")
	require.NoError(t, err)
	require.Nil(t, nb)
	require.Equal(t, statsOf{CompletedBatches: 1, CompletedEvents: 4}, statsNow(s))
	c := completions(t, s)
	require.Len(t, c, 1)
	require.Equal(t, 4, c[0].Count)
	require.EqualValues(t, 48, c[0].Bytes)
	require.Equal(t, 2, c[0].Attempts)
}

// Sequence numbers outside the batch, already gone, or named twice are
// ignored; naming none only counts the attempt, as Retry does.
func TestResolveIgnoresStrangers(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 6)
	b := sealOne(t, s, 3)
	nb, err := s.Resolve(b.Seq, []uint64{0, 2, 2, 4, 99}, []EventReason{{Seq: 2, Reason: "x"}, {Seq: 5, Reason: "x"}}, time.Now(), "e")
	require.NoError(t, err)
	require.Equal(t, 2, nb.Count)
	require.Equal(t, uint64(1), nb.First)
	require.Equal(t, uint64(3), nb.Last)
	require.Empty(t, deadLetters(t, s), "a delivered event is not also dead")
	nb, err = s.Resolve(b.Seq, nil, nil, time.Now(), "again")
	require.NoError(t, err)
	require.Equal(t, 2, nb.Attempts)
	require.Equal(t, statsOf{Pending: 3, PendingBytes: 36, InFlightBatches: 1, InFlight: 2, InFlightBytes: 24, CompletedEvents: 1}, statsNow(s))
	_, err = s.Resolve(b.Seq+1, nil, nil, time.Now(), "")
	require.ErrorIs(t, err, ErrNoBatch)

	// A batch with holes still completes and dead-letters whole.
	require.NoError(t, s.DeadLetter(b.Seq, "gave up", true))
	require.Len(t, deadLetters(t, s), 2)
}
