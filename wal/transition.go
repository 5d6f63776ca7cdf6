package wal

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// Completion is the audit record kept for a completed batch. Count and
// Bytes are the whole batch, the events that earlier partial results
// delivered included (events quarantined as corrupt are not in it). A
// batch partly delivered before Batch.DeliveredBytes existed lacks the
// bytes of those parts.
type Completion struct {
	Seq         uint64
	ID          string
	Count       int   // events delivered
	Bytes       int64 // their payload bytes
	Attempts    int   // the successful one included
	CompletedAt int64
	// Sum is always 0 in a Completion the log returns: the file stores a
	// CRC32C of the other fields, checked (a record that fails it is
	// store.ErrCorrupt, and recovery.Repair drops it, as it is audit data
	// only) and cleared when the record is read.
	Sum uint32
}

// Complete marks an in-flight batch delivered: its remaining events and the
// batch are removed and a completion record is kept, in one transaction.
// It returns ErrNoBatch if the batch is not in flight.
func (s *Stream) Complete(batchSeq uint64) error {
	err := s.l.write(s, func(tx *bolt.Tx, st *format.State) error {
		b, err := s.getBatch(tx, batchSeq)
		if err != nil {
			return refuse(err)
		}
		return s.completeIn(tx, st, b)
	}, nil)
	if err != nil {
		return fmt.Errorf("wal: complete %q batch %d: %w", s.name, batchSeq, err)
	}
	return nil
}

// CompleteAndSeal is Complete(batchSeq) followed by Seal(opts), in one
// transaction: one commit (one pair of fsyncs under SyncAlways) instead of
// two, which is what a processor draining a backlog does after each
// delivery. Either both are committed or, on error, neither is. When there
// is nothing to seal the completion is still committed and the result has
// no batch.
func (s *Stream) CompleteAndSeal(batchSeq uint64, opts SealOptions) (SealResult, error) {
	if opts.MaxEvents < 1 {
		opts.MaxEvents = 1
	}
	var res SealResult
	err := s.l.write(s, func(tx *bolt.Tx, st *format.State) error {
		res = SealResult{}
		b, err := s.getBatch(tx, batchSeq)
		if err != nil {
			return refuse(err)
		}
		if err := s.completeIn(tx, st, b); err != nil {
			return err
		}
		if err := s.sealIn(tx, st, opts, &res); err != nil && !errors.Is(err, errNothing) {
			return afterWrite(err)
		}
		return nil
	}, nil)
	if err != nil {
		return SealResult{}, fmt.Errorf("wal: complete %q batch %d and seal: %w", s.name, batchSeq, err)
	}
	return res, nil
}

// MoveResult is what Move did.
type MoveResult struct {
	// Missing are the batches given to complete that were not in flight
	// (ErrNoBatch), in the order given: nothing was done for them.
	Missing []uint64
	// Sealed is one result per seal that cut a batch, in order, and last
	// one that only quarantined records (no Batch), if any.
	Sealed []SealResult
}

// Move completes the in-flight batches complete (in that order) and then
// seals a batch per element of seals (in that order, stopping at the first
// that cuts none), in one request to the writer: one transaction, one
// commit (one pair of fsyncs under SyncAlways) for all of them. A
// processor's loop moves every batch delivered since its last request and
// the batches it seals ahead this way, so a draining backlog costs one
// commit per several batches. A batch given that is not in flight is
// left out (MoveResult.Missing), as Complete would refuse it alone.
// Either everything is committed or, on error, nothing is. With nothing to
// complete and nothing to seal, Move writes nothing and returns no error.
func (s *Stream) Move(complete []uint64, seals []SealOptions) (MoveResult, error) {
	var res MoveResult
	err := s.l.write(s, func(tx *bolt.Tx, st *format.State) error {
		res = MoveResult{}
		wrote := false
		// fail returns err as a refusal while nothing was written, else as
		// an error that rolls the group back.
		fail := func(err error) error {
			if wrote {
				return afterWrite(err)
			}
			return err
		}
		for _, seq := range complete {
			b, err := s.getBatch(tx, seq)
			if errors.Is(err, ErrNoBatch) {
				res.Missing = append(res.Missing, seq)
				continue
			}
			if err != nil {
				return fail(refuse(err))
			}
			if err := s.completeIn(tx, st, b); err != nil {
				return err
			}
			wrote = true
		}
		for _, opts := range seals {
			opts.MaxEvents = max(opts.MaxEvents, 1)
			var r SealResult
			err := s.sealIn(tx, st, opts, &r)
			if errors.Is(err, errNothing) {
				break
			}
			if err != nil {
				return fail(err)
			}
			wrote = true
			res.Sealed = append(res.Sealed, r)
			if r.Batch == nil {
				break
			}
		}
		if !wrote {
			return refuse(errNothing)
		}
		return nil
	}, nil)
	if errors.Is(err, errNothing) {
		return res, nil
	}
	if err != nil {
		return MoveResult{}, fmt.Errorf("wal: move %q: %w", s.name, err)
	}
	return res, nil
}

// completeIn is Complete's work inside tx on in-flight batch b as stored,
// on st (the state as of tx).
func (s *Stream) completeIn(tx *bolt.Tx, st *format.State, b *Batch) error {
	events, err := s.sub(tx, format.BucketEvents)
	if err != nil {
		return err
	}
	bb, _ := s.sub(tx, format.BucketBatches)
	if err := bb.Delete(format.SeqKey(b.Seq)); err != nil {
		return err
	}
	completed(st, uint64(b.Count), uint64(b.Bytes))
	if _, err := s.settle(tx, st, events, b.First, b.Last); err != nil {
		return err
	}
	return s.recordDone(tx, st, b)
}

// CompletePartial marks the first n events of an in-flight batch delivered:
// they are removed and the rest stay in flight under the same batch ID,
// attempt count and retry schedule. n at or past the batch's count is a full
// Complete. It returns the batch as it now stands (nil after a full
// Complete).
func (s *Stream) CompletePartial(batchSeq uint64, n int) (*Batch, error) {
	if n <= 0 {
		return s.InFlight(batchSeq)
	}
	var out *Batch
	err := s.l.write(s, func(tx *bolt.Tx, st *format.State) error {
		out = nil
		b, err := s.getBatch(tx, batchSeq)
		if err != nil {
			return refuse(err)
		}
		if n >= b.Count {
			return s.completeIn(tx, st, b)
		}
		events, err := s.sub(tx, format.BucketEvents)
		if err != nil {
			return refuse(err)
		}
		fb := (*format.Batch)(b)
		taken, next, found := 0, uint64(0), false
		var bytes uint64
		cur := s.cursor(events, st)
		for ok := cur.Seek(b.First); ok && cur.Seq() <= b.Last; ok = cur.Next() {
			if !fb.Holds(cur.Seq()) {
				continue
			}
			if taken == n {
				next, found = cur.Seq(), true
				break
			}
			taken++
			bytes += cur.Value().AppendedBytes(cur.Index()) // what the counters took at append, also for a record damaged since
		}
		if !found {
			return refuse(fmt.Errorf("wal: batch %s lost its tail: %w", b.ID, errCorruptBatch))
		}
		first := b.First
		b.First = next
		fb.ClipHoles()
		b.Count -= taken
		b.Bytes -= int64(bytes)
		b.Delivered += taken
		b.DeliveredBytes += int64(bytes)
		completedPartial(st, uint64(taken), bytes)
		if err := s.putBatch(tx, b); err != nil {
			return err
		}
		if _, err := s.settle(tx, st, events, first, next-1); err != nil {
			return err
		}
		out = b
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("wal: partial complete %q batch %d: %w", s.name, batchSeq, err)
	}
	return out, nil
}

// Retry records a failed attempt of an in-flight batch: attempts counts it,
// next is when the batch may be dispatched again, lastErr says why it
// failed. All three survive a restart.
func (s *Stream) Retry(batchSeq uint64, next time.Time, lastErr string) (*Batch, error) {
	var out *Batch
	err := s.l.write(s, func(tx *bolt.Tx, _ *format.State) error {
		b, err := s.getBatch(tx, batchSeq)
		if err != nil {
			return refuse(err)
		}
		b.Attempts++
		b.NextAttempt = next.UnixNano()
		b.LastError = lastErr
		out = b
		return s.putBatch(tx, b)
	}, func() { s.counts.retried.Add(1) })
	if err != nil {
		return nil, fmt.Errorf("wal: retry %q batch %d: %w", s.name, batchSeq, err)
	}
	return out, nil
}

// DeadLetter moves the remaining events of an in-flight batch to the dead
// letter store with reason, and removes the batch, in one transaction.
// countAttempt adds the failed attempt that led here to the batch's count.
// A record that fails its checksum (damaged since it was sealed) goes with
// reason "corrupt: ..." instead, as QuarantineInFlight would move it, and
// DeadBytes counts it by its stored length.
func (s *Stream) DeadLetter(batchSeq uint64, reason string, countAttempt bool) error {
	err := s.l.write(s, func(tx *bolt.Tx, st *format.State) error {
		b, err := s.getBatch(tx, batchSeq)
		if err != nil {
			return refuse(err)
		}
		if countAttempt {
			b.Attempts++
		}
		events, err := s.sub(tx, format.BucketEvents)
		if err != nil {
			return refuse(err)
		}
		dead, err := s.sub(tx, format.BucketDead)
		if err != nil {
			return refuse(err)
		}
		now := time.Now().UnixNano()
		var moved, deadBytes uint64
		fb := (*format.Batch)(b)
		cur := s.cursor(events, st)
		for ok := cur.Seek(b.First); ok && cur.Seq() <= b.Last; ok = cur.Next() {
			seq := cur.Seq()
			if !fb.Holds(seq) {
				continue
			}
			v, i := cur.Value(), cur.Index()
			d := format.DeadRecord{Record: v.Envelope(i), Reason: reason, BatchID: b.ID, Attempts: b.Attempts, At: now}
			if _, derr := v.Event(i); derr != nil {
				d.Reason = "corrupt: " + derr.Error()
			}
			if err := putDead(dead, format.SeqKey(seq), &d); err != nil {
				return err
			}
			moved++
			deadBytes += v.DeadBytes(i) // a record that does not decode counts its dead letter's length
		}
		if err := cur.Err(); err != nil {
			// The events past the key were not moved: the batch must stay.
			return fmt.Errorf("wal: stream %q batch %s: %w", s.name, b.ID, err)
		}
		bb, _ := s.sub(tx, format.BucketBatches)
		if err := bb.Delete(format.SeqKey(batchSeq)); err != nil {
			return err
		}
		deadLettered(st, uint64(b.Count), uint64(b.Bytes), moved, deadBytes)
		_, err = s.settle(tx, st, events, b.First, b.Last)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("wal: dead-letter %q batch %d: %w", s.name, batchSeq, err)
	}
	return nil
}

func (s *Stream) recordDone(tx *bolt.Tx, st *format.State, b *Batch) error {
	keep := uint64(s.l.opts.CompletedKeep)
	if keep == 0 {
		return nil
	}
	done, err := s.sub(tx, format.BucketDone)
	if err != nil {
		return err
	}
	c := Completion{Seq: b.Seq, Count: b.Count + b.Delivered, Bytes: b.Bytes + b.DeliveredBytes,
		Attempts: b.Attempts + 1, CompletedAt: time.Now().UnixNano()}
	v, err := format.EncodeCompletion((*format.Completion)(&c))
	if err != nil {
		return err
	}
	if err := done.Put(format.SeqKey(b.Seq), v); err != nil {
		return err
	}
	doneRecorded(st)
	for st.DoneRecords > keep {
		k, _ := done.Cursor().First()
		if k == nil {
			break
		}
		if err := done.Delete(k); err != nil {
			return err
		}
		doneDropped(st)
	}
	return nil
}
