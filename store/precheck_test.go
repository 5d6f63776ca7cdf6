package store

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// A truncated file is refused before bbolt maps it, so a failed open leaves
// no lock behind: opening it again (say, to repair it in the same process)
// reports the damage again, not ErrLocked.
func TestTruncatedFileRefusedBeforeMapping(t *testing.T) {
	path := makeWAL(t, 2000, 100)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, fi.Size()/2))
	require.ErrorContains(t, precheck(path), "truncated")
	for i := 0; i < 3; i++ {
		for _, ro := range []bool{false, true} {
			_, err := Open(path, &Options{ReadOnly: ro, LockTimeout: 100e6})
			require.ErrorIs(t, err, ErrCorrupt)
			require.NotErrorIs(t, err, ErrLocked)
		}
	}
}

func TestPrecheckAcceptsSoundFiles(t *testing.T) {
	path := makeWAL(t, 200, 100)
	require.NoError(t, precheck(path))
	require.NoError(t, precheck(path+".missing"))
}
