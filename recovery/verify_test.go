package recovery

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

func TestVerifyExercisedWAL(t *testing.T) {
	path := buildWAL(t)
	r := mustVerify(t, path)
	require.True(t, r.PagesChecked)
	require.Len(t, r.Streams, 3)
	t.Log(r)
	for _, s := range r.Streams {
		t.Logf("%s: %+v", s.Stream, s.Counted)
	}
}

// requeuedTimes returns the enqueue times of stream name's first event and
// of its oldest requeued event (0 if none), as the file holds them.
func requeuedTimes(t *testing.T, path, name string) (first, requeued int64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		rs, ok := format.RawStreamOf(tx, name)
		require.True(t, ok)
		return rs.Events.ForEach(func(k, v []byte) error {
			seq, _ := format.ParseSeqKey(k)
			r, err := format.DecodeRecord(seq, v)
			require.NoError(t, err)
			if first == 0 {
				first = r.Time.UnixNano()
			}
			moved := !bytes.Equal(r.ID[8:], format.SeqKey(seq)) // first appended under another key
			if moved && (requeued == 0 || r.Time.UnixNano() < requeued) {
				requeued = r.Time.UnixNano()
			}
			return nil
		})
	}))
	return first, requeued
}

// buildWAL leaves requeued events behind younger ones: the counter holds
// the oldest requeued event's time, and Verify's scan expects exactly that.
// A file whose requeued events are in no recorded run (written before runs
// were recorded) fails Verify; Repair records them and sets the counter,
// and the log keeps it right from there.
func TestVerifyOldestCountsRequeuedEvents(t *testing.T) {
	path := buildWALFormat(t, 1) // reads format 1 envelopes
	first, requeued := requeuedTimes(t, path, "a")
	require.NotZero(t, requeued)
	require.Less(t, requeued, first, "buildWAL requeues events older than the first one")
	r := mustVerify(t, path)
	require.Equal(t, requeued, r.Streams[0].Stored.OldestNanos)
	require.Equal(t, requeued, r.Streams[0].Counted.OldestNanos)

	// As the previous version left it: no runs, the first event's time.
	damage(t, path, "a", func(rs format.RawStream) {
		require.NoError(t, rs.Bucket.Delete([]byte("requeued")))
		st := state(t, rs)
		st.OldestNanos = first
		require.NoError(t, rs.PutState(st))
	})
	r, err := Verify(path, nil)
	require.NoError(t, err)
	require.Contains(t, r.String(), "in no requeued run")
	require.Contains(t, r.String(), "OldestNanos")
	rep, err := Repair(path, nil)
	require.NoError(t, err)
	require.True(t, rep.After.OK(), "%s", rep.After)
	require.Equal(t, requeued, rep.After.Streams[0].Stored.OldestNanos)
	require.Equal(t, uint64(1), fileVersion(t, path), "Repair keeps the file's format")

	// Complete every batch in flight: the requeued events, still pending,
	// stay the oldest.
	l, err := wal.Open(path, &wal.Options{Store: store.Options{Format: 1}})
	require.NoError(t, err)
	s := mustStream(t, l, "a")
	bs, err := s.Batches()
	require.NoError(t, err)
	require.NotEmpty(t, bs)
	for _, b := range bs {
		require.NoError(t, s.Complete(b.Seq))
	}
	require.Equal(t, requeued, s.Stats().OldestPending.UnixNano())
	oldest, err := s.OldestPendingTime()
	require.NoError(t, err)
	require.Equal(t, requeued, oldest.UnixNano())
	require.NoError(t, l.Close())
	mustVerify(t, path)
}

// In a format 2 file the counter is the first live event's time, however
// old the requeued events behind it are, and the stream has no requeued
// runs record; one left there (format 1's, which the migration deletes)
// is a problem Repair deletes.
func TestVerifyOldestFormat2IsTheFirstEvents(t *testing.T) {
	path := buildWALFormat(t, 2)
	r := mustVerify(t, path)
	first := firstLiveNanos(t, path, "a")
	require.Equal(t, first, r.Streams[0].Stored.OldestNanos)
	require.Equal(t, first, r.Streams[0].Counted.OldestNanos)
	damage(t, path, "a", func(rs format.RawStream) {
		require.Nil(t, rs.Requeued, "format 2 writes no runs")
		require.NoError(t, rs.PutRequeuedRuns([]format.RequeuedRun{{First: 30, Last: 37}}))
	})
	r, err := Verify(path, nil)
	require.NoError(t, err)
	require.False(t, r.OK())
	require.True(t, r.Has(KindCounter), "%s", r)
	require.Contains(t, r.String(), "left from format 1")
	rep, err := Repair(path, nil)
	require.NoError(t, err)
	require.True(t, rep.After.OK(), "%s", rep.After)
	require.Contains(t, fmt.Sprint(rep.Actions), "deleted the requeued runs record")
	require.Equal(t, first, rep.After.Streams[0].Stored.OldestNanos)
}

// firstLiveNanos returns the enqueue time of stream name's first live
// event, read through the log.
func firstLiveNanos(t *testing.T, path, name string) int64 {
	t.Helper()
	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err)
	defer l.Close()
	s := mustStream(t, l, name)
	bs, err := s.Batches()
	require.NoError(t, err)
	first := int64(0)
	if len(bs) > 0 {
		recs, _, err := s.ReadBatch(&bs[0])
		require.NoError(t, err)
		first = recs[0].Time.UnixNano()
	}
	return first
}
