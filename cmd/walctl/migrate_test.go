package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

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

	r = walctl(t, "migrate", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, "migrated "+path+" from format 1 to 2\n", r.stdout)
	require.EqualValues(t, 2, formatOf(t, path))
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
	require.ElementsMatch(t, []byte{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 0, 1, 2, 3, 4}, got)
	require.NoError(t, l.Close())
	r = walctl(t, "verify", path)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
}
