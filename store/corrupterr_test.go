package store

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// An error that a transaction's own function returns, even one that wraps
// ErrCorrupt (a record that fails its checksum, a batch record that does
// not decode), is that call's error only. Only a panic or fault inside
// bbolt (a damaged page) leaves the DB failed for every later call;
// otherwise one bad record found by a read would stop every write.
func TestCorruptRecordErrorDoesNotBreakTheDB(t *testing.T) {
	db := mustOpen(t, newPath(t), nil)
	bad := fmt.Errorf("record 7: checksum mismatch: %w", ErrCorrupt)
	require.ErrorIs(t, db.view(func(*bolt.Tx) error { return bad }), ErrCorrupt)
	require.ErrorIs(t, db.update(func(*bolt.Tx) error { return bad }), ErrCorrupt)
	require.NoError(t, db.view(func(*bolt.Tx) error { return nil }))
	require.NoError(t, db.update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte("after"))
		return err
	}))

	// A panic inside the transaction is still taken for a damaged page.
	require.ErrorIs(t, db.view(func(*bolt.Tx) error { panic("bad page") }), ErrCorrupt)
	require.ErrorIs(t, db.view(func(*bolt.Tx) error { return nil }), ErrCorrupt)
}
