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
// is listed in Repaired with prefix.
func planStream(tx *bolt.Tx, s *wal.Stream, st *format.State, prefix string) (StreamRecovery, []batchFix) {
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
	var prevLast, nb, sumCount, sumBytes uint64
	events := rs.Events.Cursor()
	c := rs.Batches.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, ok := format.ParseSeqKey(k)
		if !ok {
			ps.add(KindBatch, name, 0, "batch key %x is not 8 bytes", k)
			continue
		}
		b, err := format.DecodeBatch(s.UID(), seq, v)
		switch {
		case err != nil:
			ps.add(KindBatch, name, seq, "%v (not dispatched)", err)
			continue
		case b.First == 0 || b.First > b.Last:
			ps.add(KindBatch, name, seq, "batch %s: range [%d, %d] is empty or reversed (not dispatched)", b.ID, b.First, b.Last)
			continue
		case b.First <= prevLast:
			ps.add(KindBatch, name, seq, "batch %s: range [%d, %d] overlaps an earlier batch (not dispatched)", b.ID, b.First, b.Last)
			continue
		}
		if b.Last > st.SealedThrough {
			ps.add(KindSealed, name, seq, "batch %s: range [%d, %d] ends above SealedThrough %d", b.ID, b.First, b.Last, st.SealedThrough)
		}
		var count int
		var bytes int64
		var first, last uint64
		for ek, ev := events.Seek(format.SeqKey(b.First)); ek != nil; ek, ev = events.Next() {
			eseq, _ := format.ParseSeqKey(ek)
			if eseq > b.Last {
				break
			}
			if count == 0 {
				first = eseq
			}
			last = eseq
			count++
			bytes += int64(format.RecordBytes(ev))
			if _, err := format.DecodeRecord(eseq, ev); err != nil {
				ps.add(KindRecord, name, eseq, "in batch %s: %v", b.ID, err)
			}
		}
		if count == 0 {
			fixed("dropped batch %s: its range [%d, %d] holds no events", b.ID, b.First, b.Last)
			fixes = append(fixes, batchFix{seq: seq})
			continue
		}
		if count != b.Count || bytes != b.Bytes || first != b.First || last != b.Last {
			fixed("batch %s: range [%d, %d] %d events %d bytes -> [%d, %d] %d events %d bytes",
				b.ID, b.First, b.Last, b.Count, b.Bytes, first, last, count, bytes)
			b.First, b.Last, b.Count, b.Bytes = first, last, count, bytes
			fixes = append(fixes, batchFix{seq: seq, b: b})
		}
		prevLast = b.Last
		nb++
		sumCount += uint64(count)
		sumBytes += uint64(bytes)
		sr.Redispatch = append(sr.Redispatch, wal.Batch(*b))
	}
	set := func(field string, p *uint64, v uint64) {
		if *p != v {
			fixed("%s %d -> %d", field, *p, v)
			*p = v
		}
	}
	set("InflightBatches", &st.InflightBatches, nb)
	set("InflightCount", &st.InflightCount, sumCount)
	set("InflightBytes", &st.InflightBytes, sumBytes)

	lastKey := func(b *bolt.Bucket) uint64 {
		k, _ := b.Cursor().Last()
		seq, _ := format.ParseSeqKey(k)
		return seq
	}
	if next := max(lastKey(rs.Events), lastKey(rs.Dead), st.SealedThrough) + 1; st.NextSeq < next {
		set("NextSeq", &st.NextSeq, next)
	}
	if next := max(lastKey(rs.Batches), lastKey(rs.Done)) + 1; st.NextBatch < next {
		set("NextBatch", &st.NextBatch, next)
	}
	if runs, err := format.DecodeRequeuedRuns(rs.Requeued); err != nil {
		ps.add(KindCounter, name, 0, "%v (OldestNanos not checked)", err)
	} else if oldest := format.OldestTime(rs.Events, runs); st.OldestNanos != oldest {
		fixed("OldestNanos %d -> %d", st.OldestNanos, oldest)
		st.OldestNanos = oldest
	}
	if k, _ := events.Seek(format.SeqKey(st.SealedThrough + 1)); k == nil {
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
