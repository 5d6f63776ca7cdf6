package store

import (
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/storetx"
)

// Package store's tests act as a program that links a migration of the
// streams (package wal's, through internal/format): a step that changes
// nothing, so that their format 1 files migrate. The test below takes it
// away.
func init() {
	if storetx.Migration() == nil {
		storetx.SetMigration(func(*bolt.Tx, uint64, uint64) error { return nil })
	}
}

// A program that links package store without package wal has no migration
// of the streams (the step internal/format registers). Opening a format 1
// file for writing there must not record format 2 over streams still laid
// out as format 1 (their requeued runs records and counters): Open refuses
// with ErrVersion and leaves the file as it was; read-only or at Format 1
// it opens.
func TestOpenWithoutStreamMigrationRefuses(t *testing.T) {
	path := newPath(t)
	db, err := Open(path, &Options{Format: 1})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	old := storetx.Migration()
	storetx.SetMigration(nil)
	t.Cleanup(func() { storetx.SetMigration(old) })

	_, err = Open(path, nil)
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrVersion), "%v", err)
	require.ErrorContains(t, err, "no migration of the streams")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after, "the file is left as it was")

	for _, o := range []*Options{{ReadOnly: true}, {Format: 1}} {
		db = mustOpen(t, path, o)
		require.EqualValues(t, 1, db.Info().Version)
		require.NoError(t, db.Close())
	}
}
