package format

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
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
	v, err = EncodeDeadRecord(&DeadRecord{Record: []byte("x"), Reason: "no", BatchID: "b"})
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
