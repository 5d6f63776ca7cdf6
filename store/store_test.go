package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/racecheck"
)

var testBucket = []byte("t")

func newPath(t *testing.T) string { return filepath.Join(t.TempDir(), "wal.db") }

func mustOpen(t *testing.T, path string, opts *Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// put writes keys [from, from+n) with values of size bytes, in transactions
// of at most 1000 keys.
func put(t *testing.T, db *DB, from, n, size int) {
	t.Helper()
	for done := 0; done < n; {
		chunk := min(1000, n-done)
		require.NoError(t, db.update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(testBucket)
			if err != nil {
				return err
			}
			for i := from + done; i < from+done+chunk; i++ {
				if err := b.Put(key(i), value(i, size)); err != nil {
					return err
				}
			}
			return nil
		}))
		done += chunk
	}
}

func key(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

func value(i, size int) []byte {
	v := bytes.Repeat([]byte{byte(i)}, size)
	binary.BigEndian.PutUint64(v, uint64(i))
	return v
}

// contents returns every key/value of the test bucket, as a map.
func contents(t *testing.T, db *DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(testBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	}))
	return out
}

func contentsAt(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := Open(path, &Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	return contents(t, db)
}

func TestOpenCreatesAndReopens(t *testing.T) {
	path := newPath(t)
	db, err := Open(path, nil)
	require.NoError(t, err)
	info := db.Info()
	require.Equal(t, FormatVersion, info.Version)
	require.NotEqual(t, [8]byte{}, info.FileID)
	require.WithinDuration(t, time.Now(), info.Created, time.Minute)
	require.Equal(t, path, db.Path())
	put(t, db, 0, 10, 20)
	require.NoError(t, db.Close())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	db = mustOpen(t, path, nil)
	require.Equal(t, info.FileID, db.Info().FileID, "file ID is kept")
	require.Len(t, contents(t, db), 10)
}

// holdEnv makes the test binary, re-executed, open the file named by it and
// hold it until its stdin closes.
const holdEnv = "WALBATCH_STORE_HOLD"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdEnv); path != "" {
		db, err := Open(path, nil)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("held")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
		_ = db.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A file held by another process fails with ErrLocked within the lock
// timeout, and the error names the path.
func TestErrLockedTwoProcesses(t *testing.T) {
	path := newPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "held\n", line)

	for _, ro := range []bool{false, true} {
		start := time.Now()
		_, err = Open(path, &Options{ReadOnly: ro})
		elapsed := time.Since(start)
		require.ErrorIs(t, err, ErrLocked, "read-only %v", ro)
		require.Contains(t, err.Error(), path)
		require.Less(t, elapsed, 2*time.Second)
		require.GreaterOrEqual(t, elapsed, 900*time.Millisecond, "the default timeout is waited for")
	}
	_, err = CompactFile(path, "", &Options{LockTimeout: 100 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)

	// Once the holder exits, the file opens.
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	mustOpen(t, path, nil)
}

func TestErrLockedSameProcess(t *testing.T) {
	path := newPath(t)
	mustOpen(t, path, nil)
	_, err := Open(path, &Options{LockTimeout: 50 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
}

func TestErrNotWAL(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	bdb, err := bolt.Open(foreign, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("someone-else"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}))
	require.NoError(t, bdb.Close())

	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte(strings.Repeat("not a database\n", 1000)), 0o600))
	short := filepath.Join(dir, "short.txt")
	require.NoError(t, os.WriteFile(short, []byte("hello\n"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))

	for _, tc := range []struct {
		path string
		ro   bool
	}{
		{foreign, false}, {foreign, true}, {text, false}, {text, true},
		{short, false}, {short, true}, {empty, true}, {dir, false},
	} {
		before, _ := os.ReadFile(tc.path)
		_, err := Open(tc.path, &Options{ReadOnly: tc.ro})
		require.ErrorIs(t, err, ErrNotWAL, "%s read-only %v", tc.path, tc.ro)
		require.Contains(t, err.Error(), tc.path)
		after, _ := os.ReadFile(tc.path)
		require.Equal(t, before, after, "%s must not be changed", tc.path)
	}
}

func setVersion(t *testing.T, path string, v uint64) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(metaBucket).Put(keyVersion, binary.BigEndian.AppendUint64(nil, v))
	}))
	require.NoError(t, bdb.Close())
}

func TestErrVersion(t *testing.T) {
	path := newPath(t)
	db, err := Open(path, nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	setVersion(t, path, FormatVersion+1)
	for _, ro := range []bool{false, true} {
		_, err = Open(path, &Options{ReadOnly: ro})
		require.ErrorIs(t, err, ErrVersion)
		require.Contains(t, err.Error(), path)
		require.Contains(t, err.Error(), fmt.Sprint(FormatVersion+1))
	}
	setVersion(t, path, 0)
	_, err = Open(path, nil)
	require.ErrorIs(t, err, ErrCorrupt)
	setVersion(t, path, FormatVersion)
	mustOpen(t, path, nil)
}

// makeWAL creates a WAL with n keys of size bytes, closed.
func makeWAL(t *testing.T, n, size int) string {
	t.Helper()
	path := newPath(t)
	db, err := Open(path, nil)
	require.NoError(t, err)
	put(t, db, 0, n, size)
	require.NoError(t, db.Close())
	return path
}

func zero(t *testing.T, path string, off, n int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(make([]byte, n), off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestErrCorrupt(t *testing.T) {
	t.Run("truncated", func(t *testing.T) {
		path := makeWAL(t, 2000, 100)
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(path, fi.Size()/2))
		for _, ro := range []bool{true, false} {
			_, err = Open(path, &Options{ReadOnly: ro})
			require.ErrorIs(t, err, ErrCorrupt, "read-only %v", ro)
			require.Contains(t, err.Error(), path)
		}
	})
	t.Run("both meta pages zeroed", func(t *testing.T) {
		path := makeWAL(t, 2000, 100)
		ps := int64(filePageSize(t, path))
		zero(t, path, 0, 2*ps)
		for _, ro := range []bool{true, false} {
			_, err := Open(path, &Options{ReadOnly: ro})
			require.ErrorIs(t, err, ErrCorrupt, "read-only %v", ro)
		}
	})
	t.Run("one meta page zeroed falls back to the other", func(t *testing.T) {
		path := makeWAL(t, 2000, 100)
		want := contentsAt(t, path)
		ps := int64(filePageSize(t, path))
		zero(t, path, ps, ps)
		_, err := Open(path, &Options{ReadOnly: true})
		if err == nil {
			require.Equal(t, want, contentsAt(t, path))
		} else {
			require.ErrorIs(t, err, ErrCorrupt)
		}
	})
}

// Random damage to data pages gives errors, never a panic: Open and a walk
// of every bucket either succeed or fail with ErrCorrupt.
func TestCorruptPagesNeverPanic(t *testing.T) {
	racecheck.SkipDamagedPages(t)
	seed := uint64(time.Now().UnixNano())
	if env := os.Getenv("WALBATCH_DAMAGE_SEED"); env != "" {
		v, err := strconv.ParseUint(env, 10, 64)
		require.NoError(t, err)
		seed = v
	}
	t.Logf("seed %d (WALBATCH_DAMAGE_SEED replays it)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	orig := makeWAL(t, 3000, 150)
	data, err := os.ReadFile(orig)
	require.NoError(t, err)
	ps := filePageSize(t, orig)
	pages := len(data) / ps
	corrupt := 0
	for i := range 60 {
		damaged := append([]byte(nil), data...)
		for range 1 + rng.IntN(4) {
			p := 2 + rng.IntN(pages-2)
			if rng.IntN(2) == 0 {
				clear(damaged[p*ps : p*ps+ps])
			} else {
				for j := range 16 {
					damaged[p*ps+rng.IntN(ps)] = byte(rng.Uint32() + uint32(j))
				}
			}
		}
		path := filepath.Join(t.TempDir(), fmt.Sprintf("d%d.db", i))
		require.NoError(t, os.WriteFile(path, damaged, 0o600))
		func() {
			db, err := Open(path, &Options{ReadOnly: true})
			if err != nil {
				require.ErrorIs(t, err, ErrCorrupt)
				corrupt++
				return
			}
			defer db.Close()
			err = db.view(walkAll)
			if err != nil {
				require.ErrorIs(t, err, ErrCorrupt)
				corrupt++
				require.ErrorIs(t, db.view(walkAll), ErrCorrupt, "a DB that hit a damaged page stays failed")
			}
		}()
	}
	t.Logf("%d of 60 damaged files reported ErrCorrupt", corrupt)
}

func walkAll(tx *bolt.Tx) error {
	var walk func(b *bolt.Bucket) error
	walk = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if sub := b.Bucket(k); sub != nil {
					return walk(sub)
				}
			}
			return nil
		})
	}
	return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
}

func TestReadOnlyRejectsWrites(t *testing.T) {
	path := makeWAL(t, 1, 8)
	db := mustOpen(t, path, &Options{ReadOnly: true})
	require.True(t, db.ReadOnly())
	err := db.update(func(*bolt.Tx) error { return nil })
	require.ErrorIs(t, err, ErrReadOnly)
	require.Contains(t, err.Error(), path)
}

func TestErrClosed(t *testing.T) {
	db, err := Open(newPath(t), nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.ErrorIs(t, db.view(func(*bolt.Tx) error { return nil }), ErrClosed)
	require.ErrorIs(t, db.update(func(*bolt.Tx) error { return nil }), ErrClosed)
}

// A snapshot taken while a writer commits one key per transaction holds a
// prefix of the keys with no gap (one moment), opens read-only as a WAL,
// and matches the writer's file up to that prefix.
func TestSnapshotWhileWriting(t *testing.T) {
	path := newPath(t)
	db := mustOpen(t, path, nil)
	put(t, db, 0, 500, 64)
	var written atomic.Int64
	written.Store(500)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 500; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			require.NoError(t, db.update(func(tx *bolt.Tx) error {
				return tx.Bucket(testBucket).Put(key(i), value(i, 64))
			}))
			written.Store(int64(i + 1))
		}
	})
	for i := range 3 {
		time.Sleep(20 * time.Millisecond)
		before := written.Load()
		snap := filepath.Join(t.TempDir(), fmt.Sprintf("snap%d.db", i))
		f, err := os.Create(snap)
		require.NoError(t, err)
		n, err := db.Snapshot(f)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		fi, err := os.Stat(snap)
		require.NoError(t, err)
		require.Equal(t, fi.Size(), n)

		got := contentsAt(t, snap)
		require.GreaterOrEqual(t, int64(len(got)), before)
		for k := range len(got) {
			require.Equal(t, string(value(k, 64)), got[string(key(k))], "snapshot %d lacks key %d of %d", i, k, len(got))
		}
		sdb := mustOpen(t, snap, &Options{ReadOnly: true})
		require.Equal(t, db.Info(), sdb.Info())
	}
	close(stop)
	wg.Wait()
	require.Greater(t, written.Load(), int64(500), "the writer made progress during snapshots")
}

func TestCompactFile(t *testing.T) {
	build := func(t *testing.T) (string, map[string]string) {
		path := newPath(t)
		db, err := Open(path, nil)
		require.NoError(t, err)
		put(t, db, 0, 20000, 200)
		require.NoError(t, db.update(func(tx *bolt.Tx) error {
			b := tx.Bucket(testBucket)
			for i := range 19000 {
				if err := b.Delete(key(i)); err != nil {
					return err
				}
			}
			return nil
		}))
		want := contents(t, db)
		require.Len(t, want, 1000)
		require.NoError(t, db.Close())
		return path, want
	}
	t.Run("in place", func(t *testing.T) {
		path, want := build(t)
		info := infoAt(t, path)
		res, err := CompactFile(path, "", nil)
		require.NoError(t, err)
		require.Equal(t, path, res.Path)
		require.Less(t, res.AfterBytes, res.BeforeBytes/2)
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, res.AfterBytes, fi.Size())
		require.Equal(t, want, contentsAt(t, path))
		require.Equal(t, info, infoAt(t, path), "meta (ID, version, created) kept")
		require.NoFileExists(t, path+".compact.tmp")
	})
	t.Run("to a new path", func(t *testing.T) {
		path, want := build(t)
		before, err := os.ReadFile(path)
		require.NoError(t, err)
		dst := filepath.Join(t.TempDir(), "copy.db")
		res, err := CompactFile(path, dst, nil)
		require.NoError(t, err)
		require.Equal(t, int64(len(before)), res.BeforeBytes)
		require.Less(t, res.AfterBytes, res.BeforeBytes/2)
		after, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, before, after, "source unchanged")
		require.Equal(t, want, contentsAt(t, dst))
		_, err = CompactFile(path, dst, nil)
		require.Error(t, err, "an existing output is not overwritten")
	})
}

func infoAt(t *testing.T, path string) Info {
	db, err := Open(path, &Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	return db.Info()
}

func TestAutoCompactAtOpen(t *testing.T) {
	path := newPath(t)
	db, err := Open(path, nil)
	require.NoError(t, err)
	put(t, db, 0, 10000, 200)
	require.NoError(t, db.update(func(tx *bolt.Tx) error {
		return tx.Bucket(testBucket).Delete(key(0)) // keep most in one step
	}))
	require.NoError(t, db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(testBucket)
		for i := 1; i < 9900; i++ {
			if err := b.Delete(key(i)); err != nil {
				return err
			}
		}
		return nil
	}))
	want := contents(t, db)
	require.NoError(t, db.Close())
	big, err := os.Stat(path)
	require.NoError(t, err)

	// Below the minimum size: left alone.
	db = mustOpen(t, path, &Options{AutoCompactMinSize: big.Size() + 1})
	require.NoError(t, db.Close())
	same, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, big.Size(), same.Size())

	// Turned off: left alone.
	db = mustOpen(t, path, &Options{AutoCompactMinSize: 1 << 10, AutoCompactRatio: -1})
	require.NoError(t, db.Close())

	// Read-only never compacts.
	db = mustOpen(t, path, &Options{ReadOnly: true, AutoCompactMinSize: 1 << 10})
	require.NoError(t, db.Close())
	same, err = os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, big.Size(), same.Size())

	db = mustOpen(t, path, &Options{AutoCompactMinSize: 1 << 10})
	st, err := db.FileStats()
	require.NoError(t, err)
	require.Less(t, st.FileSize, big.Size()/2)
	require.Equal(t, want, contents(t, db))
	put(t, db, 20000, 10, 10) // the compacted file takes writes
	require.NoError(t, db.Close())
	require.Len(t, contentsAt(t, path), len(want)+10)
}
