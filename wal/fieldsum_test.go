package wal

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"
)

// Records written before the field checksums existed have no "crc" field:
// they decode and pass as before. Records written now still decode with
// the older layouts (what an older walbatch reading a newer file sees):
// the added field is ignored, so the format stays version 1.
func TestFieldChecksumsAreACompatibleAddition(t *testing.T) {
	type oldBatch struct {
		Seq       uint64 `msgpack:"seq"`
		First     uint64 `msgpack:"first"`
		Last      uint64 `msgpack:"last"`
		Count     int    `msgpack:"count"`
		LastError string `msgpack:"err"`
	}
	type oldDead struct {
		Record  []byte `msgpack:"rec"`
		Reason  string `msgpack:"reason"`
		BatchID string `msgpack:"batch"`
	}
	type oldDone struct {
		Seq   uint64 `msgpack:"seq"`
		Count int    `msgpack:"count"`
	}
	var uid [8]byte
	v, err := msgpack.Marshal(&oldBatch{Seq: 3, First: 5, Last: 9, Count: 5, LastError: "503"})
	require.NoError(t, err)
	b, err := DecodeBatch(uid, 3, v)
	require.NoError(t, err)
	require.Equal(t, "503", b.LastError)

	v, err = msgpack.Marshal(&oldDead{Record: []byte("x"), Reason: "no", BatchID: "b"})
	require.NoError(t, err)
	d, err := DecodeDeadRecord(v)
	require.NoError(t, err)
	require.True(t, d.SumOK())

	v, err = msgpack.Marshal(&oldDone{Seq: 4, Count: 2})
	require.NoError(t, err)
	c, err := DecodeCompletion(uid, 4, v)
	require.NoError(t, err)
	require.Equal(t, 2, c.Count)

	// New records read with the old layouts.
	v, err = EncodeBatch(&Batch{Seq: 3, First: 5, Last: 9, Count: 5, LastError: "503"})
	require.NoError(t, err)
	var ob oldBatch
	require.NoError(t, msgpack.Unmarshal(v, &ob))
	require.Equal(t, oldBatch{Seq: 3, First: 5, Last: 9, Count: 5, LastError: "503"}, ob)
	v, err = EncodeDeadRecord(DeadRecord{Record: []byte("x"), Reason: "no", BatchID: "b"})
	require.NoError(t, err)
	var od oldDead
	require.NoError(t, msgpack.Unmarshal(v, &od))
	require.Equal(t, "no", od.Reason)

	// And the checksum is there and checked.
	d, err = DecodeDeadRecord(v)
	require.NoError(t, err)
	require.NotZero(t, d.Sum)
	require.True(t, d.SumOK())
	d.Attempts++
	require.False(t, d.SumOK())
}

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
	require.NoError(t, l.Store().View(func(tx *bolt.Tx) error {
		rs, ok := RawStreamOf(tx, "s")
		require.True(t, ok)
		for _, bucket := range []*bolt.Bucket{rs.Batches, rs.Dead, rs.Done} {
			require.Positive(t, bucket.Stats().KeyN)
		}
		k, v := rs.Batches.Cursor().First()
		var b Batch
		require.NoError(t, msgpack.Unmarshal(v, &b))
		require.NotZero(t, b.Sum)
		_, err := DecodeBatch(s.UID(), mustKey(t, k), v)
		require.NoError(t, err)
		require.NoError(t, rs.Dead.ForEach(func(_, v []byte) error {
			d, err := DecodeDeadRecord(v)
			require.NoError(t, err)
			require.NotZero(t, d.Sum)
			require.True(t, d.SumOK())
			return nil
		}))
		k, v = rs.Done.Cursor().First()
		var c Completion
		require.NoError(t, msgpack.Unmarshal(v, &c))
		require.NotZero(t, c.Sum)
		_, err = DecodeCompletion(s.UID(), mustKey(t, k), v)
		return err
	}))
}

func mustKey(t *testing.T, k []byte) uint64 {
	seq, ok := keyU64(k)
	require.True(t, ok)
	return seq
}
