package store

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// noHang runs fn and fails the test if it has not returned after a minute
// (a hang, not a slow machine); unblock then makes fn return, so that no
// goroutine is left behind.
func noHang(t *testing.T, what string, unblock func(), fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		unblock()
		<-done
		t.Fatalf("%s blocked", what)
		return nil
	}
}

// A FIFO, a device and a directory are refused with ErrNotRegular (which
// is ErrNotWAL) by every way in, without blocking and without creating or
// changing anything.
func TestNotRegularFilesRefusedWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	unblock := func() {
		// A writer opening the FIFO releases a reader blocked opening it.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
	}
	link := filepath.Join(dir, "link-to-fifo")
	require.NoError(t, os.Symlink(fifo, link))
	paths := []string{fifo, link, dir}
	for _, dev := range []string{"/dev/null", "/dev/zero"} {
		if _, err := os.Stat(dev); err == nil {
			paths = append(paths, dev)
		}
	}
	for _, path := range paths {
		for _, ro := range []bool{false, true} {
			err := noHang(t, "Open "+path, unblock, func() error {
				db, err := Open(path, &Options{ReadOnly: ro, LockTimeout: 100 * time.Millisecond})
				if err == nil {
					_ = db.Close()
				}
				return err
			})
			require.ErrorIs(t, err, ErrNotRegular, "%s read-only %v", path, ro)
			require.ErrorIs(t, err, ErrNotWAL)
			require.ErrorContains(t, err, path)
		}
		out := filepath.Join(t.TempDir(), "out.wal")
		for _, dst := range []string{"", out} {
			err := noHang(t, "CompactFile "+path, unblock, func() error {
				_, err := CompactFile(path, dst, &Options{LockTimeout: 100 * time.Millisecond})
				return err
			})
			require.ErrorIs(t, err, ErrNotRegular, "compact %s to %q", path, dst)
		}
		_, err := os.Lstat(out)
		require.ErrorIs(t, err, os.ErrNotExist)
	}
	fi, err := os.Lstat(fifo)
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&os.ModeNamedPipe, "the FIFO is left as it was")
}

// A descriptor that turns out not to be a regular file is refused, so a
// name swapped for a FIFO after it was looked at is refused too.
func TestOpenRegularChecksTheDescriptor(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	for _, flag := range []int{os.O_RDONLY, os.O_RDWR | os.O_CREATE} {
		_, err := openRegular(fifo, flag, 0o600)
		require.ErrorIs(t, err, ErrNotRegular)
	}
	require.ErrorIs(t, precheck(fifo), ErrNotRegular)
}

// Short files and files of random bytes are not WALs (ErrNotWAL), for
// readers and writers alike, and are left unchanged; a WAL cut short to
// its first page still has bbolt's marks and is damaged (ErrCorrupt).
func TestShortAndForeignFilesAreNotWAL(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{1, 100, 4095, 4096, 8192, 20000} {
		path := filepath.Join(dir, "random")
		b := make([]byte, n)
		_, _ = rand.Read(b)
		require.NoError(t, os.WriteFile(path, b, 0o600))
		for _, ro := range []bool{false, true} {
			_, err := Open(path, &Options{ReadOnly: ro})
			require.ErrorIs(t, err, ErrNotWAL, "%d random bytes, read-only %v", n, ro)
			require.NotErrorIs(t, err, ErrNotRegular)
		}
		_, err := CompactFile(path, "", nil)
		require.ErrorIs(t, err, ErrNotWAL, "%d random bytes, compacted", n)
		after, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, b, after, "%d random bytes changed", n)
	}

	wal := makeWAL(t, 100, 100)
	require.NoError(t, os.Truncate(wal, 4096))
	for _, ro := range []bool{false, true} {
		_, err := Open(wal, &Options{ReadOnly: ro})
		require.ErrorIs(t, err, ErrCorrupt, "a WAL cut to one page, read-only %v", ro)
	}
}

// emptyBolt creates a valid bbolt file with no bucket at all.
func emptyBolt(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "empty.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Close())
	return path
}

// Only a missing or zero-length file becomes a WAL: an empty bbolt file
// (valid, no buckets) is refused with ErrNotWAL by readers, writers and
// compaction alike, and left byte-for-byte as it was.
func TestEmptyBoltFileIsNotWAL(t *testing.T) {
	path := emptyBolt(t)
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "out.wal")
	for _, ro := range []bool{false, true} {
		_, err := Open(path, &Options{ReadOnly: ro})
		require.ErrorIs(t, err, ErrNotWAL, "read-only %v", ro)
	}
	for _, dst := range []string{"", out} {
		_, err := CompactFile(path, dst, nil)
		require.ErrorIs(t, err, ErrNotWAL, "compact to %q", dst)
	}
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after)
	_, err = os.Stat(out)
	require.ErrorIs(t, err, os.ErrNotExist, "no output for a file that is not a WAL")

	zeroLength := filepath.Join(t.TempDir(), "zero.wal")
	require.NoError(t, os.WriteFile(zeroLength, nil, 0o600))
	require.NoError(t, os.Chmod(zeroLength, 0o640))
	db := mustOpen(t, zeroLength, nil)
	require.Equal(t, FormatVersion, db.Info().Version, "a zero-length file becomes a WAL")
	fi, err := os.Stat(zeroLength)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "it keeps its mode")
}

// A symbolic link is followed by every way in: opened, compacted in place
// (the target is replaced, the link kept) and compacted to another file.
// A link that leads nowhere is never written through.
func TestSymlinksAreFollowed(t *testing.T) {
	target := makeWAL(t, 2000, 200)
	db := mustOpen(t, target, nil)
	require.NoError(t, db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(testBucket)
		for i := 0; i < 1500; i++ {
			if err := b.Delete(key(i)); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())
	want := contentsAt(t, target)
	dir := t.TempDir()
	link := filepath.Join(dir, "link.wal")
	require.NoError(t, os.Symlink(target, link))

	db = mustOpen(t, link, &Options{AutoCompactRatio: -1})
	require.Equal(t, link, db.Path())
	require.NoError(t, db.Close())

	res, err := CompactFile(link, "", nil)
	require.NoError(t, err)
	require.Less(t, res.AfterBytes, res.BeforeBytes)
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&os.ModeSymlink, "the link is kept")
	tfi, err := os.Stat(target)
	require.NoError(t, err)
	require.Equal(t, res.AfterBytes, tfi.Size(), "the target is the compacted file")
	require.Equal(t, want, contentsAt(t, target))
	_, err = os.Stat(compactTmp(link))
	require.ErrorIs(t, err, os.ErrNotExist, "no copy next to the link")

	nowhere := filepath.Join(dir, "nowhere.wal")
	dangling := filepath.Join(dir, "dangling.wal")
	require.NoError(t, os.Symlink(nowhere, dangling))
	_, err = CompactFile(link, dangling, nil)
	require.ErrorContains(t, err, "already exists")
	_, err = Open(dangling, nil)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, nowhere)
	_, err = os.Lstat(nowhere)
	require.ErrorIs(t, err, os.ErrNotExist, "nothing is created through a dangling link")
}

// compact with an output elsewhere checks the output's directory and
// opens the source read-only: it works on a read-only filesystem.
func TestCompactToAnotherFile(t *testing.T) {
	src := makeWAL(t, 500, 100)
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	_, err := CompactFile(src, filepath.Join(missing, "out.wal"), nil)
	require.ErrorContains(t, err, "directory "+missing+" does not exist")

	ro := smallTmpfs(t)
	path := filepath.Join(ro, "events.wal")
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
	if out, err := exec.Command("mount", "-o", "remount,ro", ro).CombinedOutput(); err != nil {
		t.Skipf("remount read-only failed: %v: %s", err, out)
	}
	out := filepath.Join(t.TempDir(), "out.wal")
	_, err = CompactFile(path, out, nil)
	require.NoError(t, err)
	require.Equal(t, contentsAt(t, src), contentsAt(t, out))
	_, err = CompactFile(path, "", nil)
	require.Error(t, err, "in place needs a writable filesystem")
}
