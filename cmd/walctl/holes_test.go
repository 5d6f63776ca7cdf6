package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/wal"
)

// A batch left with holes by a per-event result (wal.Stream.Resolve: 1, 4
// and 6 delivered, 3 dead, 2 and 5 left) shows as it stands: batches has
// the tightened range and the events left, dump the events left in flight
// and the dead one, stats the counters, and verify finds nothing wrong.
func TestBatchWithHolesShown(t *testing.T) {
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
	nb, err := s.Resolve(res.Batch.Seq, []uint64{1, 4, 6}, []wal.EventReason{{Seq: 3, Reason: "permanent: refused"}},
		time.Now().Add(time.Hour), "3 of 6 events failed: first: busy")
	require.NoError(t, err)
	require.NoError(t, l.Close())

	r := walctl(t, "batches", path, "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var rows []batchRow
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows), r.stdout)
	require.Len(t, rows, 1)
	row := rows[0]
	require.Equal(t, nb.ID, row.ID)
	require.Equal(t, [4]int{2, 5, 2, 1}, [4]int{int(row.First), int(row.Last), row.Count, row.Attempts})
	require.Equal(t, 3, row.Delivered)
	require.Equal(t, "3 of 6 events failed: first: busy", row.LastError)

	r = walctl(t, "dump", path, "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var states []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var rec struct {
			Seq    uint64 `json:"seq"`
			State  string `json:"state"`
			Reason string `json:"reason"`
			Batch  string `json:"batch"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		states = append(states, fmt.Sprintf("%d:%s%s", rec.Seq, rec.State, rec.Reason))
		if rec.State == stateDead {
			require.Equal(t, nb.ID, rec.Batch)
		}
	}
	require.Equal(t, []string{"2:inflight", "5:inflight", "7:pending", "3:deadpermanent: refused"}, states)

	r = walctl(t, "stats", path, "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, want := range []string{`"inflight_batches": 1`, `"inflight_events": 2`, `"dead_events": 1`, `"pending_events": 1`, `"completed_events_total": 3`} {
		require.Contains(t, r.stdout, want)
	}

	r = walctl(t, "verify", path)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
}
