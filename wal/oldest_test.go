package wal

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/store"
)

// timeOf returns the enqueue time of the event with the given ID, read from
// the events bucket (fails if it is not there).
func timeOf(t *testing.T, s *Stream, id EventID) time.Time {
	t.Helper()
	for _, r := range eventsOf(t, s) {
		if r.ID == id {
			return r.Time
		}
	}
	t.Fatalf("event %s not in the events bucket", id)
	return time.Time{}
}

func oldestPending(t *testing.T, s *Stream) time.Time {
	t.Helper()
	o, err := s.OldestPendingTime()
	require.NoError(t, err)
	return o
}

// appendOne appends one event, making sure its enqueue time is after the
// previous one's (the clock may be coarse).
func appendOne(t *testing.T, s *Stream, i int) Appended {
	t.Helper()
	time.Sleep(time.Millisecond)
	return appendN(t, s, "", i, 1)[0]
}

// A requeued event keeps its enqueue time but goes to the end of the
// stream, so it can be older than events before it. In a format 2 file
// OldestNanos (Stats' OldestPending) and OldestPendingTime are the first
// live and the first pending event's times: a requeued event counts once
// it is first (and then at its own, older, time), which is what max-age
// flushing needs (doc.go, Counters). In a format 1 file, as walbatch
// 0.1.0 counts, they find it at once through the requeued runs, both when
// it is older than the first event at once and when it becomes the oldest
// only after earlier events complete.
func TestOldestAfterRequeue(t *testing.T) {
	for _, f := range []uint64{1, 2} {
		t.Run(fmt.Sprintf("format %d", f), func(t *testing.T) { testOldestAfterRequeue(t, f) })
	}
}

func testOldestAfterRequeue(t *testing.T, f uint64) {
	opts := &Options{Store: store.Options{Format: f}}
	l, _ := mustOpen(t, opts)
	s := mustStream(t, l, "s")
	// by picks the format's expectation.
	by := func(f1, f2 time.Time) time.Time {
		if f == 1 {
			return f1
		}
		return f2
	}

	// P (oldest), D, Q; D is dead-lettered and requeued behind Q.
	p := appendOne(t, s, 0)
	d := appendOne(t, s, 1)
	q := appendOne(t, s, 2)
	bp := sealOne(t, s, 1)
	require.NoError(t, s.DeadLetter(sealOne(t, s, 1).Seq, "400", false))
	res, err := s.Requeue(nil)
	require.NoError(t, err)
	require.Equal(t, 1, res.Requeued)
	tp, tq, td := timeOf(t, s, p.ID), timeOf(t, s, q.ID), timeOf(t, s, d.ID)
	require.True(t, tp.Before(td) && td.Before(tq))
	require.Equal(t, tp, s.Stats().OldestPending, "P is still the oldest")
	require.Equal(t, by(td, tq), oldestPending(t, s), "of the pending Q and D, D is older; Q is first")

	// P completes: the first event is Q now, but D (behind it) is older.
	require.NoError(t, s.Complete(bp.Seq))
	require.Equal(t, by(td, tq), s.Stats().OldestPending)
	require.Equal(t, by(td, tq), oldestPending(t, s))

	// Survives a reopen (open reads the counter, no scan).
	l = reopen(t, l, opts)
	s = mustStream(t, l, "s")
	require.Equal(t, by(td, tq), s.Stats().OldestPending)
	require.Equal(t, by(td, tq), oldestPending(t, s))

	// Q sealed: D is the only pending event, and still the oldest overall.
	bq := sealOne(t, s, 1)
	require.Equal(t, td, oldestPending(t, s))
	require.Equal(t, by(td, tq), s.Stats().OldestPending, "Q in flight is the first live event")
	require.NoError(t, s.Complete(bq.Seq))
	require.Equal(t, td, s.Stats().OldestPending)

	// Older dead letters requeued behind younger pending events are the
	// oldest at once in format 1; in format 2 once they are first.
	a := appendOne(t, s, 3)
	require.NoError(t, s.DeadLetter(sealOne(t, s, 2).Seq, "400", false)) // D and A
	e := appendOne(t, s, 4)
	_, err = s.Requeue(nil)
	require.NoError(t, err)
	te := timeOf(t, s, e.ID)
	require.Equal(t, by(td, te), s.Stats().OldestPending)
	require.Equal(t, by(td, te), oldestPending(t, s))
	be := sealOne(t, s, 1) // E
	require.Equal(t, td, oldestPending(t, s), "D, requeued before A, is first of them")
	require.NoError(t, s.Complete(be.Seq))
	require.Equal(t, td, s.Stats().OldestPending)
	bd := sealOne(t, s, 1) // D
	require.Equal(t, timeOf(t, s, a.ID), oldestPending(t, s))
	require.NoError(t, s.Complete(bd.Seq))
	require.Equal(t, timeOf(t, s, a.ID), s.Stats().OldestPending)
	require.NoError(t, s.Complete(sealOne(t, s, 1).Seq))
	require.True(t, s.Stats().OldestPending.IsZero())
	require.True(t, oldestPending(t, s).IsZero())
	requireNoRuns(t, s)
}

// In a format 2 file Requeue writes no requeued runs record at all.
func TestRequeueWritesNoRunsInFormat2(t *testing.T) {
	l, _ := mustOpen(t, &Options{Store: store.Options{Format: 2}})
	s := mustStream(t, l, "s")
	appendOne(t, s, 0)
	appendOne(t, s, 1)
	require.NoError(t, s.DeadLetter(sealOne(t, s, 1).Seq, "400", false))
	_, err := s.Requeue(nil)
	require.NoError(t, err)
	requireNoRuns(t, s)
}

// requireNoRuns fails if the stream still records requeued runs.
func requireNoRuns(t *testing.T, s *Stream) {
	t.Helper()
	require.NoError(t, storetx.View(s.l.db, func(tx *bolt.Tx) error {
		b, err := s.bucket(tx)
		require.NoError(t, err)
		require.Nil(t, b.Get(format.KeyRequeued), "requeued runs left behind")
		return nil
	}))
}

// pendingOldestByScan is OldestPendingTime's rule computed by a scan: the
// first pending event's time and, in a format 1 file, the earliest of that
// and every requeued pending event's.
func pendingOldestByScan(t *testing.T, s *Stream) time.Time {
	t.Helper()
	sealed := s.Stats().SealedThrough
	var oldest time.Time
	first := true
	for _, r := range eventsOf(t, s) {
		if r.Seq <= sealed {
			continue
		}
		if first || (!s.l.runs && r.ID != s.EventID(r.Seq) && r.Time.Before(oldest)) {
			oldest, first = r.Time, false
		}
	}
	return oldest
}

// Random transitions, several batches in flight completed out of order,
// dead letters requeued now and then: after each step the counters (and
// the requeued runs) agree with a scan (checkLog), and so does
// OldestPendingTime.
func TestOldestRandomTransitions(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	l, _ := mustOpen(t, &Options{Sync: SyncNone})
	s := mustStream(t, l, "s")
	var inflight []*Batch
	n := 0
	for step := range 600 {
		switch r := rng.IntN(100); {
		case r < 35:
			k := 1 + rng.IntN(4)
			appendN(t, s, "", n, k)
			n += k
		case r < 55:
			res, err := s.Seal(SealOptions{MaxEvents: 1 + rng.IntN(5), Force: true})
			require.NoError(t, err)
			if res.Batch != nil {
				inflight = append(inflight, res.Batch)
			}
		case r < 90 && len(inflight) > 0:
			i := rng.IntN(len(inflight))
			b := inflight[i]
			switch rng.IntN(3) {
			case 0:
				require.NoError(t, s.Complete(b.Seq))
			case 1:
				nb, err := s.CompletePartial(b.Seq, 1+rng.IntN(b.Count))
				require.NoError(t, err)
				if nb != nil {
					inflight[i] = nb
					continue
				}
			case 2:
				require.NoError(t, s.DeadLetter(b.Seq, "random", false))
			}
			inflight = append(inflight[:i], inflight[i+1:]...)
		case r < 100:
			_, err := s.Requeue(nil)
			require.NoError(t, err)
		}
		require.NoError(t, checkLog(l), "step %d", step)
		require.Equal(t, pendingOldestByScan(t, s), oldestPending(t, s), "step %d", step)
	}
}

// Migrating a format 1 file whose stream has requeued runs deletes the
// runs record in the migration's transaction and sets OldestNanos by
// format 2's rule (the first live event's time), so the migrated file
// verifies (openAt's Cleanup scans it) and counts as format 2 does from
// then on.
func TestMigrationDropsRequeuedRuns(t *testing.T) {
	l, path := mustOpen(t, &Options{Store: store.Options{Format: 1}})
	s := mustStream(t, l, "s")
	p := appendOne(t, s, 0)
	appendOne(t, s, 1)
	q := appendOne(t, s, 2)
	bp := sealOne(t, s, 1)
	require.NoError(t, s.DeadLetter(sealOne(t, s, 1).Seq, "400", false))
	_, err := s.Requeue(nil)
	require.NoError(t, err)
	tp, tq := timeOf(t, s, p.ID), timeOf(t, s, q.ID)
	require.True(t, tp.Before(tq))
	require.NoError(t, s.Complete(bp.Seq))
	var runs []byte
	require.NoError(t, storetx.View(s.l.db, func(tx *bolt.Tx) error {
		b, err := s.bucket(tx)
		require.NoError(t, err)
		runs = b.Get(format.KeyRequeued)
		return nil
	}))
	require.NotNil(t, runs, "format 1 records the requeued run")
	require.NotEqual(t, tq, s.Stats().OldestPending, "format 1 counts D behind Q")
	require.NoError(t, l.Close())

	l = openAt(t, path, &Options{Store: store.Options{Format: 2}})
	require.Equal(t, uint64(2), l.Store().Info().Version)
	s = mustStream(t, l, "s")
	requireNoRuns(t, s)
	require.Equal(t, tq, s.Stats().OldestPending, "the first live event, Q")
	require.Equal(t, tq, oldestPending(t, s))
	require.NoError(t, checkLog(l))
}

// In a format 2 file OldestPendingTime keeps its answer while the stream's
// seals and dead letters stay as they were (oldestMemo): appends after it
// do not change it, and a seal, a dead letter and a requeue each make it
// read the file again, so it still names the first pending event.
func TestOldestPendingMemo(t *testing.T) {
	l, _ := mustOpen(t, &Options{Sync: SyncNone})
	s := mustStream(t, l, "s")
	require.True(t, oldestPending(t, s).IsZero())
	a := []Appended{appendOne(t, s, 0), appendOne(t, s, 1), appendOne(t, s, 2)}
	first := oldestPending(t, s)
	require.Equal(t, timeOf(t, s, a[0].ID), first)
	if l.runs {
		require.Equal(t, first.UnixNano(), s.oldest.nanos, "kept")
	}
	a = append(a, appendOne(t, s, 3))
	require.Equal(t, first, oldestPending(t, s), "an append after it changes nothing")

	res, err := s.Seal(SealOptions{MaxEvents: 2, Force: true})
	require.NoError(t, err)
	require.Equal(t, timeOf(t, s, a[2].ID), oldestPending(t, s), "after a seal: the first event after it")
	require.NoError(t, s.DeadLetter(res.Batch.Seq, "test", false))
	require.Equal(t, timeOf(t, s, a[2].ID), oldestPending(t, s), "a dead letter leaves the first pending event")
	_, err = s.Requeue(nil)
	require.NoError(t, err)
	require.Equal(t, pendingOldestByScan(t, s), oldestPending(t, s), "after a requeue")

	res, err = s.Seal(SealOptions{MaxEvents: 10, Force: true})
	require.NoError(t, err)
	require.NotNil(t, res.Batch)
	require.True(t, oldestPending(t, s).IsZero(), "nothing pending")
	appendOne(t, s, 4)
	require.Equal(t, pendingOldestByScan(t, s), oldestPending(t, s), "pending again")
}
