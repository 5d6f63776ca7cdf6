package powercut

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStrictDirsModel changes names in the backing directory as the mount
// would, with a directory fsync in the middle, and checks that a cut gives
// back exactly the names (and inodes) of that fsync. No FUSE needed.
func TestStrictDirsModel(t *testing.T) {
	dir := t.TempDir()
	backing := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(filepath.Join(backing, "sub"), 0o700))
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(backing, name), []byte(content), 0o600))
	}
	write("a", "a0")
	write("b", "b0")
	write("sub/s", "s0")

	f, err := New(backing, &Options{StrictDirs: true})
	require.NoError(t, err)

	// Before the directory fsync: an unlink, a rename, a create.
	require.NoError(t, os.Remove(filepath.Join(backing, "b")))
	require.NoError(t, os.Rename(filepath.Join(backing, "a"), filepath.Join(backing, "a1")))
	write("c", "c0")
	require.NoError(t, f.syncDir(""))
	// After it, none durable: a compaction-like replace, an unlink, a
	// create, and a change in a directory that was never synced.
	write("tmp", "new")
	require.NoError(t, os.Rename(filepath.Join(backing, "tmp"), filepath.Join(backing, "a1")))
	require.NoError(t, os.Remove(filepath.Join(backing, "c")))
	write("d", "d0")
	require.NoError(t, os.Remove(filepath.Join(backing, "sub/s")))
	write("sub/t", "t0")
	require.NoError(t, os.Mkdir(filepath.Join(backing, "newdir"), 0o700))
	write("newdir/x", "x0")

	rep, err := f.Cut(nil)
	require.NoError(t, err)
	t.Logf("%s", rep)

	got := map[string]string{}
	require.NoError(t, filepath.WalkDir(backing, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(backing, p)
		got[rel] = string(b)
		return err
	}))
	require.Equal(t, map[string]string{"a1": "a0", "c": "c0", "sub/s": "s0"}, got)
	removed := append([]string(nil), rep.Removed...)
	sort.Strings(removed)
	require.Equal(t, []string{"a1", "d", "newdir/x", "sub/t"}, removed)
	_, err = os.Stat(backing + ".stash")
	require.True(t, os.IsNotExist(err), "the stash is removed after the cut")
}
