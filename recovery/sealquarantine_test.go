package recovery

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/wal"
)

// The log's own quarantine (Seal moving a corrupt pending record to dead
// letters) must leave a file that Verify accepts.
func TestSealQuarantineLeavesConsistentFile(t *testing.T) {
	path := buildWAL(t)
	damage(t, path, "a", func(rs format.RawStream) {
		flipIn(t, rs, state(t, rs).SealedThrough+2)
	})
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	s, err := l.Stream("a")
	require.NoError(t, err)
	res, err := s.Seal(wal.SealOptions{MaxEvents: 1000, Force: true})
	require.NoError(t, err)
	require.Equal(t, 1, res.Quarantined)
	require.NoError(t, l.Close())
	mustVerify(t, path)
}

// The processor's quarantine of a corrupt record inside an in-flight batch
// (ReadBatch reports it, QuarantineInFlight moves it to dead letters) must
// shrink the batch by what the record added and leave a file Verify
// accepts.
func TestInFlightQuarantineLeavesConsistentFile(t *testing.T) {
	path := buildWAL(t)
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	s, err := l.Stream("a")
	require.NoError(t, err)
	res, err := s.Seal(wal.SealOptions{MaxEvents: 5, Force: true})
	require.NoError(t, err)
	require.NotNil(t, res.Batch)
	b := res.Batch
	require.NoError(t, l.Close())

	damage(t, path, "a", func(rs format.RawStream) { flipIn(t, rs, b.First+1) })

	l, err = wal.Open(path, nil)
	require.NoError(t, err)
	s, err = l.Stream("a")
	require.NoError(t, err)
	recs, bad, err := s.ReadBatch(b)
	require.NoError(t, err)
	require.Equal(t, []uint64{b.First + 1}, bad)
	nb, err := s.QuarantineInFlight(b.Seq, bad)
	require.NoError(t, err)
	require.Equal(t, len(recs), nb.Count)
	var bytes int64
	for _, r := range recs {
		bytes += int64(len(r.Payload))
	}
	require.Equal(t, bytes, nb.Bytes, "the batch shrinks by the payload its record added")
	require.Equal(t, b.ID, nb.ID)
	dead := 0
	require.NoError(t, s.ForEachDead(func(d wal.DeadLetter) error {
		if d.BatchID == b.ID {
			dead++
			require.Contains(t, d.Reason, "corrupt")
		}
		return nil
	}))
	require.Equal(t, 1, dead)
	require.NoError(t, l.Close())
	mustVerify(t, path)
}

// Dead-lettering an in-flight batch that holds a record damaged since it
// was sealed moves that record to the dead letters as corrupt, counted by
// its stored length as Verify counts it, and the others with the batch's
// reason: the file Verify then reads agrees with the counters.
func TestDeadLetterWithCorruptRecordLeavesConsistentFile(t *testing.T) {
	path := buildWAL(t)
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	s, err := l.Stream("a")
	require.NoError(t, err)
	res, err := s.Seal(wal.SealOptions{MaxEvents: 5, Force: true})
	require.NoError(t, err)
	require.NotNil(t, res.Batch)
	b := res.Batch
	require.GreaterOrEqual(t, b.Count, 2)
	require.NoError(t, l.Close())

	damage(t, path, "a", func(rs format.RawStream) { flipIn(t, rs, b.Last) })

	l, err = wal.Open(path, nil)
	require.NoError(t, err)
	s, err = l.Stream("a")
	require.NoError(t, err)
	before := s.Stats()
	require.NoError(t, s.DeadLetter(b.Seq, "400 bad request", true))
	after := s.Stats()
	var reasons []string
	var bytes int64
	require.NoError(t, s.ForEachDead(func(d wal.DeadLetter) error {
		if d.BatchID != b.ID {
			return nil
		}
		if d.Err != nil {
			bytes += int64(len(d.Raw))
			require.Equal(t, b.Last, d.Record.Seq)
			require.Contains(t, d.Reason, "corrupt")
		} else {
			bytes += int64(len(d.Record.Payload))
			require.Equal(t, "400 bad request", d.Reason)
		}
		require.Equal(t, 1, d.Attempts)
		reasons = append(reasons, d.Reason)
		return nil
	}))
	require.Len(t, reasons, b.Count)
	require.Equal(t, before.DeadEvents+int64(b.Count), after.DeadEvents)
	require.Equal(t, before.DeadBytes+bytes, after.DeadBytes, "dead bytes are what the dead letters hold")
	require.Equal(t, before.InFlightBytes-b.Bytes, after.InFlightBytes)
	require.Equal(t, before.InFlightEvents-int64(b.Count), after.InFlightEvents)
	require.NoError(t, l.Close())
	mustVerify(t, path)
}
