package wal

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// Every read of a stream's events goes through format.EventCursor, which
// reads both forms of value (a format 1 envelope, one event; a format 2
// run, many), and every transition that takes events out of the stream
// follows two rules of format.Live: an event is in the stream while it is
// pending or held by an in-flight batch (in its range, not one of its
// holes), and a value is deleted once none of its events is. An event
// therefore leaves a batch by becoming a hole, and its value goes when the
// last of its events has gone; in a format 1 file, where every value is
// one event, that is at once.

// cursor returns a cursor over the stream's events bucket in a transaction
// where st is the stream's state.
func (s *Stream) cursor(events *bolt.Bucket, st *format.State) *format.EventCursor {
	return format.NewEventCursor(events, s.uid, s.l.runs, st.NextSeq-1)
}

// liveSet returns which events are live in tx, by st and the batch records
// as stored, and whether every batch record could be read: a record that
// does not decode has an unknown range, so nothing outside the range a
// transition worked on may be taken as not live (see settle).
func (s *Stream) liveSet(tx *bolt.Tx, st *format.State) (*format.Live, bool, error) {
	bb, err := s.sub(tx, format.BucketBatches)
	if err != nil {
		return nil, false, err
	}
	var list []*format.Batch
	complete := true
	c := bb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, ok := format.ParseSeqKey(k)
		if !ok {
			complete = false
			continue
		}
		b, err := format.DecodeBatch(s.uid, seq, v)
		if err != nil {
			complete = false
			continue
		}
		list = append(list, b)
	}
	return format.NewLive(st.SealedThrough, list), complete, nil
}

// settle ends a transition that took the events of [first, last] (the
// range it worked on) out of the stream, or some of them, after it stored
// the batch records as they now are: it deletes each value overlapping
// [first, last] that holds no live event left, and sets st.OldestNanos.
// When a batch record does not decode, only values inside [first, last]
// are deleted.
func (s *Stream) settle(tx *bolt.Tx, st *format.State, events *bolt.Bucket, first, last uint64) (*format.Live, error) {
	live, complete, err := s.liveSet(tx, st)
	if err != nil {
		return nil, err
	}
	cur := s.cursor(events, st)
	var keys []uint64
	for ok := cur.Seek(first); ok && cur.Seq() <= last; ok = cur.NextValue() {
		v := cur.Value()
		inside := v.Key >= first && v.Last() <= last
		if (inside || complete) && !live.AnyIn(v.Key, v.Last()) {
			keys = append(keys, v.Key)
		}
	}
	if err := deleteKeys(events, keys); err != nil {
		return nil, err
	}
	return live, s.refreshOldest(tx, st, events, live)
}

// tighten moves b's First up and Last down to events b holds (in a value,
// not a hole) and drops the holes outside; it returns false when b holds
// none, or when a key that is not a sequence number stops the walk (the
// batch's end would be unknown, and the events past it taken for gone).
func (s *Stream) tighten(events *bolt.Bucket, st *format.State, b *Batch) bool {
	fb := (*format.Batch)(b)
	cur := s.cursor(events, st)
	first, last, found := uint64(0), uint64(0), false
	for ok := cur.Seek(b.First); ok && cur.Seq() <= b.Last; ok = cur.Next() {
		if seq := cur.Seq(); fb.Holds(seq) {
			if !found {
				first, found = seq, true
			}
			last = seq
		}
	}
	if !found || cur.Err() != nil {
		return false
	}
	b.First, b.Last = first, last
	fb.ClipHoles()
	return true
}

// pruneHoles drops from b's holes what no value holds any more (settle
// deleted it): a hole is kept only while a value holds its events, so a
// batch of a format 1 file never stores one. It reports whether b changed.
// A key that is not a sequence number in the walk leaves the holes as
// they are: what the walk did not reach is not known to be gone.
func (s *Stream) pruneHoles(events *bolt.Bucket, st *format.State, b *Batch) bool {
	if len(b.Holes) == 0 {
		return false
	}
	before := slices.Clone(b.Holes)
	cur := s.cursor(events, st)
	(*format.Batch)(b).PruneHoles(func(lo, hi uint64) [][2]uint64 { return cur.Held(lo, hi) })
	if cur.Err() != nil {
		b.Holes = before
		return false
	}
	return !slices.Equal(before, b.Holes)
}

// eventAt positions a cursor at event seq and reports whether a value holds
// it.
func (s *Stream) eventAt(events *bolt.Bucket, st *format.State, seq uint64) (*format.EventCursor, bool) {
	cur := s.cursor(events, st)
	return cur, cur.Seek(seq) && cur.Seq() == seq
}

// deleteKeys deletes the values under keys (ascending).
//
// It deletes through a cursor: a Bucket.Delete per key would search the
// tree from its root each time. bbolt's cursor skips the key after a
// deleted one when the leaf was already changed earlier in the same
// transaction, so each key is checked and searched for again if the cursor
// went past it.
func deleteKeys(events *bolt.Bucket, keys []uint64) error {
	if len(keys) == 0 {
		return nil
	}
	c := events.Cursor()
	k, _ := c.Seek(format.SeqKey(keys[0]))
	for _, want := range keys {
		if seq, ok := format.ParseSeqKey(k); !ok || seq != want {
			if k, _ = c.Seek(format.SeqKey(want)); k == nil {
				return fmt.Errorf("wal: event %d vanished while deleting: %w", want, errCorruptBatch)
			}
			if seq, _ := format.ParseSeqKey(k); seq != want {
				return fmt.Errorf("wal: event %d vanished while deleting: %w", want, errCorruptBatch)
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
		k, _ = c.Next()
	}
	return nil
}
