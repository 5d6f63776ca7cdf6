package store

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// Compaction on a full disk fails with ErrNoSpace (found by the torture
// program: the error of creating the copy named no sentinel), leaves the
// original as it was and no temporary file behind, and works once space
// is freed.
func TestCompactFileDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs failed: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	path := filepath.Join(dir, "wal.db")
	db, err := Open(path, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("data"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), make([]byte, 100<<10))
	}))
	require.NoError(t, db.Close())
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	require.NoError(t, err)
	buf := make([]byte, 4<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	require.NoError(t, f.Close())

	_, err = CompactFile(path, "", nil)
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrNoSpace), "error names no sentinel: %v", err)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after, "the original changed")
	_, err = os.Stat(path + ".compact.tmp")
	require.ErrorIs(t, err, os.ErrNotExist, "temporary copy left behind")

	require.NoError(t, os.Remove(filler))
	_, err = CompactFile(path, "", nil)
	require.NoError(t, err)
}
