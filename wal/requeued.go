package wal

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/store"
)

// Requeued runs keep OldestNanos and OldestPendingTime right after a
// Requeue put older events behind younger ones; doc.go ("Counters") has the
// rule.

// RequeuedRun is a range of keys [First, Last] of a stream's events bucket
// that holds only requeued events, their enqueue times not decreasing with
// the key. Requeue records one per call (or extends the last one); Repair,
// in package recovery, records them anew from a scan.
type RequeuedRun struct {
	First, Last uint64
}

// DecodeRequeuedRuns decodes a stream's "requeued" value: big-endian
// [first, last] pairs, ascending and disjoint. nil (no value) is no runs;
// anything else malformed is an error wrapping store.ErrCorrupt.
func DecodeRequeuedRuns(v []byte) ([]RequeuedRun, error) {
	if v == nil {
		return nil, nil
	}
	if len(v) == 0 || len(v)%16 != 0 {
		return nil, fmt.Errorf("wal: requeued runs record has %d bytes, want a non-zero multiple of 16: %w", len(v), store.ErrCorrupt)
	}
	runs := make([]RequeuedRun, len(v)/16)
	for i := range runs {
		r := RequeuedRun{binary.BigEndian.Uint64(v[16*i:]), binary.BigEndian.Uint64(v[16*i+8:])}
		if r.First == 0 || r.First > r.Last || (i > 0 && r.First <= runs[i-1].Last) {
			return nil, fmt.Errorf("wal: requeued run [%d, %d] is empty, reversed or out of order: %w", r.First, r.Last, store.ErrCorrupt)
		}
		runs[i] = r
	}
	return runs, nil
}

// EncodeRequeuedRuns returns the stored form of runs (nil for none).
func EncodeRequeuedRuns(runs []RequeuedRun) []byte {
	if len(runs) == 0 {
		return nil
	}
	b := make([]byte, 0, 16*len(runs))
	for _, r := range runs {
		b = binary.BigEndian.AppendUint64(b, r.First)
		b = binary.BigEndian.AppendUint64(b, r.Last)
	}
	return b
}

// IsRequeued reports whether the envelope v stored under key seq holds an
// event first appended under another key: moved there by Requeue (or by
// recovery's Repair, which moves events as Requeue does). The ID is read
// without checking the envelope, as RecordTime reads the time.
func IsRequeued(seq uint64, v []byte) bool {
	if len(v) < idOffset+16+9 {
		return false
	}
	return binary.BigEndian.Uint64(v[idOffset+8:]) != seq
}

// OldestTime returns the enqueue time of the oldest event in events given
// the stream's requeued runs: the earliest of the first event's time and
// the time of the first event left in each run; 0 when events is empty.
// This is what the OldestNanos counter holds.
func OldestTime(events *bolt.Bucket, runs []RequeuedRun) int64 {
	t, _ := oldestWithRuns(events, runs)
	return t
}

// oldestWithRuns is OldestTime, and also returns the runs that still hold
// an event.
func oldestWithRuns(events *bolt.Bucket, runs []RequeuedRun) (int64, []RequeuedRun) {
	c := events.Cursor()
	_, v := c.First()
	if v == nil {
		return 0, nil
	}
	oldest := recordTime(v)
	kept := runs[:0:0]
	for _, r := range runs {
		k, v := c.Seek(u64key(r.First))
		if seq, ok := keyU64(k); !ok || seq > r.Last {
			continue
		}
		kept = append(kept, r)
		oldest = min(oldest, recordTime(v))
	}
	return oldest, kept
}

// loadRuns reads the stream's requeued runs from its bucket b.
func loadRuns(b *bolt.Bucket) ([]RequeuedRun, error) {
	runs, err := DecodeRequeuedRuns(b.Get(keyRequeued))
	if err != nil {
		return nil, fmt.Errorf("wal: stream bucket: %w", err)
	}
	return runs, nil
}

// storeRuns writes runs to the stream's bucket b, or deletes the value when
// there are none.
func storeRuns(b *bolt.Bucket, runs []RequeuedRun) error {
	if len(runs) == 0 {
		if b.Get(keyRequeued) == nil {
			return nil
		}
		return b.Delete(keyRequeued)
	}
	return b.Put(keyRequeued, EncodeRequeuedRuns(runs))
}

// refreshOldest sets st.OldestNanos from the events bucket after a
// transaction removed or added events, and drops the requeued runs that no
// longer hold an event. A runs value that does not decode (damage) is left
// as it is for Verify and Repair to report and rebuild, and counts as no
// runs: a damaged record must not stop completions.
func (s *Stream) refreshOldest(tx *bolt.Tx, st *streamState, events *bolt.Bucket) error {
	b, err := s.bucket(tx)
	if err != nil {
		return err
	}
	runs, rerr := loadRuns(b)
	oldest, kept := oldestWithRuns(events, runs)
	st.OldestNanos = oldest
	if rerr == nil && len(kept) != len(runs) {
		return storeRuns(b, kept)
	}
	return nil
}

// addRun records the run [first, last] that Requeue just wrote, whose first
// event was enqueued at t. It extends the last run instead when that one
// ends just before first (nothing was appended between) with an event no
// younger than t.
func (s *Stream) addRun(tx *bolt.Tx, events *bolt.Bucket, first, last uint64, t int64) error {
	b, err := s.bucket(tx)
	if err != nil {
		return err
	}
	runs, err := loadRuns(b)
	if err != nil {
		return err
	}
	if n := len(runs); n > 0 && runs[n-1].Last+1 == first {
		c := events.Cursor()
		c.Seek(u64key(first))
		k, v := c.Prev()
		if seq, ok := keyU64(k); ok && seq >= runs[n-1].First && recordTime(v) <= t {
			runs[n-1].Last = last
			return storeRuns(b, runs)
		}
	}
	return storeRuns(b, append(runs, RequeuedRun{first, last}))
}
