package wal

import (
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// Requeued runs keep OldestNanos and OldestPendingTime right after a
// Requeue put older events behind younger ones; doc.go ("Counters") has the
// rule, and package internal/format their stored form.

// refreshOldest sets st.OldestNanos from the live events (live) after a
// transaction removed or added events, and drops the requeued runs that no
// longer hold a live event. A runs value that does not decode (damage) is left
// as it is for Verify and Repair to report and rebuild, and counts as no
// runs: a damaged record must not stop completions.
func (s *Stream) refreshOldest(tx *bolt.Tx, st *format.State, events *bolt.Bucket, live *format.Live) error {
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

// addRun records the run [first, last] that Requeue just wrote, whose first
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
