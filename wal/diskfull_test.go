package wal

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/store"
)

// mountTmpfs mounts a tmpfs of size on a fresh directory and unmounts it
// in Cleanup; it skips the test when that is not possible.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full test needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("disk-full test: mount tmpfs failed: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file until the filesystem is full and returns its path.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	require.NoError(t, f.Sync())
	fi, err := f.Stat()
	require.NoError(t, err)
	require.NoError(t, f.Truncate(max(0, fi.Size()-leave)))
	return path
}

// A full disk fails appends with store.ErrNoSpace and harms nothing
// acknowledged; once space is freed appends work again, and the file
// reopens with everything.
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "8m")
	path := filepath.Join(dir, "wal.db")
	l, err := Open(path, nil)
	require.NoError(t, err)
	defer l.Close()
	s := mustStream(t, l, "s")
	filler := fill(t, dir, 512<<10)

	payload := make([]byte, 1000)
	acked := map[uint64]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var fullErrs, otherErrs int
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				var err error
				if i%3 == 0 {
					var first uint64
					entries := []Entry{{Payload: payload}, {Payload: payload}, {Payload: payload}}
					first, err = s.AppendMany(entries)
					if err == nil {
						mu.Lock()
						acked[first], acked[first+1], acked[first+2] = true, true, true
						mu.Unlock()
					}
				} else {
					var a Appended
					a, err = s.Append("", payload)
					if err == nil {
						mu.Lock()
						acked[a.Seq] = true
						mu.Unlock()
					}
				}
				if err != nil {
					mu.Lock()
					if errors.Is(err, store.ErrNoSpace) {
						fullErrs++
					} else {
						otherErrs++
						t.Errorf("producer %d: %v", g, err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, 8, fullErrs, "every producer ends with ErrNoSpace")
	require.Zero(t, otherErrs)
	t.Logf("%d events acknowledged before the disk filled", len(acked))
	require.NotEmpty(t, acked)

	// More attempts do not hurt. One may succeed: the failed transaction's
	// rollback lets bbolt reuse pages freed by earlier commits.
	for range 5 {
		a, err := s.Append("", payload)
		if err == nil {
			acked[a.Seq] = true
			continue
		}
		require.ErrorIs(t, err, store.ErrNoSpace)
	}
	st := s.Stats()
	require.Equal(t, int64(len(acked)), st.PendingEvents, "counters count only what was committed")

	readAll := func(s *Stream) map[uint64]bool {
		have := map[uint64]bool{}
		require.NoError(t, s.ForEachEvent(0, 0, func(r Record, err error) error {
			require.NoError(t, err)
			have[r.Seq] = true
			return nil
		}))
		return have
	}
	have := readAll(s)
	for q := range acked {
		require.True(t, have[q], "acknowledged seq %d unreadable after ENOSPC", q)
	}
	require.Len(t, have, len(acked), "nothing unacknowledged was committed")
	require.NoError(t, checkLog(l))

	// Free the space: appends and transitions work again.
	require.NoError(t, os.Remove(filler))
	a, err := s.Append("", payload)
	require.NoError(t, err)
	acked[a.Seq] = true
	res, err := s.Seal(SealOptions{MaxEvents: 10, Force: true})
	require.NoError(t, err)
	require.NoError(t, s.Complete(res.Batch.Seq))
	for _, r := range res.Records {
		delete(acked, r.Seq)
	}
	require.NoError(t, checkLog(l))
	require.NoError(t, l.Close())

	l2, err := Open(path, nil)
	require.NoError(t, err)
	defer l2.Close()
	require.NoError(t, checkLog(l2))
	s2 := mustStream(t, l2, "s")
	have = readAll(s2)
	require.Len(t, have, len(acked))
	for q := range acked {
		require.True(t, have[q], "seq %d missing after reopen", q)
	}
	_, err = s2.Append("", payload)
	require.NoError(t, err)
}

// Transitions that hit a full disk fail with ErrNoSpace, leave the batch
// as it was, and succeed once space is freed.
func TestDiskFullTransitions(t *testing.T) {
	dir := mountTmpfs(t, "8m")
	path := filepath.Join(dir, "wal.db")
	l, err := Open(path, nil)
	require.NoError(t, err)
	defer l.Close()
	s := mustStream(t, l, "s")
	payload := make([]byte, 3000)
	for range 600 {
		_, err := s.Append("", payload)
		require.NoError(t, err)
	}
	b := sealOne(t, s, 600)
	filler := fill(t, dir, 0)
	// Dead-lettering copies every record to the dead bucket: new pages.
	for range 3 {
		require.ErrorIs(t, s.DeadLetter(b.Seq, "x", true), store.ErrNoSpace)
		got, err := s.InFlight(b.Seq)
		require.NoError(t, err, "a failed transition leaves the batch in flight")
		require.Equal(t, *b, *got)
		require.Equal(t, statsOf{InFlightBatches: 1, InFlight: 600, InFlightBytes: 600 * 3000}, statsNow(s))
	}
	require.NoError(t, checkLog(l))
	require.NoError(t, os.Remove(filler))
	bs, err := s.Batches()
	require.NoError(t, err)
	require.Len(t, bs, 1)
	require.NoError(t, s.DeadLetter(b.Seq, "x", true))
	require.Equal(t, statsOf{Dead: 600, DeadBytes: 600 * 3000}, statsNow(s))
	require.Len(t, deadLetters(t, s), 600)
	for _, d := range deadLetters(t, s) {
		require.Equal(t, 1, d.Attempts, "the failed attempts did not count")
	}
	require.NoError(t, checkLog(l))
	require.NoError(t, l.Close())
	l2, err := Open(path, nil)
	require.NoError(t, err)
	defer l2.Close()
	require.NoError(t, checkLog(l2))
}
