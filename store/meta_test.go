package store

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// A WAL that lost its meta bucket to damage is ErrCorrupt, not ErrNotWAL:
// "not a WAL" could lead an operator to throw the file away. Found by
// TestCorruptPagesNeverPanic (seed 1795616894883827692): damage cleared
// the bucket flag of the root's "walbatch" key.
func TestMissingMetaBucketInAWALIsCorrupt(t *testing.T) {
	for name, damage := range map[string]func(tx *bolt.Tx) error{
		"meta bucket deleted, streams left": func(tx *bolt.Tx) error {
			if _, err := tx.CreateBucket([]byte("streams")); err != nil {
				return err
			}
			return tx.DeleteBucket(metaBucket)
		},
		"a byte of the meta bucket's name flipped": func(tx *bolt.Tx) error {
			if err := tx.DeleteBucket(metaBucket); err != nil {
				return err
			}
			_, err := tx.CreateBucket([]byte("\xa3albatch"))
			return err
		},
		"only a foreign bucket left": func(tx *bolt.Tx) error {
			if err := tx.DeleteBucket(metaBucket); err != nil {
				return err
			}
			b, err := tx.CreateBucket([]byte("x"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v")) // keeps the root non-empty
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wal.db")
			db, err := Open(path, nil)
			require.NoError(t, err)
			require.NoError(t, db.Close())
			bdb, err := bolt.Open(path, 0o600, nil)
			require.NoError(t, err)
			require.NoError(t, bdb.Update(damage))
			require.NoError(t, bdb.Close())
			_, err = Open(path, &Options{ReadOnly: true})
			if name == "only a foreign bucket left" {
				require.ErrorIs(t, err, ErrNotWAL) // indistinguishable from a foreign file
			} else {
				require.ErrorIs(t, err, ErrCorrupt)
			}
		})
	}
}

// A format version far beyond any release is a damaged value (found by
// TestCorruptPagesNeverPanic, seed 1795616968081761538: version 5570561):
// ErrCorrupt. A next version is ErrVersion.
func TestAbsurdVersionIsCorrupt(t *testing.T) {
	for version, want := range map[uint64]error{FormatVersion + 1: ErrVersion, 5570561: ErrCorrupt} {
		path := filepath.Join(t.TempDir(), "wal.db")
		db, err := Open(path, nil)
		require.NoError(t, err)
		require.NoError(t, db.Close())
		bdb, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(metaBucket).Put(keyVersion, binary.BigEndian.AppendUint64(nil, version))
		}))
		require.NoError(t, bdb.Close())
		_, err = Open(path, &Options{ReadOnly: true})
		require.ErrorIs(t, err, want, "version %d", version)
	}
}
