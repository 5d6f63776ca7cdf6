package recovery

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/boltfile/boltfiletest"

	"github.com/walbatch/walbatch/internal/boltfile"
	"github.com/walbatch/walbatch/internal/heappeak"
	"github.com/walbatch/walbatch/wal"
)

// Repairing a 100 MB WAL that needs a rebuild (5000 events of 20 KB, its
// newest meta page damaged) grows the heap by less than 64 MiB: the
// rebuild copies in transactions bounded in bytes, not only in keys.
func TestRebuildMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 100 MB file")
	}
	path := filepath.Join(t.TempDir(), "w.db")
	l, err := wal.Open(path, &wal.Options{Sync: wal.SyncNone})
	require.NoError(t, err)
	s, err := l.Stream("a")
	require.NoError(t, err)
	entries := make([]wal.Entry, 100)
	for j := range entries {
		entries[j] = wal.Entry{Payload: make([]byte, 20000)}
	}
	for range 50 {
		_, err = s.AppendMany(entries)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	boltfiletest.FlipNewestMeta(t, path, boltfile.PageHeaderSize+16) // its root: Repair rebuilds
	var rep *RepairReport
	grew := heappeak.Growth(func() { rep, err = Repair(path, nil) })
	require.NoError(t, err)
	require.True(t, rep.Rebuilt)
	require.True(t, rep.After.OK(), "%s", rep.After)
	t.Logf("heap grew by %d MiB", grew>>20)
	require.Less(t, grew, uint64(64<<20))
}
