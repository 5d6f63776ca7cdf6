package format

import (
	bolt "go.etcd.io/bbolt"
)

// BatchScan is one key of a stream's batches bucket as ScanBatches finds
// it. A batch is counted (in flight, its events not pending) when Flaw is
// FlawNone; its range then holds at least one event.
type BatchScan struct {
	Key   []byte // the key, copied
	Seq   uint64 // the key's sequence number; 0 when the key is not 8 bytes
	Batch *Batch // the record; nil when it does not decode
	// Err is why the record does not decode (a bucket in its place has no
	// record to decode: Err is set for FlawNested under an 8-byte key).
	Err  error
	Flaw Flaw
	// After is, for FlawOverlaps, the Last of the counted batch before it.
	After uint64
	// Held is what the range holds, for a counted batch and one that
	// holds none.
	Held Held
}

// Tight reports whether a counted batch's First and Last are events, as
// every transition leaves them.
func (bs *BatchScan) Tight() bool {
	return bs.Held.First == bs.Batch.First && bs.Held.Last == bs.Batch.Last
}

// Agrees reports whether a counted batch's Count and Bytes are what its
// range holds.
func (bs *BatchScan) Agrees() bool {
	return bs.Held.Count == bs.Batch.Count && bs.Held.Bytes == bs.Batch.Bytes
}

// Batches is what ScanBatches finds.
type Batches struct {
	Scans []BatchScan // one per key, in key order
	// Counted are the counted batches, in key (seal) order: their ranges
	// are ascending and disjoint.
	Counted []*Batch
	// Events and Bytes are what the counted batches hold: the in-flight
	// counters.
	Events, Bytes uint64
	MaxSeq        uint64 // the largest 8-byte key holding a record (0 if none)
}

// ScanBatches reads every key of a stream's batches bucket and, for each
// batch whose record decodes, what its range holds in events (both
// buckets may be nil: missing). Its cost is the batch records and the
// events inside their ranges, not the backlog. uid only forms batch IDs.
func ScanBatches(uid [8]byte, batches, events *bolt.Bucket) Batches {
	var out Batches
	if batches == nil {
		return out
	}
	var prevLast uint64
	c := batches.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		bs := BatchScan{Key: append([]byte(nil), k...)}
		seq, ok := ParseSeqKey(k)
		if ok {
			bs.Seq = seq
			bs.Batch, bs.Err = DecodeBatch(uid, seq, v)
		}
		if ok && v != nil {
			out.MaxSeq = max(out.MaxSeq, seq)
		}
		switch {
		case v == nil:
			bs.Flaw = FlawNested
		case !ok:
			bs.Flaw = FlawBadKey
		case bs.Err != nil:
			bs.Flaw = FlawUndecodable
		case bs.Batch.First == 0 || bs.Batch.First > bs.Batch.Last:
			bs.Flaw = FlawEmptyRange
		case bs.Batch.First <= prevLast:
			bs.Flaw, bs.After = FlawOverlaps, prevLast
		default:
			if events != nil {
				bs.Held = HeldIn(events, bs.Batch.First, bs.Batch.Last)
			}
			if bs.Held.Count == 0 {
				bs.Flaw = FlawHoldsNone
				break
			}
			out.Counted = append(out.Counted, bs.Batch)
			out.Events += uint64(bs.Held.Count)
			out.Bytes += uint64(bs.Held.Bytes)
			prevLast = bs.Batch.Last
		}
		out.Scans = append(out.Scans, bs)
	}
	return out
}

// Held is what a range of sequence numbers of the events bucket holds.
// Only 8-byte keys holding a value are events; the other keys a cursor
// meets from the first one to the first event above the range (a bucket,
// a key of another length), which package wal would read as part of the
// range, are in Odd.
type Held struct {
	Count       int
	Bytes       int64  // what the events count toward byte counters (RecordBytes)
	First, Last uint64 // the first and last event; 0 when Count is 0
	// Corrupt are the events whose envelope does not decode, with why.
	Corrupt []HeldCorrupt
	Odd     [][]byte // copied
}

// HeldCorrupt is an event in a range that does not decode.
type HeldCorrupt struct {
	Seq uint64
	Err error
}

// HeldIn returns what keys first..last of events hold.
func HeldIn(events *bolt.Bucket, first, last uint64) Held {
	var h Held
	c := events.Cursor()
	for k, v := c.Seek(SeqKey(first)); k != nil; k, v = c.Next() {
		seq, ok := ParseSeqKey(k)
		if ok && seq > last {
			break
		}
		if !ok || v == nil {
			h.Odd = append(h.Odd, append([]byte(nil), k...))
			continue
		}
		if h.Count == 0 {
			h.First = seq
		}
		h.Last, h.Count = seq, h.Count+1
		r, err := DecodeRecord(seq, v)
		if err != nil {
			h.Bytes += int64(len(v))
			h.Corrupt = append(h.Corrupt, HeldCorrupt{seq, err})
			continue
		}
		h.Bytes += int64(len(r.Payload))
	}
	return h
}
