package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format/formattest"
	"github.com/walbatch/walbatch/wal"
)

// requireOneLineError checks that stderr is one "walctl: ..." line.
func requireOneLineError(t *testing.T, r result, contains ...string) {
	t.Helper()
	require.True(t, strings.HasPrefix(r.stderr, "walctl: "), "stderr: %q", r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), "stderr: %q", r.stderr)
	for _, c := range contains {
		require.Contains(t, r.stderr, c)
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := buildWAL(t).path

	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte(strings.Repeat("not a wal\n", 2000)), 0o644))

	plainBolt := filepath.Join(dir, "plain.db")
	db, err := bolt.Open(plainBolt, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err }))
	require.NoError(t, db.Close())

	newer := copyFile(t, good, filepath.Join(dir, "newer.wal"))
	db, err = bolt.Open(newer, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("walbatch")).Put([]byte("version"), binary.BigEndian.AppendUint64(nil, 99))
	}))
	require.NoError(t, db.Close())

	truncated := copyFile(t, good, filepath.Join(dir, "truncated.wal"))
	fi, err := os.Stat(truncated)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(truncated, fi.Size()/2))

	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	random := filepath.Join(dir, "random.wal")
	require.NoError(t, os.WriteFile(random, bytes.Repeat([]byte{0x5a, 0xc3, 0x11, 0xfe}, 1024), 0o600))
	emptyBolt := filepath.Join(dir, "empty.db")
	db, err = bolt.Open(emptyBolt, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	out := filepath.Join(t.TempDir(), "out.wal")

	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"fifo", []string{"stats", fifo}, exitNotWAL, "named pipe"},
		{"fifo requeue", []string{"requeue", fifo, "--all"}, exitNotWAL, "named pipe"},
		{"dev null", []string{"dump", "/dev/null"}, exitNotWAL, "character device"},
		{"dev zero compact", []string{"compact", "/dev/zero"}, exitNotWAL, "character device"},
		{"4096 bytes", []string{"stats", random}, exitNotWAL, "not a walbatch WAL"},
		{"empty bolt requeue", []string{"requeue", emptyBolt, "--all"}, exitNotWAL, "not a walbatch WAL"},
		{"empty bolt compact", []string{"compact", emptyBolt}, exitNotWAL, "not a walbatch WAL"},
		{"empty bolt compact output", []string{"compact", emptyBolt, "--output", out}, exitNotWAL, "not a walbatch WAL"},
		{"empty bolt purge", []string{"purge", emptyBolt, "--stream", "orders", "--state", "dead", "--yes"}, exitNotWAL, "not a walbatch WAL"},
		{"compact output empty", []string{"compact", good, "--output", ""}, exitUsage, "--output needs a file name"},
		{"missing", []string{"stats", filepath.Join(dir, "nope.wal")}, exitNotFound, "no such file"},
		{"missing compact", []string{"compact", filepath.Join(dir, "nope.wal")}, exitNotFound, "no such file"},
		{"missing requeue", []string{"requeue", filepath.Join(dir, "nope.wal"), "--all"}, exitNotFound, "no such file"},
		{"directory", []string{"ls", dir}, exitNotWAL, "directory"},
		{"text file", []string{"stats", text}, exitNotWAL, "not a walbatch WAL"},
		{"bolt without meta", []string{"dump", plainBolt}, exitNotWAL, "not a walbatch WAL"},
		{"newer version", []string{"stats", newer}, exitVersion, "newer walbatch format"},
		{"truncated", []string{"stats", truncated}, exitCorrupt, "damaged"},
		{"truncated requeue", []string{"requeue", truncated, "--all"}, exitCorrupt, "damaged"},
		{"no command", []string{}, exitUsage, ""},
		{"unknown command", []string{"frobnicate", good}, exitUsage, "unknown command"},
		{"unknown flag", []string{"stats", good, "--frob"}, exitUsage, "unknown flag"},
		{"no file", []string{"stats"}, exitUsage, "takes FILE"},
		{"bad format", []string{"stats", good, "-o", "yaml"}, exitUsage, "table or json"},
		{"bad state", []string{"ls", good, "--state", "gone"}, exitUsage, "--state"},
		{"bad encoding", []string{"dump", good, "--raw", "--encoding", "b32"}, exitUsage, "--encoding"},
		{"requeue nothing", []string{"requeue", good}, exitUsage, "--all"},
		{"requeue bad id", []string{"requeue", good, "xyz"}, exitUsage, "not an event ID"},
		{"purge without yes", []string{"purge", good, "--stream", "orders", "--state", "dead"}, exitUsage, "without --yes"},
		{"purge pending", []string{"purge", good, "--stream", "orders", "--state", "pending", "--yes"}, exitUsage, "--state dead"},
		{"snapshot without -o", []string{"snapshot", "http://127.0.0.1:1/"}, exitUsage, "-o FILE"},
		{"unknown stream", []string{"stats", good, "--stream", "nope"}, exitError, "no stream"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := walctl(t, c.args...)
			require.Equal(t, c.code, r.code, "stderr: %s", r.stderr)
			if c.msg != "" {
				requireOneLineError(t, r, c.msg)
			}
		})
	}
}

func TestNoCommandPrintsHelp(t *testing.T) {
	r := walctl(t)
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "Usage:")
	require.Empty(t, r.stdout)
}

func TestHelpHasExamples(t *testing.T) {
	r := walctl(t, "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "Examples:")
	e := &env{now: time.Now}
	for _, newCmd := range commands {
		c := newCmd(e)
		if c.Hidden {
			continue
		}
		r := walctl(t, c.Name(), "--help")
		require.Equal(t, 0, r.code, c.Name())
		require.Contains(t, r.stdout, "Examples:", c.Name())
		require.Contains(t, r.stdout, "walctl "+c.Name(), c.Name())
	}
}

func TestLockedFile(t *testing.T) {
	f := buildWAL(t)
	l, err := wal.Open(f.path, nil) // held read-write, as a running process would
	require.NoError(t, err)
	defer l.Close()
	cmds := [][]string{
		{"stats", f.path}, {"ls", f.path}, {"dump", f.path}, {"batches", f.path}, {"dead", f.path},
		{"verify", f.path}, {"requeue", f.path, "--all"}, {"compact", f.path},
		{"purge", f.path, "--stream", "orders", "--state", "dead", "--yes"},
	}
	t.Run("each command", func(t *testing.T) {
		for _, args := range cmds {
			t.Run(args[0], func(t *testing.T) {
				t.Parallel()
				// How soon the refusal comes is the store's lock timeout
				// (1 s by default), not measured here: the machines are
				// shared and a wall-clock bound is noise.
				r := walctl(t, args...)
				require.Equal(t, exitLocked, r.code, "%v: %s", args, r.stderr)
				requireOneLineError(t, r, "in use", "snapshot")
			})
		}
	})
}

func TestVerifyFindsProblems(t *testing.T) {
	f := buildWAL(t)
	db, err := bolt.Open(f.path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		s, err := formattest.Open(tx, "orders")
		if err != nil {
			return err
		}
		return s.FlipChecksum(6)
	}))
	require.NoError(t, db.Close())
	before := hashFile(t, f.path)
	r := walctl(t, "verify", f.path)
	require.Equal(t, exitProblems, r.code, r.stderr)
	require.Contains(t, r.stdout, "checksum")
	requireOneLineError(t, r, "verify found")
	require.Equal(t, before, hashFile(t, f.path))

	// The other read commands show the damaged record and go on.
	r = walctl(t, "dump", f.path, "--stream", "orders")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"seq":6,"state":"pending","key":"","size":0,"error":`)
	require.Contains(t, r.stdout, `"seq":7,`)
}

func copyFile(t *testing.T, src, dst string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, 0o600))
	return dst
}
