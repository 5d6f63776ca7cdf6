package wal

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/store"
)

// ForEachEvent calls fn for each event with from <= Seq <= to (to 0: no
// upper bound) in sequence order, pending and in flight alike, on a
// consistent snapshot. It streams from the file: memory does not grow with
// the backlog. A record that fails to decode is passed with its error (and
// Seq set) instead of stopping the walk. The record's Payload is valid only
// during the call. fn's error stops the walk and is returned.
func (s *Stream) ForEachEvent(from, to uint64, fn func(r Record, err error) error) error {
	return storetx.View(s.l.db, func(tx *bolt.Tx) error {
		events, err := s.sub(tx, format.BucketEvents)
		if err != nil {
			return err
		}
		st := s.current()
		live, _, err := s.liveSet(tx, &st)
		if err != nil {
			return err
		}
		cur := s.cursor(events, &st)
		for ok := cur.Seek(from); ok; ok = cur.Next() {
			seq := cur.Seq()
			if to != 0 && seq > to {
				return nil
			}
			if !live.Has(seq) {
				continue
			}
			r, derr := cur.Event()
			if err := fn(fromFormat(r), derr); err != nil {
				return err
			}
		}
		if err := cur.Err(); err != nil {
			return fmt.Errorf("wal: stream %q: %w", s.name, err)
		}
		return nil
	})
}

// Batches returns the in-flight batches in sequence (sealing) order.
func (s *Stream) Batches() ([]Batch, error) {
	var out []Batch
	err := storetx.View(s.l.db, func(tx *bolt.Tx) error {
		bb, err := s.sub(tx, format.BucketBatches)
		if err != nil {
			return err
		}
		return bb.ForEach(func(k, v []byte) error {
			seq, _ := format.ParseSeqKey(k)
			b, err := s.decodeBatch(seq, v)
			if err != nil {
				return err
			}
			out = append(out, *b)
			return nil
		})
	})
	return out, err
}

// InFlight returns the in-flight batch with sequence number seq, or
// ErrNoBatch.
func (s *Stream) InFlight(seq uint64) (*Batch, error) {
	var b *Batch
	err := storetx.View(s.l.db, func(tx *bolt.Tx) error {
		var err error
		b, err = s.getBatch(tx, seq)
		return err
	})
	return b, err
}

// ReadBatch returns the events of an in-flight batch, with copied payloads:
// what a processor dispatches again after a restart. Records that fail
// their checksum are returned in bad (by sequence number) rather than
// silently skipped; the caller decides (the processor dead-letters them).
// A key in the batch's range that is not a sequence number (damage) is an
// error wrapping store.ErrCorrupt: the events past it were not read.
func (s *Stream) ReadBatch(b *Batch) (recs []Record, bad []uint64, err error) {
	err = storetx.View(s.l.db, func(tx *bolt.Tx) error {
		events, err := s.sub(tx, format.BucketEvents)
		if err != nil {
			return err
		}
		st := s.current()
		fb := (*format.Batch)(b)
		cur := s.cursor(events, &st)
		for ok := cur.Seek(b.First); ok && cur.Seq() <= b.Last; ok = cur.Next() {
			seq := cur.Seq()
			if !fb.Holds(seq) {
				continue
			}
			fr, derr := cur.Event()
			r := fromFormat(fr)
			if derr != nil {
				bad = append(bad, seq)
				continue
			}
			r.Payload = append([]byte(nil), r.Payload...)
			if recs == nil {
				recs = make([]Record, 0, min(max(b.Count, 1), maxSealCap))
			}
			recs = append(recs, r)
		}
		if err := cur.Err(); err != nil {
			return fmt.Errorf("wal: stream %q batch %s: %w", s.name, b.ID, err)
		}
		return nil
	})
	return recs, bad, err
}

// ForEachCompletion calls fn for each kept completion record, oldest first.
func (s *Stream) ForEachCompletion(fn func(Completion) error) error {
	return storetx.View(s.l.db, func(tx *bolt.Tx) error {
		done, err := s.sub(tx, format.BucketDone)
		if err != nil {
			return err
		}
		return done.ForEach(func(k, v []byte) error {
			seq, ok := format.ParseSeqKey(k)
			if !ok {
				return fmt.Errorf("wal: stream %q: completion key %x: %w", s.name, k, store.ErrCorrupt)
			}
			c, err := format.DecodeCompletion(s.uid, seq, v)
			if err != nil {
				return fmt.Errorf("wal: stream %q: %w", s.name, err)
			}
			return fn(Completion(c))
		})
	})
}
