package format

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/store"
)

// putTestMeta gives a bare bbolt file of the tests the meta bucket of a
// WAL at format version, so that RawStreams reads its version.
func putTestMeta(t *testing.T, tx *bolt.Tx, version uint64) {
	t.Helper()
	b, err := tx.CreateBucketIfNotExists([]byte("walbatch"))
	require.NoError(t, err)
	require.NoError(t, b.Put([]byte("version"), binary.BigEndian.AppendUint64(nil, version)))
	require.NoError(t, b.Put([]byte("created"), binary.BigEndian.AppendUint64(nil, 1)))
	require.NoError(t, b.Put([]byte("id"), []byte("fileid08")))
}

var fullState = State{NextSeq: 1, SealedThrough: 2, NextBatch: 3, PendingCount: 4, PendingBytes: 5,
	InflightBatches: 6, InflightCount: 7, InflightBytes: 8, DeadCount: 9, DeadBytes: 10,
	CompletedBatches: 11, CompletedEvents: 12, OldestNanos: -13, DoneRecords: 14, Created: 15}

// Format 1 stores the 15 fields in their order, byte for byte as releases
// before format 2 read them; format 2 the 11 that are not derived. Each
// decodes to what was encoded (format 2 without the derived ones), and a
// record of the other version's size, or any other, is corrupt.
func TestStateRoundTripPerVersion(t *testing.T) {
	v1 := fullState.Encode(1)
	require.Len(t, v1, 15*8)
	for i := range 15 {
		want := uint64(i + 1)
		if i == 12 {
			want = uint64(fullState.OldestNanos)
		}
		require.Equal(t, want, binary.BigEndian.Uint64(v1[8*i:]), "field %d", i)
	}
	st, err := DecodeState(1, v1)
	require.NoError(t, err)
	require.Equal(t, fullState, st)

	v2 := fullState.Encode(2)
	require.Len(t, v2, 11*8)
	var got []uint64
	for i := range 11 {
		got = append(got, binary.BigEndian.Uint64(v2[8*i:]))
	}
	require.Equal(t, []uint64{1, 2, 3, 4, 5, 9, 10, 11, 12, uint64(fullState.OldestNanos), 15}, got)
	st, err = DecodeState(2, v2)
	require.NoError(t, err)
	want := fullState
	want.InflightBatches, want.InflightCount, want.InflightBytes, want.DoneRecords = 0, 0, 0, 0
	require.Equal(t, want, st)

	for _, tc := range []struct {
		version uint64
		b       []byte
	}{{1, v2}, {2, v1}, {1, nil}, {2, nil}, {2, append(v2, 0)}, {1, v1[:8]}} {
		_, err := DecodeState(tc.version, tc.b)
		require.ErrorIs(t, err, store.ErrCorrupt, "format %d, %d bytes", tc.version, len(tc.b))
	}
	for _, f := range []string{"InflightBatches", "InflightCount", "InflightBytes", "DoneRecords"} {
		require.True(t, IsDerived(2, f))
		require.False(t, IsDerived(1, f))
	}
	require.False(t, IsDerived(2, "PendingCount"))
}

func stateDB(t *testing.T) *bolt.DB {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), 0o600, &bolt.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// DeriveState counts the batch records that decode with their Count and
// Bytes, and the completion records, whatever the stored values say.
func TestDeriveState(t *testing.T) {
	db := stateDB(t)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		rs, err := CreateRawStream(tx, "s")
		require.NoError(t, err)
		st := State{InflightBatches: 99, InflightCount: 99, InflightBytes: 99, DoneRecords: 99, PendingCount: 5}
		DeriveState(rs.Bucket, &st)
		require.Equal(t, State{PendingCount: 5}, st, "empty buckets")

		putScanBatch(t, rs, Batch{Seq: 2, First: 1, Last: 2, Count: 2, Bytes: 6})
		putScanBatch(t, rs, Batch{Seq: 3, First: 3, Last: 5, Count: 3, Bytes: 30})
		require.NoError(t, rs.Batches.Put(SeqKey(4), []byte("not a record")))
		_, err = rs.Batches.CreateBucket(SeqKey(5))
		require.NoError(t, err)
		for _, seq := range []uint64{1, 7} {
			c, err := EncodeCompletion(&Completion{Seq: seq, Count: 1})
			require.NoError(t, err)
			require.NoError(t, rs.Done.Put(SeqKey(seq), c))
		}
		require.NoError(t, rs.Done.Put([]byte("odd"), []byte("x")))
		DeriveState(rs.Bucket, &st)
		require.Equal(t, State{PendingCount: 5, InflightBatches: 2, InflightCount: 5, InflightBytes: 36, DoneRecords: 2}, st)
		DeriveState(nil, &st)
		require.Equal(t, State{PendingCount: 5}, st, "no bucket")
		return nil
	}))
}

// The migration from format 1 to 2 rewrites each stream's 15-field state
// record as the 11 fields format 2 stores, in the caller's transaction, and
// leaves a record that does not decode damaged (one of the new size made
// one byte longer).
func TestMigrateStreamsRewritesState(t *testing.T) {
	db := stateDB(t)
	require.NotNil(t, storetx.Migration(), "registered at init")
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		putTestMeta(t, tx, 1)
		for _, name := range []string{"a", "b", "short", "eleven"} {
			rs, err := CreateRawStream(tx, name)
			require.NoError(t, err)
			require.EqualValues(t, 1, rs.Version)
			switch name {
			case "short":
				require.NoError(t, rs.Bucket.Put(KeyState, []byte("short")))
			case "eleven":
				require.NoError(t, rs.Bucket.Put(KeyState, make([]byte, 11*8)))
			default:
				putScanBatch(t, rs, Batch{Seq: 1, First: 1, Last: 6, Count: 6, Bytes: 7})
				require.NoError(t, rs.PutState(fullState))
			}
		}
		return nil
	}))
	boom := errors.New("boom")
	err := db.Update(func(tx *bolt.Tx) error {
		require.NoError(t, storetx.Migration()(tx, 1, 2))
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		rs, _ := RawStreamOf(tx, "a")
		require.Len(t, rs.State, 15*8, "rolled back with its transaction")
		return nil
	}))
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { return storetx.Migration()(tx, 1, 2) }))
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		putTestMeta(t, tx, 2)
		return nil
	}))
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		streams, err := RawStreams(tx)
		require.NoError(t, err)
		require.Len(t, streams, 4)
		for _, rs := range streams {
			require.EqualValues(t, 2, rs.Version)
			switch rs.Name {
			case "short":
				require.Equal(t, []byte("short"), rs.State)
			case "eleven":
				require.Len(t, rs.State, 11*8+1)
				_, err := DecodeState(2, rs.State)
				require.ErrorIs(t, err, store.ErrCorrupt)
			default:
				require.Len(t, rs.State, 11*8)
				st, err := DecodeState(2, rs.State)
				require.NoError(t, err)
				DeriveState(rs.Bucket, &st)
				want := fullState
				want.InflightBatches, want.InflightCount, want.InflightBytes, want.DoneRecords = 1, 6, 7, 0
				require.Equal(t, want, st)
			}
		}
		return nil
	}))
}
