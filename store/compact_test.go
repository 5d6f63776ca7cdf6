package store

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// The copy a compaction killed midway leaves behind is removed by the next
// open for writing; a read-only open leaves the directory alone.
func TestOpenRemovesAnInterruptedCompactionCopy(t *testing.T) {
	path := makeWAL(t, 200, 100)
	tmp := compactTmp(path)
	require.NoError(t, os.WriteFile(tmp, []byte("half a copy"), 0o600))

	db, err := Open(path, &Options{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.FileExists(t, tmp, "read-only: untouched")

	want := contentsAt(t, path)
	db, err = Open(path, nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.NoFileExists(t, tmp)
	require.Equal(t, want, contentsAt(t, path))
}
