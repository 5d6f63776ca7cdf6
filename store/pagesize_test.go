package store

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/boltfile"
)

// filePageSize reads the page size recorded in the file's first meta page.
func filePageSize(t *testing.T, path string) int {
	t.Helper()
	b := make([]byte, 4)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.ReadAt(b, boltfile.PageHeaderSize+8)
	require.NoError(t, err)
	return int(binary.LittleEndian.Uint32(b))
}

func pageSizeOf(t *testing.T, db *DB) int {
	t.Helper()
	st, err := db.FileStats()
	require.NoError(t, err)
	return st.PageSize
}

func TestPageSizeOfNewAndExistingFiles(t *testing.T) {
	path := newPath(t)
	db, err := Open(path, nil)
	require.NoError(t, err)
	require.Equal(t, os.Getpagesize(), pageSizeOf(t, db), "a new file takes the default")
	require.NoError(t, db.Close())

	big := filepath.Join(t.TempDir(), "big.wal")
	db, err = Open(big, &Options{PageSize: 16384})
	require.NoError(t, err)
	require.Equal(t, 16384, pageSizeOf(t, db))
	put(t, db, 0, 500, 100)
	require.NoError(t, db.Close())

	// An existing file keeps its page size whatever the options say.
	db, err = Open(big, &Options{PageSize: 4096})
	require.NoError(t, err)
	require.Equal(t, 16384, pageSizeOf(t, db))
	require.NoError(t, db.Close())
	require.Equal(t, 16384, filePageSize(t, big))

	small := filepath.Join(t.TempDir(), "small.wal")
	db, err = Open(small, &Options{PageSize: 4096})
	require.NoError(t, err)
	require.Equal(t, 4096, pageSizeOf(t, db))
	put(t, db, 0, 500, 100)
	require.NoError(t, db.Close())
	db, err = Open(small, nil)
	require.NoError(t, err)
	require.Equal(t, 4096, pageSizeOf(t, db), "reopened with the default options")
	require.NoError(t, db.Close())
}

func TestInvalidPageSize(t *testing.T) {
	for _, ps := range []int{-1, 1000, 2048, 4097, 12288, 1 << 17} {
		path := newPath(t)
		_, err := Open(path, &Options{PageSize: ps})
		require.ErrorContains(t, err, "page size", "page size %d", ps)
		_, statErr := os.Stat(path)
		require.True(t, os.IsNotExist(statErr), "page size %d: no file is created", ps)
	}
	path := makeWAL(t, 10, 10)
	_, err := CompactFile(path, "", &Options{PageSize: 3000})
	require.ErrorContains(t, err, "page size")
}

// CompactFile writes its copy with the page size of its options (the
// default when not set), with every key intact.
func TestCompactChangesPageSize(t *testing.T) {
	path := newPath(t)
	db, err := Open(path, &Options{PageSize: 4096})
	require.NoError(t, err)
	put(t, db, 0, 800, 120)
	require.NoError(t, db.Close())
	want := contentsAt(t, path)

	_, err = CompactFile(path, "", &Options{PageSize: 16384})
	require.NoError(t, err)
	require.Equal(t, 16384, filePageSize(t, path))
	require.Equal(t, want, contentsAt(t, path))

	_, err = CompactFile(path, "", nil)
	require.NoError(t, err)
	require.Equal(t, os.Getpagesize(), filePageSize(t, path))
	require.Equal(t, want, contentsAt(t, path))
}

// With the first meta page destroyed, a truncated file with large pages is
// still found truncated (the second meta page is looked for at every page
// size), not handed to bbolt to map, fault on, and keep locked.
func TestTruncatedWithFirstMetaZeroed(t *testing.T) {
	for _, ps := range []int{4096, 16384, 65536} {
		path := newPath(t)
		db, err := Open(path, &Options{PageSize: ps})
		require.NoError(t, err)
		put(t, db, 0, 3000, 200)
		require.NoError(t, db.Close())
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(path, fi.Size()/2))
		zero(t, path, 0, int64(ps))
		for range 2 { // refused before bbolt maps it: no lock is left behind
			_, err = Open(path, &Options{LockTimeout: 50 * time.Millisecond})
			require.ErrorIs(t, err, ErrCorrupt, "page size %d", ps)
			require.ErrorContains(t, err, "truncated", "page size %d", ps)
		}
	}
}
