package store

import (
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/heappeak"
)

// Compacting a file of about 100 MB (80 MiB of keys and values) grows the
// heap by less than 64 MiB: the copy is made in bounded transactions, not
// held whole (bbolt's nodes and pages take about four times what a
// transaction copies).
func TestCompactMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 100 MB file")
	}
	path := newPath(t)
	db, err := Open(path, &Options{NoSync: true})
	require.NoError(t, err)
	const n, size = 40000, 2000
	for i := 0; i < n; i += 2000 {
		require.NoError(t, db.update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(testBucket)
			if err != nil {
				return err
			}
			for j := i; j < i+2000; j++ {
				if err := b.Put(key(j), value(j, size)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.NoError(t, db.Close())
	out := newPath(t)
	var res CompactResult
	grew := heappeak.Growth(func() { res, err = CompactFile(path, out, nil) })
	require.NoError(t, err)
	t.Logf("compacted %d bytes to %d; heap grew by %d MiB", res.BeforeBytes, res.AfterBytes, grew>>20)
	require.Less(t, grew, uint64(64<<20), "heap growth compacting %d bytes", res.BeforeBytes)
	require.Len(t, contentsAt(t, out), n)
}
