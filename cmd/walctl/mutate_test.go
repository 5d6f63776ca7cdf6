package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

func streamStats(t *testing.T, path, name string) wal.Stats {
	t.Helper()
	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err)
	defer l.Close()
	s, err := l.Stream(name)
	require.NoError(t, err)
	return s.Stats()
}

func TestRequeueAll(t *testing.T) {
	f := buildWAL(t)
	r := walctl(t, "requeue", f.path, "--all", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var rows []requeueRow
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows))
	require.Equal(t, []requeueRow{{"audit", 0, 0}, {"empty", 0, 0}, {"orders", 2, 0}}, rows)
	st := streamStats(t, f.path, "orders")
	require.Equal(t, int64(0), st.DeadEvents)
	require.Equal(t, int64(5), st.PendingEvents)

	// The requeued events keep their IDs.
	r = walctl(t, "ls", f.path, "--stream", "orders", "--state", "pending")
	require.Equal(t, 0, r.code, r.stderr)
	for _, id := range f.deadIDs {
		require.Contains(t, r.stdout, id)
	}
}

func TestRequeueByID(t *testing.T) {
	f := buildWAL(t)
	r := walctl(t, "requeue", f.path, f.deadIDs[1])
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "orders")
	st := streamStats(t, f.path, "orders")
	require.Equal(t, int64(1), st.DeadEvents)
	require.Equal(t, int64(4), st.PendingEvents)

	// An ID that is not a dead letter changes nothing, even next to one that is.
	before := hashFile(t, f.path)
	pendingID := strings.Repeat("0", 32)
	r = walctl(t, "requeue", f.path, f.deadIDs[0], pendingID)
	require.Equal(t, exitError, r.code)
	requireOneLineError(t, r, "not dead letters", pendingID, "nothing requeued")
	require.Equal(t, before, hashFile(t, f.path))
}

func TestPurge(t *testing.T) {
	f := buildWAL(t)
	before := hashFile(t, f.path)
	r := walctl(t, "purge", f.path, "--stream", "orders", "--state", "dead")
	require.Equal(t, exitUsage, r.code)
	requireOneLineError(t, r, "without --yes", "2 dead letters")
	require.Equal(t, before, hashFile(t, f.path))

	r = walctl(t, "purge", f.path, "--stream", "orders", "--state", "dead", "--yes")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "purged 2 dead letters of stream orders\n", r.stdout)
	st := streamStats(t, f.path, "orders")
	require.Equal(t, int64(0), st.DeadEvents)
	require.Equal(t, int64(3), st.PendingEvents) // pending untouched
	require.Equal(t, int64(1), st.InFlightBatches)
}

// bloated builds a WAL that is mostly free pages: many events appended,
// then completed.
func bloated(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.wal")
	l, err := wal.Open(path, &wal.Options{Sync: wal.SyncNone})
	require.NoError(t, err)
	s, err := l.Stream("bulk")
	require.NoError(t, err)
	entries := make([]wal.Entry, 2000)
	for i := range entries {
		entries[i] = wal.Entry{Payload: []byte(strings.Repeat(fmt.Sprint(i%10), 512))}
	}
	_, err = s.AppendMany(entries)
	require.NoError(t, err)
	for {
		res, err := s.Seal(wal.SealOptions{MaxEvents: 100, Force: true})
		require.NoError(t, err)
		if res.Batch == nil {
			break
		}
		require.NoError(t, s.Complete(res.Batch.Seq))
	}
	_, err = s.Append("", []byte("survivor"))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	return path
}

func TestCompactInPlace(t *testing.T) {
	path := bloated(t)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	r := walctl(t, "stats", path, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var rep statsReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Greater(t, rep.File.FreeBytes, fi.Size()/2, "stats shows the free space compaction gives back")

	r = walctl(t, "compact", path)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, fmt.Sprintf("%d bytes before", fi.Size()))
	after, err := os.Stat(path)
	require.NoError(t, err)
	require.Less(t, after.Size(), fi.Size())
	require.Contains(t, r.stdout, fmt.Sprintf("%d bytes after", after.Size()))
	require.Equal(t, int64(1), streamStats(t, path, "bulk").PendingEvents)
	require.Equal(t, 0, walctl(t, "verify", path).code)
}

func TestCompactToOutput(t *testing.T) {
	path := bloated(t)
	before := hashFile(t, path)
	out := filepath.Join(t.TempDir(), "small.wal")
	r := walctl(t, "compact", path, "--output", out)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, before, hashFile(t, path), "--output must leave FILE as it is")
	require.Equal(t, int64(1), streamStats(t, out, "bulk").PendingEvents)

	r = walctl(t, "compact", path, "--output", out)
	require.Equal(t, exitError, r.code)
	requireOneLineError(t, r, "already exists")
}

func TestSnapshotOfFileInUse(t *testing.T) {
	f := buildWAL(t)
	l, err := wal.Open(f.path, nil)
	require.NoError(t, err)
	defer l.Close()
	srv := httptest.NewServer(store.Handler(l.Store(), nil))
	defer srv.Close()

	out := filepath.Join(t.TempDir(), "copy.wal")
	r := walctl(t, "snapshot", srv.URL, "-o", out)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "wrote "+out)
	require.Contains(t, r.stdout, "3 streams")

	// The copy reads like the WAL, while the WAL itself is still held.
	r = walctl(t, "stats", out, "--stream", "orders", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var rep statsReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Equal(t, int64(2), rep.Streams[0].DeadEvents)
	require.Equal(t, 0, walctl(t, "verify", out).code)

	// An existing file is not replaced without --force.
	r = walctl(t, "snapshot", srv.URL+"/snapshot", "-o", out)
	require.Equal(t, exitError, r.code)
	requireOneLineError(t, r, "already exists")
	r = walctl(t, "snapshot", srv.URL+"/snapshot", "-o", out, "--force")
	require.Equal(t, 0, r.code, r.stderr)

	// A URL that serves something else is refused and leaves nothing behind.
	bad := filepath.Join(t.TempDir(), "bad.wal")
	r = walctl(t, "snapshot", srv.URL+"/nothing-here", "-o", bad)
	require.Equal(t, exitError, r.code)
	requireOneLineError(t, r, "404")
	_, err = os.Stat(bad)
	require.True(t, os.IsNotExist(err))
}
