package wal

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// deleteKeys deletes through a cursor; bbolt's cursor behaves differently
// over leaves already changed in the same transaction (it skips the key
// after a deleted one). Both cases must delete exactly the range.
func TestDeleteKeys(t *testing.T) {
	for _, touched := range []bool{false, true} {
		t.Run(map[bool]string{false: "fresh leaves", true: "leaves changed earlier in the tx"}[touched], func(t *testing.T) {
			db, err := bolt.Open(filepath.Join(t.TempDir(), "t.db"), 0o600, nil)
			require.NoError(t, err)
			defer db.Close()
			val := make([]byte, 300) // ~13 per page: the range spans many leaves
			const n = 2000
			require.NoError(t, db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("e"))
				if err != nil {
					return err
				}
				b.FillPercent = 1.0
				for seq := uint64(1); seq <= n; seq++ {
					if seq%97 == 0 {
						continue // holes, as quarantined records leave
					}
					if err := b.Put(format.SeqKey(seq), val); err != nil {
						return err
					}
				}
				return nil
			}))
			const first, last = 150, 1700
			require.NoError(t, db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("e"))
				if touched {
					for seq := uint64(first); seq <= last; seq += 5 {
						if seq%97 != 0 {
							if err := b.Put(format.SeqKey(seq), val[:10]); err != nil {
								return err
							}
						}
					}
				}
				var keys []uint64
				for seq := uint64(first); seq <= last; seq++ {
					if seq%97 != 0 {
						keys = append(keys, seq)
					}
				}
				return deleteKeys(b, keys)
			}))
			require.NoError(t, db.View(func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("e"))
				for seq := uint64(1); seq <= n; seq++ {
					want := seq%97 != 0 && (seq < first || seq > last)
					require.Equal(t, want, b.Get(format.SeqKey(seq)) != nil, "seq %d", seq)
				}
				return nil
			}))
		})
	}
}
