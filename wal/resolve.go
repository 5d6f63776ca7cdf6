package wal

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// Resolve records the outcome of one attempt of an in-flight batch given
// per event, in one transaction: a crash leaves the batch either as it was
// before or as it is after, never in between.
//
//   - The events delivered names are completed: removed, and counted in
//     the batch's Delivered and DeliveredBytes and in CompletedEvents.
//   - The events dead names go to dead letters, each alone with its own
//     reason, the batch's ID and its attempts with this one counted (a
//     record that fails its checksum goes with reason "corrupt: ..." as
//     DeadLetterEvents would move it).
//   - The events of the batch neither names stay in it under the same ID,
//     in a range tightened to them (holes where events left are allowed):
//     the attempt is counted, next is when the batch may be dispatched
//     again, and lastErr says why it failed, as Retry records them.
//
// A sequence number outside the batch, or of an event no longer in it, is
// ignored; one in both lists is delivered. When no event is left the batch
// is removed: as a completion (CompletedBatches and a completion record,
// as Complete) when this attempt dead-lettered nothing, else as a dead
// letter would remove it. It returns the batch as it now stands, nil when
// it was removed.
func (s *Stream) Resolve(batchSeq uint64, delivered []uint64, dead []EventReason, next time.Time, lastErr string) (*Batch, error) {
	var out *Batch
	retried := false
	err := s.l.write(s, func(tx *bolt.Tx, st *format.State) error {
		out, retried = nil, false
		b, err := s.getBatch(tx, batchSeq)
		if err != nil {
			return refuse(err)
		}
		events, err := s.sub(tx, format.BucketEvents)
		if err != nil {
			return refuse(err)
		}
		deadB, err := s.sub(tx, format.BucketDead)
		if err != nil {
			return refuse(err)
		}
		first, last := b.First, b.Last
		fb := (*format.Batch)(b)
		for _, seq := range delivered {
			if !fb.Holds(seq) {
				continue
			}
			cur, held := s.eventAt(events, st, seq)
			if !held {
				continue
			}
			n := cur.Value().AppendedBytes(cur.Index()) // what the counters took at append, as deadOne: also for a record damaged since
			fb.AddHole(seq)
			b.Count--
			b.Bytes -= min(int64(n), b.Bytes)
			b.Delivered++
			b.DeliveredBytes += int64(n)
			completedPartial(st, 1, n)
		}
		attempts := b.Attempts + 1
		now := time.Now().UnixNano()
		deadBefore := st.DeadCount
		for _, ev := range dead {
			if err := s.deadOne(events, deadB, b, st, ev, attempts, now, false); err != nil {
				return err
			}
		}
		if b.Count <= 0 && st.DeadCount == deadBefore {
			// Everything left was delivered: a completion, of the
			// range the batch had.
			b.First, b.Last, b.Holes = first, last, nil
			return s.completeIn(tx, st, b)
		}
		if b.Count > 0 {
			b.Attempts = attempts
			b.NextAttempt = next.UnixNano()
			b.LastError = lastErr
			retried = true
		}
		out, err = s.shrunk(tx, events, b, st, first, last)
		return err
	}, func() {
		if retried {
			s.counts.retried.Add(1)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("wal: resolve %q batch %d: %w", s.name, batchSeq, err)
	}
	return out, nil
}
