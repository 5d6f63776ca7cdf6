package recovery

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/wal"
)

var errNoChange = errors.New("nothing to change")

// batchFix is a change Plan makes to a batch record: rewrite it (b set) or
// delete it (b nil).
type batchFix struct {
	seq uint64
	b   *format.Batch
}

func applyFixes(tx *bolt.Tx, s *wal.Stream, fixes []batchFix) error {
	rs, ok := format.RawStreamOf(tx, s.Name())
	if !ok || rs.Batches == nil {
		return fmt.Errorf("stream %q lost its batches bucket", s.Name())
	}
	for _, f := range fixes {
		if f.b == nil {
			if err := rs.Batches.Delete(format.SeqKey(f.seq)); err != nil {
				return err
			}
			continue
		}
		v, err := format.EncodeBatch(f.b)
		if err != nil {
			return err
		}
		if err := rs.Batches.Put(format.SeqKey(f.seq), v); err != nil {
			return err
		}
	}
	return nil
}

// planStream reads what Plan reads (see Plan) and updates st with the
// fixes it can prove; the batch records to change are returned. Each fix
// is listed in Repaired with prefix. runs is whether the file may hold
// runs (format version 2 or later).
func planStream(tx *bolt.Tx, s *wal.Stream, st *format.State, prefix string, runs bool) (StreamRecovery, []batchFix) {
	name := s.Name()
	sr := StreamRecovery{Stream: name}
	ps := &problems{}
	fixed := func(format string, args ...any) {
		sr.Repaired = append(sr.Repaired, prefix+fmt.Sprintf(format, args...))
	}
	rs, ok := format.RawStreamOf(tx, name)
	if !ok || rs.Events == nil || rs.Batches == nil || rs.Dead == nil || rs.Done == nil {
		ps.add(KindBucket, name, 0, "stream buckets missing")
		sr.Problems = ps.list
		return sr, nil
	}
	var fixes []batchFix
	var counted []*format.Batch // as fixed
	ev := format.Events{Bucket: rs.Events, UID: s.UID(), Runs: runs, Last: max(st.NextSeq, 1) - 1}
	scanned := format.ScanBatches(ev, rs.Batches)
	for _, bs := range scanned.Scans {
		seq := bs.Seq
		switch {
		case len(bs.Key) != 8:
			ps.add(KindBatch, name, 0, "batch key %x is not 8 bytes", bs.Key)
			continue
		case bs.Err != nil:
			ps.add(KindBatch, name, seq, "%v (not dispatched)", bs.Err)
			continue
		case bs.Flaw == format.FlawEmptyRange:
			ps.add(KindBatch, name, seq, "batch %s: range [%d, %d] is empty or reversed (not dispatched)", bs.Batch.ID, bs.Batch.First, bs.Batch.Last)
			continue
		case bs.Flaw == format.FlawOverlaps:
			ps.add(KindBatch, name, seq, "batch %s: range [%d, %d] overlaps an earlier batch (not dispatched)", bs.Batch.ID, bs.Batch.First, bs.Batch.Last)
			continue
		}
		b, h := *bs.Batch, bs.Held
		if b.Last > st.SealedThrough {
			ps.add(KindSealed, name, seq, "batch %s: range [%d, %d] ends above SealedThrough %d", b.ID, b.First, b.Last, st.SealedThrough)
		}
		for _, k := range h.Odd {
			ps.add(KindRecord, name, 0, "in batch %s: key %x is not an event (a bucket, or not 8 bytes)", b.ID, k)
		}
		for _, c := range h.Corrupt {
			ps.add(KindRecord, name, c.Seq, "in batch %s: %v", b.ID, c.Err)
		}
		if h.Count == 0 {
			fixed("dropped batch %s: its range [%d, %d] holds no events", b.ID, b.First, b.Last)
			fixes = append(fixes, batchFix{seq: seq})
			continue
		}
		if !bs.Tight() || !bs.Agrees() || !bs.HolesHeld() {
			fixed("batch %s: range [%d, %d] %d events %d bytes -> [%d, %d] %d events %d bytes",
				b.ID, b.First, b.Last, b.Count, b.Bytes, h.First, h.Last, h.Count, h.Bytes)
			if !bs.HolesHeld() {
				fixed("batch %s: holes %v -> %v (a hole is kept only while a value holds it)", b.ID, b.Holes, h.Holes)
			}
			b.First, b.Last, b.Count, b.Bytes, b.Holes = h.First, h.Last, h.Count, h.Bytes, h.Holes
			(&b).ClipHoles()
			fixes = append(fixes, batchFix{seq: seq, b: &b})
		}
		counted = append(counted, &b)
		sr.Redispatch = append(sr.Redispatch, wal.Batch(b))
	}
	set := func(field string, p *uint64, v uint64) {
		if *p != v {
			fixed("%s %d -> %d", field, *p, v)
			*p = v
		}
	}
	// The in-flight counters are not set here: they are derived from the
	// batch records as fixed (format.DeriveState, when RewriteStream
	// stores the fixes).

	lastKey := func(b *bolt.Bucket) uint64 {
		k, _ := b.Cursor().Last()
		seq, _ := format.ParseSeqKey(k)
		return seq
	}
	lastEvent := lastKey(rs.Events)
	if runs {
		// The last value may hold events after its key.
		c := rs.Events.Cursor()
		if k, v := c.Last(); v != nil {
			if seq, ok := format.ParseSeqKey(k); ok {
				val := format.ParseValue(s.UID(), seq, v, true, 0)
				lastEvent = val.Last()
			}
		}
	}
	if next := max(lastEvent, lastKey(rs.Dead), st.SealedThrough) + 1; st.NextSeq < next {
		set("NextSeq", &st.NextSeq, next)
	}
	if next := max(lastKey(rs.Batches), lastKey(rs.Done)) + 1; st.NextBatch < next {
		set("NextBatch", &st.NextBatch, next)
	}
	var requeued []format.RequeuedRun // format 2 keeps none (a record left is Verify's to report)
	var rerr error
	if !runs {
		requeued, rerr = format.DecodeRequeuedRuns(rs.Requeued)
	}
	if rerr != nil {
		ps.add(KindCounter, name, 0, "%v (OldestNanos not checked)", rerr)
	} else if oldest, _ := format.NewLive(st.SealedThrough, counted).OldestLive(ev.Cursor(), requeued); st.OldestNanos != oldest {
		fixed("OldestNanos %d -> %d", st.OldestNanos, oldest)
		st.OldestNanos = oldest
	}
	// A key that is not an event's counts as an event here, as it does
	// for package wal's reads of the range.
	if cur := ev.Cursor(); !cur.Seek(st.SealedThrough+1) && cur.Err() == nil {
		set("PendingCount", &st.PendingCount, 0)
		set("PendingBytes", &st.PendingBytes, 0)
	} else if st.PendingCount == 0 {
		ps.add(KindCounter, name, 0, "PendingCount is 0 but events above SealedThrough %d exist", st.SealedThrough)
	}
	if k, _ := rs.Dead.Cursor().First(); k == nil {
		set("DeadCount", &st.DeadCount, 0)
		set("DeadBytes", &st.DeadBytes, 0)
	} else if st.DeadCount == 0 {
		ps.add(KindCounter, name, 0, "DeadCount is 0 but dead letters exist")
	}
	sr.Problems = ps.list
	return sr, fixes
}
