package recovery

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/racecheck"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// bigWAL is buildWAL with enough events that the events bucket spans many
// pages (branch pages included).
func bigWAL(t *testing.T) string {
	path := buildWAL(t)
	l, err := wal.Open(path, &wal.Options{Sync: wal.SyncNone})
	require.NoError(t, err)
	s, err := l.Stream("a")
	require.NoError(t, err)
	entries := make([]wal.Entry, 3000)
	for i := range entries {
		entries[i] = wal.Entry{Payload: []byte("payload payload payload payload")}
	}
	_, err = s.AppendMany(entries)
	require.NoError(t, err)
	res, err := s.Seal(wal.SealOptions{MaxEvents: 500})
	require.NoError(t, err)
	require.NotNil(t, res.Batch)
	require.NoError(t, l.Close())
	mustVerify(t, path)
	return path
}

// openAll opens path every way a user can and returns the errors; a panic
// fails the test.
func openAll(t *testing.T, path string) (r *Report, storeErr, walErr, verifyErr error) {
	t.Helper()
	db, err := store.Open(path, &store.Options{ReadOnly: true, AutoCompactRatio: -1})
	if err == nil {
		db.Close()
	}
	storeErr = err
	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	if err == nil {
		l.Close()
	}
	walErr = err
	r, verifyErr = Verify(path, nil)
	return
}

// known reports whether err is one of the sentinels a damaged file may get.
func known(err error) bool {
	return errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrNotWAL) || errors.Is(err, store.ErrVersion)
}

func TestTruncatedFile(t *testing.T) {
	path := bigWAL(t)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, fi.Size()/2))
	_, se, we, ve := openAll(t, path)
	require.ErrorIs(t, se, store.ErrCorrupt)
	require.ErrorIs(t, we, store.ErrCorrupt)
	require.ErrorIs(t, ve, store.ErrCorrupt)

	rep, err := Repair(path, nil)
	require.NoError(t, err)
	t.Log(rep)
	require.True(t, rep.Rebuilt)
	require.FileExists(t, rep.Backup)
	require.True(t, rep.After.OK(), "%s", rep.After)
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

func TestZeroedPages(t *testing.T) {
	path := bigWAL(t)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	fi, _ := f.Stat()
	zero := make([]byte, 4096)
	// Eight pages in the middle of the file, where the events are.
	for page := fi.Size()/4096/2 - 4; page < fi.Size()/4096/2+4; page++ {
		_, err := f.WriteAt(zero, page*4096)
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
	r, se, we, ve := openAll(t, path)
	t.Logf("store: %v; wal: %v; verify: %v", se, we, ve)
	for _, err := range []error{se, we, ve} {
		require.True(t, err == nil || known(err), "%v", err)
	}
	if ve == nil {
		require.False(t, r.OK())
		require.True(t, r.Has(KindFile), "%s", r)
		t.Log(r)
	}
	rep, err := Repair(path, nil)
	if errors.Is(err, ErrUnrepairable) {
		t.Log(err)
		return
	}
	require.NoError(t, err)
	t.Log(rep)
	require.True(t, rep.After.OK(), "%s", rep.After)
}

func TestRandomByteFlips(t *testing.T) {
	racecheck.SkipDamagedPages(t)
	clean := bigWAL(t)
	data, err := os.ReadFile(clean)
	require.NoError(t, err)
	seed := uint64(time.Now().UnixNano())
	if env := os.Getenv("RECOVERY_SEED"); env != "" {
		seed, err = strconv.ParseUint(env, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	dir := t.TempDir()
	outcomes := map[string]int{}
	for i := 0; i < rounds; i++ {
		path := filepath.Join(dir, "f.db")
		bad := append([]byte(nil), data...)
		for n := 1 + rng.IntN(8); n > 0; n-- {
			bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
		}
		require.NoError(t, os.WriteFile(path, bad, 0o600))
		r, se, we, ve := openAll(t, path)
		for _, err := range []error{se, we, ve} {
			require.True(t, err == nil || known(err), "round %d: %v", i, err)
		}
		switch {
		case ve != nil:
			outcomes["verify error"]++
		case r.OK():
			outcomes["ok"]++
		default:
			outcomes["problems"]++
		}
		if ve == nil && !r.OK() && i%5 == 0 {
			rep, err := Repair(path, nil)
			if err == nil {
				for _, p := range rep.After.Problems {
					// Completion records are audit only: Repair leaves one
					// it cannot read, and says so.
					require.Equal(t, KindDone, p.Kind, "round %d: %s\n%s", i, rep, rep.After)
					require.NotEmpty(t, rep.Unrepaired)
				}
				outcomes["repaired"]++
			} else {
				require.True(t, errors.Is(err, ErrUnrepairable) || known(err), "round %d: %v", i, err)
			}
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, m := range matches {
			require.NoError(t, os.Remove(m))
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

func TestForeignFiles(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("things"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}))
	require.NoError(t, db.Close())

	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte("just some text, not a database at all\n"), 0o600))
	random := filepath.Join(dir, "random.bin")
	buf := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	require.NoError(t, os.WriteFile(random, buf, 0o600))

	for _, path := range []string{foreign, text, random} {
		before, _ := os.ReadFile(path)
		_, se, we, ve := openAll(t, path)
		require.ErrorIs(t, se, store.ErrNotWAL, path)
		require.ErrorIs(t, we, store.ErrNotWAL, path)
		require.ErrorIs(t, ve, store.ErrNotWAL, path)
		_, err := Repair(path, nil)
		require.ErrorIs(t, err, store.ErrNotWAL, path)
		after, _ := os.ReadFile(path)
		require.Equal(t, before, after, "left untouched")
	}
	entries, _ := os.ReadDir(dir)
	require.Len(t, entries, 3, "no backup made")
}

func TestNewerFormatVersion(t *testing.T) {
	path := buildWAL(t)
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("walbatch")).Put([]byte("version"), binary.BigEndian.AppendUint64(nil, store.FormatVersion+1))
	}))
	require.NoError(t, db.Close())
	_, se, we, ve := openAll(t, path)
	require.ErrorIs(t, se, store.ErrVersion)
	require.ErrorIs(t, we, store.ErrVersion)
	require.ErrorIs(t, ve, store.ErrVersion)
	_, err = Repair(path, nil)
	require.ErrorIs(t, err, store.ErrVersion)
}
