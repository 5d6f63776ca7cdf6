package wal

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/store"
)

// stateRecords returns the length of every stream's stored state record.
func stateRecords(t *testing.T, l *Log) map[string]int {
	t.Helper()
	out := map[string]int{}
	require.NoError(t, storetx.View(l.db, func(tx *bolt.Tx) error {
		streams, err := format.RawStreams(tx)
		require.NoError(t, err)
		for _, rs := range streams {
			out[rs.Name] = len(rs.State)
		}
		return nil
	}))
	return out
}

// fillStreams gives each of two streams pending events, in-flight batches
// (one partly completed), a dead letter and completion records, so that
// every counter is off zero.
func fillStreams(t *testing.T, l *Log) {
	t.Helper()
	for _, name := range []string{"a", "b"} {
		s := mustStream(t, l, name)
		appendN(t, s, "k", 0, 20)
		var seqs []uint64
		for range 4 {
			r, err := s.Seal(SealOptions{MaxEvents: 3})
			require.NoError(t, err)
			require.NotNil(t, r.Batch)
			seqs = append(seqs, r.Batch.Seq)
		}
		require.NoError(t, s.Complete(seqs[0]))
		require.NoError(t, s.Complete(seqs[1]))
		_, err := s.CompletePartial(seqs[2], 1)
		require.NoError(t, err)
		require.NoError(t, s.DeadLetter(seqs[3], "400", true))
		r, err := s.Seal(SealOptions{MaxEvents: 2})
		require.NoError(t, err)
		require.NotNil(t, r.Batch)
	}
}

// streamStates returns every stream's counters as loaded, all 15 of them.
func streamStates(l *Log) map[string]format.State {
	out := map[string]format.State{}
	for _, name := range l.Streams() {
		s, _ := l.Stream(name)
		out[name] = s.current()
	}
	return out
}

// A file written at format 1 keeps format 1's 15-field state records, so
// that releases before format 2 read it. Opening it at format 2 migrates
// it, and the migration's transaction rewrites every state record to the
// 11 fields format 2 stores: the counters read back the same (the derived
// ones derived from the records), and the writes after it keep 11 fields.
func TestMigrationRewritesStateRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	l, err := Open(path, &Options{Store: store.Options{Format: 1}})
	require.NoError(t, err)
	fillStreams(t, l)
	want := streamStates(l)
	require.Equal(t, map[string]int{"a": 15 * 8, "b": 15 * 8}, stateRecords(t, l), "format 1 stores 15 fields")
	a := want["a"]
	require.Equal(t, [6]uint64{2, 4, 2, 3, 6, 2}, [6]uint64{a.InflightBatches, a.InflightCount, a.CompletedBatches, a.DeadCount, a.PendingCount, a.DoneRecords})
	require.NoError(t, checkLog(l))
	require.NoError(t, l.Close())

	l, err = Open(path, &Options{ReadOnly: true})
	require.NoError(t, err)
	require.EqualValues(t, 1, l.Store().Info().Version, "a read-only open does not migrate")
	require.Equal(t, want, streamStates(l))
	require.NoError(t, l.Close())

	l, err = Open(path, &Options{Store: store.Options{Format: 2}})
	require.NoError(t, err)
	require.EqualValues(t, 2, l.Store().Info().Version)
	require.Equal(t, map[string]int{"a": 11 * 8, "b": 11 * 8}, stateRecords(t, l), "migrated: 11 fields")
	require.Equal(t, want, streamStates(l), "the same counters")
	require.NoError(t, checkLog(l))
	s := mustStream(t, l, "a")
	appendN(t, s, "k", 100, 3)
	r, err := s.Seal(SealOptions{MaxEvents: 10, Force: true})
	require.NoError(t, err)
	require.NoError(t, s.Complete(r.Batch.Seq))
	require.Equal(t, map[string]int{"a": 11 * 8, "b": 11 * 8}, stateRecords(t, l))
	require.NoError(t, checkLog(l))
	after := streamStates(l)
	require.NoError(t, l.Close())

	l, err = Open(path, &Options{ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, after, streamStates(l), "derived again at the next open")
	require.NoError(t, checkLog(l))
	require.NoError(t, l.Close())
}

// A state record of the wrong size for the file's version is corrupt: a
// format 1 record in a format 2 file fails the open with store.ErrCorrupt.
func TestStateRecordOfTheWrongSizeIsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	l, err := Open(path, nil)
	require.NoError(t, err)
	appendN(t, mustStream(t, l, "a"), "k", 0, 3)
	st := mustStream(t, l, "a").current()
	require.NoError(t, storetx.Update(l.db, func(tx *bolt.Tx) error {
		rs, ok := format.RawStreamOf(tx, "a")
		require.True(t, ok)
		return rs.Bucket.Put(format.KeyState, st.Encode(1))
	}))
	require.NoError(t, l.Close())
	_, err = Open(path, nil)
	require.ErrorIs(t, err, store.ErrCorrupt)
	require.ErrorContains(t, err, "has 120 bytes, want 88")
}
