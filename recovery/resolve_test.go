package recovery

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/wal"
)

// holedWAL builds a file whose stream "a" has one in-flight batch of 8
// events (seqs 1-8) after a per-event result: 1, 4 and 8 delivered, 3 and
// 6 dead, 2, 5 and 7 left to retry (holes at 3, 4 and 6; the range
// tightened to 2-7). It returns the path and the batch as it stands.
func holedWAL(t *testing.T) (string, *wal.Batch) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "w.db")
	l, err := wal.Open(path, &wal.Options{CompletedKeep: 4})
	require.NoError(t, err)
	s, err := l.Stream("a")
	require.NoError(t, err)
	for i := range 10 {
		_, err := s.Append("", fmt.Appendf(nil, "event-%d", i))
		require.NoError(t, err)
	}
	res, err := s.Seal(wal.SealOptions{MaxEvents: 8, Force: true})
	require.NoError(t, err)
	nb, err := s.Resolve(res.Batch.Seq, []uint64{1, 4, 8},
		[]wal.EventReason{{Seq: 3, Reason: "permanent: a"}, {Seq: 6, Reason: "permanent: b"}}, time.Now().Add(time.Minute), "5 of 8 events failed")
	require.NoError(t, err)
	require.Equal(t, uint64(2), nb.First)
	require.Equal(t, uint64(7), nb.Last)
	require.Equal(t, 3, nb.Count)
	require.NoError(t, l.Close())
	return path, nb
}

// A batch with holes left by a per-event result is no problem for Verify,
// Plan redispatches exactly the events left with the batch's ID and
// attempts, and Repair changes nothing.
func TestBatchWithHolesVerifiesAndRecovers(t *testing.T) {
	path, nb := holedWAL(t)
	mustVerify(t, path)

	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	rec, err := Plan(l, nil)
	require.NoError(t, err)
	require.True(t, rec.OK(), "%s", rec)
	a := rec.Streams[0]
	require.Len(t, a.Redispatch, 1)
	b := a.Redispatch[0]
	require.Equal(t, nb.ID, b.ID)
	require.Equal(t, 1, b.Attempts)
	require.Equal(t, 3, b.Count)
	require.Equal(t, 3, b.Delivered)
	require.EqualValues(t, 3, a.RedispatchEvents)
	s, err := l.Stream("a")
	require.NoError(t, err)
	recs, bad, err := s.ReadBatch(&b)
	require.NoError(t, err)
	require.Empty(t, bad)
	var seqs []uint64
	for _, r := range recs {
		seqs = append(seqs, r.Seq)
	}
	require.Equal(t, []uint64{2, 5, 7}, seqs)
	require.NoError(t, l.Close())

	fi, err := os.Stat(path)
	require.NoError(t, err)
	rep, err := Repair(path, nil)
	require.NoError(t, err)
	require.Empty(t, rep.Actions)
	fi2, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fi.ModTime(), fi2.ModTime())
}

// Real damage to a batch with holes is still found, and Repair fixes it: a
// remaining event lost from the middle (the batch's count is wrong) or at
// an end (its range points at a missing event).
func TestBatchWithHolesDamageDetected(t *testing.T) {
	for _, tc := range []struct {
		name string
		seq  uint64
	}{{"middle", 5}, {"first", 2}, {"last", 7}} {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := holedWAL(t)
			damage(t, path, "a", func(rs format.RawStream) { require.NoError(t, rs.Events.Delete(format.SeqKey(tc.seq))) })
			r, err := Verify(path, nil)
			require.NoError(t, err)
			require.False(t, r.OK())
			t.Log(r)
			rep, err := Repair(path, nil)
			require.NoError(t, err)
			require.NotEmpty(t, rep.Actions)
			mustVerify(t, path)
		})
	}
}
