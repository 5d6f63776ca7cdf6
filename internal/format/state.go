package format

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/store"
)

// State is a stream's counters, kept under the stream's "state" key as
// big-endian uint64s and updated in the same transaction as every change
// they count, so they never need a scan of the backlog to be known.
// OldestNanos is the enqueue time of the first live event; in a format 1
// file, the earliest of that and every live requeued event's (see
// Live.OldestLive and Value.IsRequeued).
//
// The counters that the bounded records say (the in-flight batches, their
// events and bytes, the completion records) are derived, not stored, in
// format 2: DeriveState computes them from the batches and done buckets
// when a stream is loaded. Format 1 stores all 15 fields (the derived ones
// as DeriveState gives them), so that releases before format 2 read the
// file; see Encode for the two layouts.
type State struct {
	NextSeq          uint64 // next sequence number to assign (starts at 1)
	SealedThrough    uint64 // events with Seq <= this are in a batch (or gone)
	NextBatch        uint64 // next batch sequence number (starts at 1)
	PendingCount     uint64 // events not yet in a batch
	PendingBytes     uint64
	InflightBatches  uint64 // derived: the batch records that decode
	InflightCount    uint64 // derived: events in in-flight batches (their records' Count)
	InflightBytes    uint64 // derived: their records' Bytes
	DeadCount        uint64
	DeadBytes        uint64
	CompletedBatches uint64 // totals since the stream was created
	CompletedEvents  uint64
	OldestNanos      int64  // enqueue time of the first event not completed (format 1: the oldest); 0 if none
	DoneRecords      uint64 // derived: completion records kept (bounded)
	Created          int64
}

// StateSize returns the length of a state record in a file of format
// version: 15 fields in format 1, 11 in format 2 and later.
func StateSize(version uint64) int {
	if version >= 2 {
		return 8 * 11
	}
	return 8 * 15
}

// Encode returns the stored form of s in a file of format version. Format 1
// stores NextSeq, SealedThrough, NextBatch, PendingCount, PendingBytes,
// InflightBatches, InflightCount, InflightBytes, DeadCount, DeadBytes,
// CompletedBatches, CompletedEvents, OldestNanos, DoneRecords, Created;
// format 2 the same without the four derived ones: NextSeq, SealedThrough,
// NextBatch, PendingCount, PendingBytes, DeadCount, DeadBytes,
// CompletedBatches, CompletedEvents, OldestNanos, Created.
func (s *State) Encode(version uint64) []byte {
	all := s.all()
	b := make([]byte, 0, StateSize(version))
	for _, i := range layout(version) {
		b = binary.BigEndian.AppendUint64(b, all[i])
	}
	return b
}

// DecodeState decodes a state record of a file of format version. A record
// of the wrong size for the version is an error wrapping store.ErrCorrupt.
// In format 2 the derived counters are zero: DeriveState sets them.
func DecodeState(version uint64, b []byte) (State, error) {
	if want := StateSize(version); len(b) != want {
		return State{}, fmt.Errorf("wal: stream state has %d bytes, want %d (format %d): %w", len(b), want, version, store.ErrCorrupt)
	}
	var all [15]uint64
	for n, i := range layout(version) {
		all[i] = binary.BigEndian.Uint64(b[8*n:])
	}
	f := func(i int) uint64 { return all[i] }
	return State{f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7), f(8), f(9), f(10), f(11), int64(f(12)), f(13), int64(f(14))}, nil
}

// all returns s's fields in their format 1 order.
func (s *State) all() [15]uint64 {
	return [15]uint64{s.NextSeq, s.SealedThrough, s.NextBatch, s.PendingCount, s.PendingBytes,
		s.InflightBatches, s.InflightCount, s.InflightBytes, s.DeadCount, s.DeadBytes,
		s.CompletedBatches, s.CompletedEvents, uint64(s.OldestNanos), s.DoneRecords, uint64(s.Created)}
}

var (
	layout1 = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	layout2 = []int{0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 14} // without InflightBatches, InflightCount, InflightBytes, DoneRecords
)

// layout returns the fields a state record of format version stores, in
// their order, as indexes into State.all.
func layout(version uint64) []int {
	if version >= 2 {
		return layout2
	}
	return layout1
}

// IsDerived reports whether the counter named field (a State field's
// name) is derived rather than stored in a file of format version.
func IsDerived(version uint64, field string) bool {
	switch field {
	case "InflightBatches", "InflightCount", "InflightBytes", "DoneRecords":
		return version >= 2
	}
	return false
}

// DeriveState sets the counters st derives from a stream's bounded records
// (b is the stream's bucket): InflightBatches, InflightCount and
// InflightBytes are the batch records that decode and the sum of their
// Count and Bytes, DoneRecords the completion records (8-byte keys holding
// a value). Its cost is the in-flight batches and the completion records,
// both bounded, never the backlog. A record that does not decode counts
// nothing (every transition of package wal reads a batch's record first,
// so what it subtracts is what was added here); Verify reports it. A
// missing sub-bucket holds nothing. The same rule applies to both
// formats: in format 1 the stored values of these fields are what it gave
// when they were written, and a load derives them again.
func DeriveState(b *bolt.Bucket, st *State) {
	st.InflightBatches, st.InflightCount, st.InflightBytes, st.DoneRecords = 0, 0, 0, 0
	if b == nil {
		return
	}
	if bb := b.Bucket(BucketBatches); bb != nil {
		c := bb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq, ok := ParseSeqKey(k)
			if !ok || v == nil {
				continue
			}
			r, err := DecodeBatch([8]byte{}, seq, v)
			if err != nil {
				continue
			}
			st.InflightBatches++
			st.InflightCount += uint64(max(r.Count, 0))
			st.InflightBytes += uint64(max(r.Bytes, 0))
		}
	}
	if done := b.Bucket(BucketDone); done != nil {
		c := done.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if _, ok := ParseSeqKey(k); ok && v != nil {
				st.DoneRecords++
			}
		}
	}
}

// RewriteStates is migrateStreams' part for the state records: from
// format 1 to 2 each one goes from 15 fields to 11, its derived counters
// dropped. A state record that does not decode in the old layout is left
// as it is (Verify and Repair handle it), made one byte longer if the new
// layout would read it, so that it stays damage. It also takes a file back
// from 2 to 1 (the derived counters derived and stored), which store never
// does: tests use it (formattest.SetFormat) to migrate a file again.
func RewriteStates(tx *bolt.Tx, from, to uint64) error {
	if StateSize(from) == StateSize(to) {
		return nil
	}
	streams, err := RawStreams(tx)
	if err != nil {
		return err
	}
	for _, rs := range streams {
		if rs.State == nil {
			continue
		}
		st, err := DecodeState(from, rs.State)
		if err != nil {
			if len(rs.State) == StateSize(to) {
				if err := rs.Bucket.Put(KeyState, append(append([]byte(nil), rs.State...), 0)); err != nil {
					return err
				}
			}
			continue
		}
		DeriveState(rs.Bucket, &st)
		if err := rs.Bucket.Put(KeyState, st.Encode(to)); err != nil {
			return fmt.Errorf("wal: migrate stream %q: %w", rs.Name, err)
		}
	}
	return nil
}
