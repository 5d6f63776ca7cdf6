package main

import (
	"crypto/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/boltfile"
	"github.com/walbatch/walbatch/internal/boltfile/boltfiletest"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// everyCommand is each command that takes a FILE, with what it needs
// besides FILE.
var everyCommand = [][]string{
	{"stats"}, {"ls"}, {"dump"}, {"batches"}, {"dead"}, {"verify"}, {"repair"},
	{"requeue", "--all"}, {"compact"}, {"purge", "--stream", "orders", "--state", "dead", "--yes"},
}

func withFile(args []string, path string) []string {
	return append([]string{args[0], path}, args[1:]...)
}

// A FIFO, a character device and a directory are refused by every command
// with exit 5 and a message saying what they are, without blocking; a file
// of random bytes and an empty bbolt file are not WALs either (exit 5), and
// no command changes them.
func TestNotWALFilesEveryCommand(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	random := filepath.Join(dir, "random.wal")
	b := make([]byte, 4096)
	_, _ = rand.Read(b)
	require.NoError(t, os.WriteFile(random, b, 0o600))
	emptyBolt := filepath.Join(dir, "empty.db")
	db, err := bolt.Open(emptyBolt, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	cases := []struct{ path, msg string }{
		{fifo, "named pipe"}, {"/dev/null", "character device"}, {"/dev/zero", "character device"},
		{dir, "directory"}, {random, "not a walbatch WAL"}, {emptyBolt, "not a walbatch WAL"},
	}
	for _, c := range cases {
		if _, err := os.Stat(c.path); err != nil {
			continue
		}
		var before string
		if fi, _ := os.Stat(c.path); fi.Mode().IsRegular() {
			before = hashFile(t, c.path)
		}
		cmds := append(everyCommand, []string{"compact", "--output", filepath.Join(t.TempDir(), "out.wal")})
		for _, args := range cmds {
			args := withFile(args, c.path)
			r := walctl(t, args...)
			require.Equal(t, exitNotWAL, r.code, "%v: %s", args, r.stderr)
			requireOneLineError(t, r, c.msg)
			if before != "" {
				require.Equal(t, before, hashFile(t, c.path), "%v changed the file", args)
			}
		}
		if !strings.HasPrefix(c.path, "/dev/") {
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, 3, "no command leaves a file behind")
		}
	}
}

// Every command follows a symbolic link to the WAL: the read commands
// read it, the commands that change a file change the target, and the
// link is kept.
func TestSymlinkEveryCommand(t *testing.T) {
	f := buildWAL(t)
	link := filepath.Join(t.TempDir(), "link.wal")
	require.NoError(t, os.Symlink(f.path, link))
	boltfiletest.FlipNewestMeta(t, f.path, boltfile.PageHeaderSize+16) // its root: repair rebuilds the file
	for _, args := range everyCommand {
		args := withFile(args, link)
		r := walctl(t, args...)
		if args[0] == "verify" && r.code == exitProblems {
			continue // before repair
		}
		require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
		fi, err := os.Lstat(link)
		require.NoError(t, err)
		require.NotZero(t, fi.Mode()&os.ModeSymlink, "%v replaced the link", args)
	}
	// repair fixed the target, not a copy in the link's place.
	require.Equal(t, 0, walctl(t, "verify", f.path).code)
	backups, err := filepath.Glob(f.path + ".broken-*")
	require.NoError(t, err)
	require.Len(t, backups, 1, "the backup is next to the target")

	dangling := filepath.Join(t.TempDir(), "dangling.wal")
	nowhere := filepath.Join(t.TempDir(), "nowhere.wal")
	require.NoError(t, os.Symlink(nowhere, dangling))
	r := walctl(t, "compact", f.path, "--output", dangling)
	require.Equal(t, exitError, r.code, r.stderr)
	requireOneLineError(t, r, "already exists")
	r = walctl(t, "stats", dangling)
	require.Equal(t, exitNotFound, r.code, r.stderr)
	requireOneLineError(t, r, "symbolic link to "+nowhere)
	_, err = os.Lstat(nowhere)
	require.ErrorIs(t, err, os.ErrNotExist, "nothing created at a dangling link's target")
}

func TestCompactOutputArguments(t *testing.T) {
	f := buildWAL(t)
	before := hashFile(t, f.path)
	r := walctl(t, "compact", f.path, "--output", "")
	require.Equal(t, exitUsage, r.code, r.stderr)
	requireOneLineError(t, r, "--output needs a file name")
	require.Equal(t, before, hashFile(t, f.path))

	missing := filepath.Join(t.TempDir(), "no-such-dir")
	r = walctl(t, "compact", f.path, "--output", filepath.Join(missing, "out.wal"))
	require.Equal(t, exitError, r.code, r.stderr)
	requireOneLineError(t, r, "directory "+missing+" does not exist")
}

// A flipped bit in the newest meta page's checksum: stats shows it, verify
// fails with exit 3, and repair restores the newest commit.
func TestDamagedMetaPageReported(t *testing.T) {
	f := buildWAL(t)
	boltfiletest.FlipNewestMeta(t, f.path, boltfile.PageHeaderSize+56)
	before := hashFile(t, f.path)

	r := walctl(t, "stats", f.path)
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `PROBLEM +meta page [01] invalid \(checksum mismatch.*\); the file is at transaction \d+: `, r.stdout)
	r = walctl(t, "stats", f.path, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"problems": [`)

	r = walctl(t, "verify", f.path)
	require.Equal(t, exitProblems, r.code, r.stderr)
	require.Contains(t, r.stdout, "meta page")
	require.Equal(t, before, hashFile(t, f.path), "read commands change nothing")

	r = walctl(t, "repair", f.path)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "restored transaction")
	require.Equal(t, 0, walctl(t, "verify", f.path).code)
	r = walctl(t, "stats", f.path)
	require.NotContains(t, r.stdout, "PROBLEM")
}

// With the newest meta page's fields damaged, the commands that change the
// file refuse it as damaged (their commit would overwrite the page that
// repair must see) and leave it as it was.
func TestDamagedMetaPageRefusedByWriters(t *testing.T) {
	f := buildWAL(t)
	boltfiletest.FlipNewestMeta(t, f.path, boltfile.PageHeaderSize+16)
	before := hashFile(t, f.path)
	for _, args := range [][]string{
		{"requeue", "--all"}, {"compact"}, {"compact", "--output", filepath.Join(t.TempDir(), "out.wal")},
		{"purge", "--stream", "orders", "--state", "dead", "--yes"},
	} {
		args := withFile(args, f.path)
		r := walctl(t, args...)
		require.Equal(t, exitCorrupt, r.code, "%v: %s", args, r.stderr)
		requireOneLineError(t, r, "meta page")
		require.Equal(t, before, hashFile(t, f.path), "%v changed the file", args)
	}
}

// snapshot -o follows a symbolic link as every command does: with --force
// the link's target is replaced and the link kept; a link to nothing and
// what is not a regular file are refused, and nothing is created.
func TestSnapshotOutputLink(t *testing.T) {
	f := buildWAL(t)
	l, err := wal.Open(f.path, nil)
	require.NoError(t, err)
	defer l.Close()
	srv := httptest.NewServer(store.Handler(l.Store(), nil))
	defer srv.Close()

	dir := t.TempDir()
	target := filepath.Join(dir, "copy.wal")
	require.NoError(t, os.WriteFile(target, []byte("old"), 0o600))
	link := filepath.Join(t.TempDir(), "link.wal")
	require.NoError(t, os.Symlink(target, link))
	r := walctl(t, "snapshot", srv.URL, "-o", link)
	require.Equal(t, exitError, r.code, r.stderr)
	requireOneLineError(t, r, "already exists")
	r = walctl(t, "snapshot", srv.URL, "-o", link, "--force")
	require.Equal(t, 0, r.code, r.stderr)
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&os.ModeSymlink, "the link is kept")
	require.Equal(t, 0, walctl(t, "verify", target).code, "the target is the snapshot")

	nowhere := filepath.Join(dir, "nowhere.wal")
	dangling := filepath.Join(dir, "dangling.wal")
	require.NoError(t, os.Symlink(nowhere, dangling))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	for _, out := range []string{dangling, fifo} {
		r = walctl(t, "snapshot", srv.URL, "-o", out, "--force")
		require.NotEqual(t, 0, r.code, r.stderr)
		requireOneLineError(t, r, out)
	}
	_, err = os.Lstat(nowhere)
	require.ErrorIs(t, err, os.ErrNotExist)
	fi, err = os.Lstat(fifo)
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&os.ModeNamedPipe, "the FIFO is left as it was")
}
