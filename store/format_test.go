package store

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// A new file is created at Options.Format (default FormatVersion); an
// older file opened for writing is migrated to it, a read-only open and a
// lower Format change nothing, and a format this build does not write is
// refused before the file is touched.
func TestFormatOption(t *testing.T) {
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

	db = mustOpen(t, path, nil)
	require.Equal(t, FormatVersion, db.Info().Version, "migrated at open")
	require.NoError(t, db.Close())
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
