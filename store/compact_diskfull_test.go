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
	dir := smallTmpfs(t)
	path := filepath.Join(dir, "wal.db")
	db, err := Open(path, nil)
	require.NoError(t, err)
	require.NoError(t, db.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("data"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), make([]byte, 100<<10))
	}))
	require.NoError(t, db.Close())
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	filler := fillDisk(t, dir)

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

// Automatic compaction at Open is skipped, not fatal, when the disk has no
// room for the copy: the WAL opens as it is (found by the torture program,
// where a full disk kept processors from opening at all).
func TestAutoCompactOnFullDiskStillOpens(t *testing.T) {
	dir := smallTmpfs(t)
	path := filepath.Join(dir, "wal.db")
	db, err := Open(path, nil)
	require.NoError(t, err)
	require.NoError(t, db.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("data"))
		if err != nil {
			return err
		}
		for i := 0; i < 8; i++ {
			if err := b.Put([]byte{byte(i)}, make([]byte, 100<<10)); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("data"))
		for i := 1; i < 8; i++ {
			if err := b.Delete([]byte{byte(i)}); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())

	fillDisk(t, dir)

	opts := &Options{AutoCompactRatio: 0.1, AutoCompactMinSize: 1}
	db, err = Open(path, opts)
	require.NoError(t, err, "a full disk must not keep the WAL from opening")
	require.NoError(t, db.view(func(tx *bolt.Tx) error {
		require.Len(t, tx.Bucket([]byte("data")).Get([]byte{0}), 100<<10)
		return nil
	}))
	require.NoError(t, db.Close())
	_, err = os.Stat(path + ".compact.tmp")
	require.ErrorIs(t, err, os.ErrNotExist, "temporary copy left behind")
}

// smallTmpfs mounts a 4 MiB tmpfs on a new directory for the test (as root;
// the test is skipped otherwise) and unmounts it at cleanup.
func smallTmpfs(t *testing.T) string {
	t.Helper()
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
	return dir
}

// fillDisk writes a file into dir until the disk is full and returns its
// path (remove it to free the space).
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
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
	return filler
}
