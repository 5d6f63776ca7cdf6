package format

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/store"
)

// Requeued runs keep OldestNanos right after a Requeue put older events
// behind younger ones; wal/doc.go ("Counters") has the rule.

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

// OldestTime returns the enqueue time of the oldest event in events given
// the stream's requeued runs: the earliest of the first event's time and
// the time of the first event left in each run; 0 when events is empty.
// This is what the OldestNanos counter holds.
func OldestTime(events *bolt.Bucket, runs []RequeuedRun) int64 {
	t, _ := OldestWithRuns(events, runs)
	return t
}

// OldestWithRuns is OldestTime, and also returns the runs that still hold
// an event.
func OldestWithRuns(events *bolt.Bucket, runs []RequeuedRun) (int64, []RequeuedRun) {
	c := events.Cursor()
	_, v := c.First()
	if v == nil {
		return 0, nil
	}
	oldest := RecordTime(v)
	kept := runs[:0:0]
	for _, r := range runs {
		k, v := c.Seek(SeqKey(r.First))
		if seq, ok := ParseSeqKey(k); !ok || seq > r.Last {
			continue
		}
		kept = append(kept, r)
		oldest = min(oldest, RecordTime(v))
	}
	return oldest, kept
}
