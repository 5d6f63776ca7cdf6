package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/wal"
)

// holedFile leaves stream orders with one in-flight batch of six events
// after a per-event result (1 and 4 delivered, 3 and 6 dead, 2 and 5
// left) and a seventh event pending. It returns the path and the batch.
func holedFile(t *testing.T) (string, *wal.Batch) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.wal")
	l, err := wal.Open(path, &wal.Options{Sync: wal.SyncNone})
	require.NoError(t, err)
	s, err := l.Stream("orders")
	require.NoError(t, err)
	for i := 1; i <= 7; i++ {
		_, err := s.Append("", mp(t, map[string]int{"order": i}))
		require.NoError(t, err)
	}
	res, err := s.Seal(wal.SealOptions{MaxEvents: 6, Force: true})
	require.NoError(t, err)
	nb, err := s.Resolve(res.Batch.Seq, []uint64{1, 4},
		[]wal.EventReason{{Seq: 3, Reason: "permanent: refused"}, {Seq: 6, Reason: "permanent: too big"}},
		time.Now().Add(time.Hour), "4 of 6 events failed")
	require.NoError(t, err)
	require.NoError(t, l.Close())
	return path, nb
}

// repair leaves a file with a batch with holes alone (nothing to repair,
// not a byte changed); the dead letters a per-event result left name the
// batch and the attempt, and requeue takes them back to pending while the
// batch they came from is still in flight, the file still verifying; the
// batch then completes with its holes.
func TestBatchWithHolesRepairAndRequeue(t *testing.T) {
	path, nb := holedFile(t)
	before := hashFile(t, path)
	r := walctl(t, "repair", path)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "nothing to repair")
	require.Equal(t, before, hashFile(t, path))

	r = walctl(t, "dead", path, "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, nb.ID)
	require.Contains(t, r.stdout, "permanent: too big")

	r = walctl(t, "requeue", path, "--all")
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	r = walctl(t, "verify", path)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	r = walctl(t, "batches", path, "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var rows []batchRow
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows), r.stdout)
	require.Len(t, rows, 1)
	require.Equal(t, [4]int{2, 5, 2, 1}, [4]int{int(rows[0].First), int(rows[0].Last), rows[0].Count, rows[0].Attempts})

	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	s, err := l.Stream("orders")
	require.NoError(t, err)
	st := s.Stats()
	require.EqualValues(t, 3, st.PendingEvents, "event 7 and the two requeued")
	require.Zero(t, st.DeadEvents)
	got, err := s.Resolve(nb.Seq, []uint64{2, 5}, nil, time.Time{}, "")
	require.NoError(t, err)
	require.Nil(t, got)
	require.NoError(t, l.Close())
	r = walctl(t, "verify", path)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	r = walctl(t, "stats", path, "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, `"completed_events_total": 4`)
	require.Contains(t, r.stdout, `"pending_events": 3`)
}
