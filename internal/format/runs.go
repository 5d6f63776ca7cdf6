package format

import (
	"encoding/binary"
	"fmt"

	"github.com/walbatch/walbatch/store"
)

// Requeued runs keep OldestNanos right after a Requeue put older events
// behind younger ones in a format 1 file, as walbatch 0.1.0 reads and
// checks them; a format 2 file has none. wal/doc.go ("Counters") has the
// rules.

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
