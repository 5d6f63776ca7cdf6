package format

import (
	"bytes"
	"slices"

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
	// Held is what the batch holds, for a counted batch and one that
	// holds none.
	Held Held
}

// HolesHeld reports whether values hold every event of a counted batch's
// holes, as the writer keeps them (a hole is pruned once no value holds
// it).
func (bs *BatchScan) HolesHeld() bool { return slices.Equal(bs.Held.Holes, bs.Batch.Holes) }

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

// Events is a stream's events bucket with what reading its values takes
// (see Value): Bucket nil is a missing bucket, which holds nothing.
type Events struct {
	Bucket *bolt.Bucket
	UID    [8]byte
	// Runs is whether the file may hold runs (format version 2 or
	// later); in a format 1 file every value is one event.
	Runs bool
	// Last is the stream's last sequence number (NextSeq-1; 0 when
	// unknown): where a damaged last run ends.
	Last uint64
}

// Cursor returns an EventCursor over the bucket (not nil).
func (ev Events) Cursor() *EventCursor { return NewEventCursor(ev.Bucket, ev.UID, ev.Runs, ev.Last) }

// value reads the value v under key at, where c stands.
func (ev Events) value(c *bolt.Cursor, at uint64, v []byte) Value {
	return readValue(c, ev.UID, at, v, ev.Runs, ev.Last)
}

// ScanBatches reads every key of a stream's batches bucket and, for each
// batch whose record decodes, what it holds in events (both buckets may be
// nil: missing). Its cost is the batch records and the values inside their
// ranges, not the backlog.
func ScanBatches(ev Events, batches *bolt.Bucket) Batches {
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
			bs.Batch, bs.Err = DecodeBatch(ev.UID, seq, v)
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
			bs.Held = HeldIn(ev, bs.Batch)
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

// Held is what a batch holds: the events in its range [First, Last] that
// a value holds, less its holes. Only 8-byte keys holding a value are
// values; the other keys a cursor meets from the batch's First to the
// first value above the range (a bucket, a key of another length), which
// package wal would read as part of the range, are in Odd.
type Held struct {
	Count       int
	Bytes       int64  // what the events count toward byte counters (Value.StoredBytes)
	First, Last uint64 // the first and last event; 0 when Count is 0
	// Corrupt are the events that do not decode, with why: one for each
	// record, and one for a run whose header fails (at the first of its
	// events the batch holds).
	Corrupt []HeldCorrupt
	Odd     [][]byte // copied
	// Holes are the parts of the batch's holes that values hold: what
	// they should be.
	Holes []uint64
}

// HeldCorrupt is an event in a range that does not decode.
type HeldCorrupt struct {
	Seq uint64
	Err error
}

// HeldIn returns what b holds of the events ev holds: in [b.First,
// b.Last], not in b.Holes.
func HeldIn(ev Events, b *Batch) Held {
	var h Held
	if ev.Bucket == nil {
		return h
	}
	first, last := b.First, b.Last
	from := first
	if ev.Runs {
		// A value holding first lies at most MaxRunEvents-1 keys below it.
		from = first - min(first, MaxRunEvents-1)
	}
	var held [][2]uint64 // what values hold of the range, for the holes
	var seen bool        // a value came before, its last event end
	var end uint64
	c := ev.Bucket.Cursor()
	for k, v := c.Seek(SeqKey(from)); k != nil; k, v = c.Next() {
		seq, ok := ParseSeqKey(k)
		if ok && seq > last {
			break
		}
		if !ok || v == nil {
			if bytes.Compare(k, SeqKey(first)) >= 0 {
				h.Odd = append(h.Odd, append([]byte(nil), k...))
			}
			continue
		}
		val := ev.value(c, seq, v)
		if seen && seq <= end {
			continue // overlaps the value before it: not read (FlawKeyInValue)
		}
		seen, end = true, val.Last()
		if val.Last() < first {
			continue
		}
		lo, hi := max(first, val.Key), min(last, val.Last())
		if n := len(held); n > 0 && held[n-1][1]+1 == lo {
			held[n-1][1] = hi
		} else {
			held = append(held, [2]uint64{lo, hi})
		}
		damaged := false
		for s := lo; s <= hi; s++ {
			if !b.Holds(s) {
				continue
			}
			i := int(s - val.Key)
			if h.Count == 0 {
				h.First = s
			}
			h.Last, h.Count = s, h.Count+1
			r, err := val.Event(i)
			if err == nil {
				h.Bytes += int64(len(r.Payload))
				continue
			}
			h.Bytes += int64(val.StoredBytes(i))
			switch {
			case val.Err() == nil:
				h.Corrupt = append(h.Corrupt, HeldCorrupt{s, err})
			case !damaged:
				damaged = true
				h.Corrupt = append(h.Corrupt, HeldCorrupt{s, val.Err()})
			}
		}
	}
	if len(b.Holes) > 0 {
		pruned := Batch{Holes: slices.Clone(b.Holes)}
		pruned.PruneHoles(func(lo, hi uint64) [][2]uint64 { return clipRanges(held, lo, hi) })
		h.Holes = pruned.Holes
	}
	return h
}

// clipRanges returns the parts of the ascending ranges rs inside [lo, hi].
func clipRanges(rs [][2]uint64, lo, hi uint64) [][2]uint64 {
	var out [][2]uint64
	for _, r := range rs {
		if a, b := max(r[0], lo), min(r[1], hi); a <= b {
			out = append(out, [2]uint64{a, b})
		}
	}
	return out
}
