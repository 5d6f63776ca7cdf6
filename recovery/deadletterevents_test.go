package recovery

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/wal"
)

// The processor's moving of undecodable events out of an in-flight batch
// (DeadLetterEvents: the first, one in the middle, and a corrupt one given
// a reason of its own) must shrink the batch by what they added and leave
// a file Verify accepts.
func TestDeadLetterEventsLeavesConsistentFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	s, err := l.Stream("a")
	require.NoError(t, err)
	for i := range 8 {
		_, err := s.Append("", []byte(fmt.Sprintf("event-%d", i)))
		require.NoError(t, err)
	}
	res, err := s.Seal(wal.SealOptions{MaxEvents: 6, Force: true})
	require.NoError(t, err)
	require.NotNil(t, res.Batch)
	b := res.Batch
	require.NoError(t, l.Close())
	var seqs []uint64 // the batch's events, read before the damage
	l, err = wal.Open(path, nil)
	require.NoError(t, err)
	s, err = l.Stream("a")
	require.NoError(t, err)
	recs, _, err := s.ReadBatch(b)
	require.NoError(t, err)
	for _, r := range recs {
		seqs = append(seqs, r.Seq)
	}
	require.Len(t, seqs, 6)
	require.NoError(t, l.Close())
	damage(t, path, "a", func(rs format.RawStream) { flipIn(t, rs, seqs[4]) })

	l, err = wal.Open(path, nil)
	require.NoError(t, err)
	s, err = l.Stream("a")
	require.NoError(t, err)
	recs, bad, err := s.ReadBatch(b)
	require.NoError(t, err)
	require.Equal(t, []uint64{seqs[4]}, bad)
	before := s.Stats()
	nb, err := s.DeadLetterEvents(b.Seq, []wal.EventReason{
		{Seq: seqs[0], Reason: "undecodable: first"},
		{Seq: seqs[2], Reason: "undecodable: middle"},
		{Seq: seqs[4], Reason: "undecodable: corrupt too"},
		{Seq: b.Last + 100, Reason: "not in the batch"},
	})
	require.NoError(t, err)
	require.Equal(t, seqs[1], nb.First)
	require.Equal(t, b.Last, nb.Last)
	require.Equal(t, b.Count-3, nb.Count)
	// recs holds the 5 records that still check: seqs 0-3 and 5.
	moved := int64(len(recs[0].Payload) + len(recs[2].Payload))
	left := int64(len(recs[1].Payload) + len(recs[3].Payload) + len(recs[4].Payload))
	require.Equal(t, left, nb.Bytes)
	require.Equal(t, b.Attempts, nb.Attempts)
	after := s.Stats()
	require.Equal(t, before.InFlightEvents-3, after.InFlightEvents)
	require.Equal(t, before.DeadEvents+3, after.DeadEvents)
	require.Greater(t, after.DeadBytes-before.DeadBytes, moved, "the corrupt one counts its stored length")
	reasons := map[uint64]string{}
	require.NoError(t, s.ForEachDead(func(d wal.DeadLetter) error {
		if d.BatchID == b.ID {
			reasons[d.Record.Seq] = d.Reason
		}
		return nil
	}))
	require.Equal(t, "undecodable: first", reasons[seqs[0]])
	require.Equal(t, "undecodable: middle", reasons[seqs[2]])
	require.Len(t, reasons, 3)
	require.NoError(t, l.Close())
	mustVerify(t, path)

	// Moving every event left removes the batch.
	l, err = wal.Open(path, nil)
	require.NoError(t, err)
	s, err = l.Stream("a")
	require.NoError(t, err)
	var all []wal.EventReason
	for _, seq := range []uint64{seqs[1], seqs[3], seqs[5]} {
		all = append(all, wal.EventReason{Seq: seq, Reason: "undecodable: all"})
	}
	gone, err := s.DeadLetterEvents(nb.Seq, all)
	require.NoError(t, err)
	require.Nil(t, gone)
	_, err = s.InFlight(nb.Seq)
	require.Error(t, err)
	require.NoError(t, l.Close())
	mustVerify(t, path)
}
