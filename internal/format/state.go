package format

import (
	"encoding/binary"
	"fmt"

	"github.com/walbatch/walbatch/store"
)

// State is a stream's counters, kept under the stream's "state" key as 15
// big-endian uint64s in this order, and updated in the same transaction as
// every change they count, so they never need a scan to be known.
// OldestNanos is the enqueue time of the first live event; in a format 1
// file, the earliest of that and every live requeued event's (see
// Live.OldestLive and Value.IsRequeued).
type State struct {
	NextSeq          uint64 // next sequence number to assign (starts at 1)
	SealedThrough    uint64 // events with Seq <= this are in a batch (or gone)
	NextBatch        uint64 // next batch sequence number (starts at 1)
	PendingCount     uint64 // events not yet in a batch
	PendingBytes     uint64
	InflightBatches  uint64
	InflightCount    uint64 // events in in-flight batches
	InflightBytes    uint64
	DeadCount        uint64
	DeadBytes        uint64
	CompletedBatches uint64 // totals since the stream was created
	CompletedEvents  uint64
	OldestNanos      int64  // enqueue time of the first event not completed (format 1: the oldest); 0 if none
	DoneRecords      uint64 // completion records kept (bounded)
	Created          int64
}

const stateFields = 15

// Encode returns the stored form of s.
func (s *State) Encode() []byte {
	b := make([]byte, 0, 8*stateFields)
	for _, v := range []uint64{s.NextSeq, s.SealedThrough, s.NextBatch, s.PendingCount, s.PendingBytes,
		s.InflightBatches, s.InflightCount, s.InflightBytes, s.DeadCount, s.DeadBytes,
		s.CompletedBatches, s.CompletedEvents, uint64(s.OldestNanos), s.DoneRecords, uint64(s.Created)} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

// DecodeState decodes a stored state record. A record of the wrong size
// is an error wrapping store.ErrCorrupt.
func DecodeState(b []byte) (State, error) {
	var s State
	if len(b) != 8*stateFields {
		return s, fmt.Errorf("wal: stream state has %d bytes, want %d: %w", len(b), 8*stateFields, store.ErrCorrupt)
	}
	f := func(i int) uint64 { return binary.BigEndian.Uint64(b[8*i:]) }
	s = State{f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7), f(8), f(9), f(10), f(11), int64(f(12)), f(13), int64(f(14))}
	return s, nil
}
