package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	walformat "github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// formatOf returns the format version of the file at path.
func formatOf(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := store.Open(path, &store.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	return db.Info().Version
}

// stateRecord returns the stored state record of stream name in the file
// at path, and the stream's counters decoded from it and derived.
func stateRecord(t *testing.T, path, name string) ([]byte, walformat.State) {
	t.Helper()
	db, err := store.Open(path, &store.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	var rec []byte
	var st walformat.State
	require.NoError(t, storetx.View(db, func(tx *bolt.Tx) error {
		rs, ok := walformat.RawStreamOf(tx, name)
		require.True(t, ok)
		rec = append([]byte(nil), rs.State...)
		st, err = walformat.DecodeState(rs.Version, rs.State)
		require.NoError(t, err)
		walformat.DeriveState(rs.Bucket, &st)
		return nil
	}))
	return rec, st
}

// migrate brings a format 1 file to format 2 with every event readable;
// the commands that change a file for another purpose keep its format.
func TestMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.wal")
	l, err := wal.Open(path, &wal.Options{Store: store.Options{Format: 1}})
	require.NoError(t, err)
	s, err := l.Stream("orders")
	require.NoError(t, err)
	for i := range 20 {
		_, err := s.Append("", []byte{byte(i)})
		require.NoError(t, err)
	}
	res, err := s.Seal(wal.SealOptions{MaxEvents: 5})
	require.NoError(t, err)
	require.NoError(t, s.DeadLetter(res.Batch.Seq, "no", false))
	require.NoError(t, l.Close())
	require.EqualValues(t, 1, formatOf(t, path))

	r := walctl(t, "requeue", path, "--stream", "orders", "--all")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.EqualValues(t, 1, formatOf(t, path), "requeue kept format 1")

	// A completion record and an in-flight batch, for the counters format
	// 2 derives.
	l, err = wal.Open(path, &wal.Options{Store: store.Options{Format: 1}})
	require.NoError(t, err)
	s, err = l.Stream("orders")
	require.NoError(t, err)
	for range 2 {
		res, err = s.Seal(wal.SealOptions{MaxEvents: 2})
		require.NoError(t, err)
	}
	require.NoError(t, s.Complete(res.Batch.Seq))
	require.NoError(t, l.Close())
	rec1, st1 := stateRecord(t, path, "orders")
	require.Len(t, rec1, walformat.StateSize(1), "format 1 stores its 15 fields")
	require.Equal(t, [4]uint64{1, 2, 1, 16}, [4]uint64{st1.InflightBatches, st1.InflightCount, st1.DoneRecords, st1.PendingCount})

	r = walctl(t, "migrate", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, "migrated "+path+" from format 1 to 2\n", r.stdout)
	require.EqualValues(t, 2, formatOf(t, path))
	rec2, st2 := stateRecord(t, path, "orders")
	require.Len(t, rec2, walformat.StateSize(2), "the migration rewrote the state record")
	// The same counters, but OldestNanos: the migration drops format 1's
	// requeued runs and sets it by format 2's rule, the first live event's
	// time (the requeued events are behind younger ones here).
	require.Less(t, st1.OldestNanos, st2.OldestNanos)
	st1.OldestNanos = st2.OldestNanos
	require.Equal(t, st1, st2, "to the same counters")
	r = walctl(t, "migrate", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "at format 2 already")
	r = walctl(t, "migrate", path, "--format", "1")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.EqualValues(t, 2, formatOf(t, path), "never taken back")
	r = walctl(t, "migrate", path, "--format", "3")
	require.Equal(t, exitUsage, r.code)

	l, err = wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err)
	s, err = l.Stream("orders")
	require.NoError(t, err)
	var got []byte
	require.NoError(t, s.ForEachEvent(0, 0, func(r wal.Record, err error) error {
		require.NoError(t, err)
		got = append(got, r.Payload...)
		return nil
	}))
	require.ElementsMatch(t, []byte{5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 0, 1, 2, 3, 4}, got, "all but the completed batch's")
	require.NoError(t, l.Close())
	r = walctl(t, "verify", path)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
}
