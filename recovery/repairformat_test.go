package recovery

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/store"
)

// fileVersion returns the format version of the closed file at path.
func fileVersion(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := store.Open(path, &store.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	return db.Info().Version
}

// Repair changes what it reports and nothing else: a format 1 file (kept
// at 1 for a rolling upgrade) stays at format 1, as walctl's other
// commands that change a file keep its format. It used to open the file
// with the default format and so migrate it.
func TestRepairKeepsTheFormat(t *testing.T) {
	for _, f := range []uint64{1, 2} {
		path := buildWALFormat(t, f)
		damage(t, path, "a", func(rs format.RawStream) {
			st := state(t, rs)
			st.DeadBytes += 7
			require.NoError(t, rs.PutState(st))
		})
		rep, err := Repair(path, nil)
		require.NoError(t, err)
		require.NotEmpty(t, rep.Actions)
		require.True(t, rep.After.OK(), "%s", rep.After)
		require.Equal(t, f, fileVersion(t, path), "format %d", f)
	}
}
