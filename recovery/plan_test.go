package recovery

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/wal"
)

func TestPlanReportsInFlightBatches(t *testing.T) {
	path := buildWAL(t)
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	defer l.Close()
	s, err := l.Stream("a")
	require.NoError(t, err)
	want, err := s.Batches()
	require.NoError(t, err)
	require.Len(t, want, 2)

	rec, err := Plan(l, nil)
	require.NoError(t, err)
	require.True(t, rec.OK())
	require.Len(t, rec.Streams, 3)
	a := rec.Streams[0]
	require.Equal(t, "a", a.Stream)
	require.Empty(t, a.Repaired)
	require.Len(t, a.Redispatch, 2)
	for i, b := range a.Redispatch {
		require.Equal(t, want[i].ID, b.ID)
		require.Equal(t, want[i].Attempts, b.Attempts)
		require.Equal(t, want[i].NextAttempt, b.NextAttempt)
	}
	require.Equal(t, 1, a.Redispatch[0].Attempts)
	require.Equal(t, 3, a.Redispatch[1].Delivered)
	st := s.Stats()
	require.Equal(t, st.PendingEvents, a.PendingEvents)
	require.Equal(t, st.InFlightEvents, a.RedispatchEvents)
	require.Equal(t, st.DeadEvents, a.DeadEvents)
	require.Greater(t, a.OldestAge, time.Duration(0))
	line := rec.String()
	t.Log(line)
	require.NotContains(t, line, "\n")
	require.Contains(t, line, a.Redispatch[0].ID+" attempts=1")

	only, err := Plan(l, &PlanOptions{Streams: []string{"b"}})
	require.NoError(t, err)
	require.Len(t, only.Streams, 1)
	require.Empty(t, only.Streams[0].Redispatch)
	require.NoError(t, l.Close())
	mustVerify(t, path)
}

func TestPlanFixesWhatItCanProve(t *testing.T) {
	path := buildWAL(t)
	var emptyBatch uint64
	damage(t, path, "a", func(rs format.RawStream) {
		st := state(t, rs)
		st.NextSeq = 3
		st.NextBatch = 1
		st.InflightCount += 10
		st.OldestNanos = 1
		require.NoError(t, rs.PutState(st))
		bs := batches(t, rs)
		bs[1].Count = 99
		putBatch(t, rs, bs[1])
		// A batch whose range holds nothing, after the last one.
		emptyBatch = bs[1].Seq + 1
		putBatch(t, rs, &format.Batch{Seq: emptyBatch, First: st.SealedThrough, Last: st.SealedThrough, Count: 1})
		st.NextBatch = 1
		require.NoError(t, rs.PutState(st))
	})

	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	dry, err := Plan(l, &PlanOptions{DryRun: true})
	require.NoError(t, err)
	require.NotEmpty(t, dry.Streams[0].Repaired)
	for _, r := range dry.Streams[0].Repaired {
		require.True(t, strings.HasPrefix(r, "would fix: "), r)
	}
	require.Equal(t, uint64(3), format.StreamState(mustStream(t, l, "a")).NextSeq, "dry run changes nothing")

	rec, err := Plan(l, nil)
	require.NoError(t, err)
	a := rec.Streams[0]
	t.Log(rec)
	require.True(t, rec.OK(), "%v", a.Problems)
	require.Len(t, a.Redispatch, 2)
	require.Equal(t, 3, a.Redispatch[1].Count)
	joined := strings.Join(a.Repaired, "\n")
	require.Contains(t, joined, "NextSeq 3 -> 42")
	require.Contains(t, joined, "NextBatch 1 -> ")
	require.Contains(t, joined, "dropped batch")
	s := mustStream(t, l, "a")
	require.Equal(t, uint64(42), format.StreamState(s).NextSeq)
	_, err = s.Append("", []byte("no overwrite"))
	require.NoError(t, err)

	again, err := Plan(l, nil)
	require.NoError(t, err)
	require.Empty(t, again.Streams[0].Repaired)
	require.NoError(t, l.Close())
	mustVerify(t, path)
}

func TestPlanReportsWhatNeedsRepair(t *testing.T) {
	path := buildWAL(t)
	damage(t, path, "a", func(rs format.RawStream) {
		bs := batches(t, rs)
		bs[1].First = bs[0].Last
		putBatch(t, rs, bs[1])
	})
	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err)
	defer l.Close()
	rec, err := Plan(l, nil)
	require.NoError(t, err)
	require.False(t, rec.OK())
	require.Len(t, rec.Streams[0].Redispatch, 1)
	require.Contains(t, rec.String(), "overlaps")
}

func mustStream(t *testing.T, l *wal.Log, name string) *wal.Stream {
	s, err := l.Stream(name)
	require.NoError(t, err)
	return s
}
