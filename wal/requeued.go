package wal

import (
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// Requeued runs keep OldestNanos and OldestPendingTime at the oldest event
// after a Requeue put older events behind younger ones, in a format 1 file
// only (walbatch 0.1.0 reads and checks them); a format 2 file keeps none
// and counts from the first event. doc.go ("Counters") has both rules, and
// package internal/format the runs' stored form.

// refreshOldest sets st.OldestNanos from the live events (live) after a
// transaction removed or added events: the first live event's time, and
// in a format 1 file the first live one's of each requeued run when older,
// dropping the runs that no longer hold a live event. A runs value that
// does not decode (damage) is left as it is for Verify and Repair to
// report and rebuild, and counts as no runs: a damaged record must not
// stop completions.
func (s *Stream) refreshOldest(tx *bolt.Tx, st *format.State, events *bolt.Bucket, live *format.Live) error {
	if s.l.runs {
		oldest, _ := live.OldestLive(s.cursor(events, st), nil)
		oldestIs(st, oldest)
		return nil
	}
	b, err := s.bucket(tx)
	if err != nil {
		return err
	}
	runs, rerr := format.LoadRuns(b)
	oldest, kept := live.OldestLive(s.cursor(events, st), runs)
	oldestIs(st, oldest)
	if rerr == nil && len(kept) != len(runs) {
		return format.StoreRuns(b, kept)
	}
	return nil
}

// addRun records the run [first, last] that Requeue just wrote to a format
// 1 file, whose first
// event was enqueued at t. It extends the last run instead when that one
// ends just before first (nothing was appended between) with an event no
// younger than t.
func (s *Stream) addRun(tx *bolt.Tx, st *format.State, events *bolt.Bucket, first, last uint64, t int64) error {
	b, err := s.bucket(tx)
	if err != nil {
		return err
	}
	runs, err := format.LoadRuns(b)
	if err != nil {
		return err
	}
	if n := len(runs); n > 0 && runs[n-1].Last+1 == first {
		if cur, held := s.eventAt(events, st, first-1); held && first-1 >= runs[n-1].First && cur.Value().Time(cur.Index()) <= t {
			runs[n-1].Last = last
			return format.StoreRuns(b, runs)
		}
	}
	return format.StoreRuns(b, append(runs, format.RequeuedRun{First: first, Last: last}))
}
