package store

import (
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/storetx"
)

// withMigration registers step as the streams' migration for the test
// (package store's tests do not link internal/format, which registers the
// real one).
func withMigration(t *testing.T, step func(tx *bolt.Tx, from, to uint64) error) {
	old := storetx.Migration()
	storetx.SetMigration(step)
	t.Cleanup(func() { storetx.SetMigration(old) })
}

// The streams' migration step runs in the transaction that records the new
// version: when it fails, the file stays at its version, whole; what it
// wrote is committed with the version. Without a step the migration is
// refused and the file left as it is.
func TestMigrationStepSharesTheTransaction(t *testing.T) {
	path := newPath(t)
	db, err := Open(path, &Options{Format: 1})
	require.NoError(t, err)
	require.NoError(t, db.Close())

	withMigration(t, nil)
	_, err = Open(path, nil)
	require.ErrorIs(t, err, ErrVersion)
	require.ErrorContains(t, err, "no migration of the streams")

	boom := errors.New("boom")
	withMigration(t, func(tx *bolt.Tx, from, to uint64) error {
		b, err := tx.CreateBucket([]byte("step"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		return boom
	})
	_, err = Open(path, nil)
	require.ErrorIs(t, err, boom)
	db = mustOpen(t, path, &Options{ReadOnly: true})
	require.EqualValues(t, 1, db.Info().Version, "a failed step leaves the old version")
	require.NoError(t, storetx.View(db, func(tx *bolt.Tx) error {
		require.Nil(t, tx.Bucket([]byte("step")), "and nothing the step wrote")
		v, err := storetx.Version(tx)
		require.NoError(t, err)
		require.EqualValues(t, 1, v)
		return nil
	}))
	require.NoError(t, db.Close())

	withMigration(t, func(tx *bolt.Tx, from, to uint64) error {
		b, err := tx.CreateBucket([]byte("step"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	db = mustOpen(t, path, nil)
	require.Equal(t, FormatVersion, db.Info().Version)
	require.NoError(t, storetx.View(db, func(tx *bolt.Tx) error {
		require.Equal(t, []byte("v"), tx.Bucket([]byte("step")).Get([]byte("k")), "the step's writes commit with the version")
		v, err := storetx.Version(tx)
		require.NoError(t, err)
		require.Equal(t, FormatVersion, v)
		return nil
	}))
	require.NoError(t, db.Close())
}

// A new file is created at Options.Format (default FormatVersion); an
// older file opened for writing is migrated to it, a read-only open and a
// lower Format change nothing, and a format this build does not write is
// refused before the file is touched.
func TestFormatOption(t *testing.T) {
	var steps [][2]uint64
	withMigration(t, func(tx *bolt.Tx, from, to uint64) error {
		steps = append(steps, [2]uint64{from, to})
		return nil
	})
	path := newPath(t)
	db, err := Open(path, &Options{Format: 1})
	require.NoError(t, err)
	require.EqualValues(t, 1, db.Info().Version)
	require.NoError(t, db.Close())

	db = mustOpen(t, path, &Options{ReadOnly: true})
	require.EqualValues(t, 1, db.Info().Version, "read-only: not migrated")
	require.NoError(t, db.Close())
	db = mustOpen(t, path, &Options{Format: 1})
	require.EqualValues(t, 1, db.Info().Version, "kept at format 1")
	require.NoError(t, db.Close())

	require.Empty(t, steps, "no migration step without a migration")
	db = mustOpen(t, path, nil)
	require.Equal(t, FormatVersion, db.Info().Version, "migrated at open")
	require.NoError(t, db.Close())
	require.Equal(t, [][2]uint64{{1, FormatVersion}}, steps, "the registered step ran once, from the file's version")
	db = mustOpen(t, path, &Options{ReadOnly: true})
	require.Equal(t, FormatVersion, db.Info().Version, "the migration was committed")
	require.NoError(t, db.Close())
	db = mustOpen(t, path, &Options{Format: 1})
	require.Equal(t, FormatVersion, db.Info().Version, "never taken back")
	require.NoError(t, db.Close())

	for _, f := range []uint64{FormatVersion + 1, 1 << 40} {
		p := newPath(t)
		_, err := Open(p, &Options{Format: f})
		require.Error(t, err)
		require.Contains(t, err.Error(), "this build writes formats 1 to")
		_, err = os.Stat(p)
		require.True(t, os.IsNotExist(err), "no file created")
	}
	db = mustOpen(t, newPath(t), nil)
	require.Equal(t, FormatVersion, db.Info().Version)
	require.NoError(t, db.Close())
}
