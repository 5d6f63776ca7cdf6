// Package boltfiletest damages bbolt files on purpose, for the tests of
// the packages that must detect it (store, recovery, processor, walctl).
package boltfiletest

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/boltfile"
)

// FlipNewestMeta flips bit 0 of the byte at off in the newest meta page of
// the file at path (the one bbolt opens at). Both meta pages must be valid
// before.
func FlipNewestMeta(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	m := boltfile.ReadMetas(f)
	require.True(t, m.Page[0].Valid && m.Page[1].Valid)
	p := m.Page[m.Current]
	b := make([]byte, 1)
	_, err = f.ReadAt(b, p.Off+off)
	require.NoError(t, err)
	b[0] ^= 1
	_, err = f.WriteAt(b, p.Off+off)
	require.NoError(t, err)
}
