package wal

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
)

// Every transition stores its records with a checksum that holds.
func TestTransitionsStoreFieldChecksums(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 6)
	seal := func() *Batch {
		res, err := s.Seal(SealOptions{MaxEvents: 2, Force: true})
		require.NoError(t, err)
		return res.Batch
	}
	b1, b2, b3 := seal(), seal(), seal()
	require.NoError(t, s.Complete(b1.Seq))
	_, err := s.Retry(b2.Seq, b2.NextAttemptTime(), "boom")
	require.NoError(t, err)
	require.NoError(t, s.DeadLetter(b2.Seq, "gave up", true))
	_, err = s.CompletePartial(b3.Seq, 1)
	require.NoError(t, err)
	require.NoError(t, storetx.View(l.Store(), func(tx *bolt.Tx) error {
		rs, ok := format.RawStreamOf(tx, "s")
		require.True(t, ok)
		for _, bucket := range []*bolt.Bucket{rs.Batches, rs.Dead, rs.Done} {
			require.Positive(t, bucket.Stats().KeyN)
		}
		k, v := rs.Batches.Cursor().First()
		var b format.Batch
		require.NoError(t, msgpack.Unmarshal(v, &b))
		require.NotZero(t, b.Sum)
		_, err := format.DecodeBatch(s.UID(), mustKey(t, k), v)
		require.NoError(t, err)
		require.NoError(t, rs.Dead.ForEach(func(_, v []byte) error {
			d, err := format.DecodeDeadRecord(v)
			require.NoError(t, err)
			require.NotZero(t, d.Sum)
			require.True(t, d.SumOK())
			return nil
		}))
		k, v = rs.Done.Cursor().First()
		var c format.Completion
		require.NoError(t, msgpack.Unmarshal(v, &c))
		require.NotZero(t, c.Sum)
		_, err = format.DecodeCompletion(s.UID(), mustKey(t, k), v)
		return err
	}))
}

func mustKey(t *testing.T, k []byte) uint64 {
	seq, ok := format.ParseSeqKey(k)
	require.True(t, ok)
	return seq
}
