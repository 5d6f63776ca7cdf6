package wal

import (
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
)

// oldestMemo keeps OldestPendingTime's last answer in a format 2 file,
// with the state it was read under. There the first pending event is the
// first event after SealedThrough: appends add events after it, and only a
// seal (which moves SealedThrough) or a change of the dead letters (a
// quarantine during a seal, a requeue) can take it away or put another
// before it. So while both are what they were, the answer is the same, and
// the processor's loop, which asks after every commit that appended (for
// the max-age trigger), does not open a read transaction for each event.
type oldestMemo struct {
	mu     sync.Mutex
	sealed uint64 // State.SealedThrough when nanos was read
	dead   uint64 // State.DeadCount then
	nanos  int64  // 0: nothing kept
}

func (m *oldestMemo) get(st *format.State) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nanos != 0 && m.sealed == st.SealedThrough && m.dead == st.DeadCount {
		return m.nanos
	}
	return 0
}

func (m *oldestMemo) set(st *format.State, nanos int64) {
	m.mu.Lock()
	m.sealed, m.dead, m.nanos = st.SealedThrough, st.DeadCount, nanos
	m.mu.Unlock()
}

// OldestPendingTime returns the enqueue time of the first event not yet
// sealed into a batch (zero when none): what a max-age flush is measured
// from. In a format 1 file it is a requeued event's behind it when that is
// older. One cursor seek, O(log n), and in a format 2 file none while no
// seal or dead letter changed the stream since the last call (oldestMemo);
// in a format 1 file one more per requeued run still pending. See the
// package documentation, Counters, for why the first pending event is
// enough for max-age flushing.
func (s *Stream) OldestPendingTime() (time.Time, error) {
	if s.l.runs {
		st := s.current()
		if st.PendingCount == 0 {
			return time.Time{}, nil
		}
		if t := s.oldest.get(&st); t != 0 {
			return time.Unix(0, t), nil
		}
	}
	var t int64
	err := storetx.View(s.l.db, func(tx *bolt.Tx) error {
		st := s.current()
		if st.PendingCount == 0 {
			return nil
		}
		b, err := s.bucket(tx)
		if err != nil {
			return err
		}
		events, err := s.sub(tx, format.BucketEvents)
		if err != nil {
			return err
		}
		from := st.SealedThrough + 1
		cur := s.cursor(events, &st)
		if !cur.Seek(from) {
			return nil
		}
		t = cur.Value().Time(cur.Index())
		if s.l.runs {
			s.oldest.set(&st, t)
			return nil // format 2 keeps no runs
		}
		runs, err := format.LoadRuns(b)
		if err != nil {
			return nil // damaged: the first pending event's time (Verify reports it)
		}
		pending := format.NewLive(st.SealedThrough, nil)
		for _, r := range runs {
			if r.Last >= from && pending.FirstLive(cur, max(r.First, from), r.Last) {
				t = min(t, cur.Value().Time(cur.Index()))
			}
		}
		return nil
	})
	if err != nil || t == 0 {
		return time.Time{}, err
	}
	return time.Unix(0, t), nil
}

// QuarantineInFlight moves events of an in-flight batch whose records fail
// their checksum (as ReadBatch reported them) to dead letters with reason
// "corrupt: ...", and shrinks the batch to the rest, in one transaction.
// It returns the batch as it now stands, or nil when nothing was left in it
// (the batch is then removed).
func (s *Stream) QuarantineInFlight(batchSeq uint64, seqs []uint64) (*Batch, error) {
	evs := make([]EventReason, len(seqs))
	for i, seq := range seqs {
		evs[i].Seq = seq
	}
	out, err := s.moveToDead(batchSeq, evs, true)
	if err != nil {
		return nil, fmt.Errorf("wal: quarantine %q batch %d: %w", s.name, batchSeq, err)
	}
	return out, nil
}

// EventReason names an event of a batch and why it goes to dead letters.
type EventReason struct {
	Seq    uint64
	Reason string
}

// DeadLetterEvents moves some events of an in-flight batch to dead letters,
// each alone with its own reason (an event no dispatcher can be given, such
// as one whose payload does not decode), and shrinks the batch to the rest,
// in one transaction. A record that fails its checksum goes with reason
// "corrupt: ..." instead, as QuarantineInFlight would move it. Events that
// are not in the batch are left alone. The batch's attempts do not change:
// the events moved were not part of an attempt. It returns the batch as it
// now stands, or nil when nothing was left in it (the batch is then
// removed).
func (s *Stream) DeadLetterEvents(batchSeq uint64, evs []EventReason) (*Batch, error) {
	out, err := s.moveToDead(batchSeq, evs, false)
	if err != nil {
		return nil, fmt.Errorf("wal: dead-letter events of %q batch %d: %w", s.name, batchSeq, err)
	}
	return out, nil
}

// moveToDead moves the events evs names out of an in-flight batch into dead
// letters, and tightens the batch to the events left. With corruptOnly it
// moves only records that fail their checksum.
func (s *Stream) moveToDead(batchSeq uint64, evs []EventReason, corruptOnly bool) (*Batch, error) {
	var out *Batch
	err := s.l.write(s, func(tx *bolt.Tx, st *format.State) error {
		out = nil
		b, err := s.getBatch(tx, batchSeq)
		if err != nil {
			return refuse(err)
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
		first, last := b.First, b.Last
		for _, ev := range evs {
			if err := s.deadOne(events, dead, b, st, ev, b.Attempts, now, corruptOnly); err != nil {
				return err
			}
		}
		out, err = s.shrunk(tx, events, b, st, first, last)
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// deadOne moves event ev.Seq of in-flight batch b, if it is in b, into
// dead letters with ev.Reason (or "corrupt: ..." for a record that fails
// its checksum) and attempts, and takes it off b and st. With corruptOnly
// it moves only a record that fails its checksum.
func (s *Stream) deadOne(events, dead *bolt.Bucket, b *Batch, st *format.State, ev EventReason, attempts int, now int64, corruptOnly bool) error {
	seq := ev.Seq
	fb := (*format.Batch)(b)
	if !fb.Holds(seq) {
		return nil
	}
	cur, held := s.eventAt(events, st, seq)
	if !held {
		return nil
	}
	v, i := cur.Value(), cur.Index()
	reason := ev.Reason
	_, derr := v.Event(i)
	if derr != nil {
		reason = "corrupt: " + derr.Error()
	} else if corruptOnly {
		return nil
	}
	d := format.DeadRecord{Record: v.Envelope(i), Reason: reason, BatchID: b.ID, Attempts: attempts, At: now}
	if err := putDead(dead, format.SeqKey(seq), &d); err != nil {
		return err
	}
	fb.AddHole(seq)
	// Counters took the payload length at append; the dead store counts a
	// record by its payload length, one that does not decode by its
	// stored length.
	added := v.AppendedBytes(i)
	b.Count--
	b.Bytes -= min(int64(added), b.Bytes)
	deadLetteredOne(st, added, v.DeadBytes(i))
	return nil
}

// shrunk stores in-flight batch b after events were taken out of it (as
// holes) from its range [first, last]: b is removed when it holds none
// (and st counts one batch less), else its range is tightened to the
// events left and it is stored; then the values no live event is left in
// are deleted (settle) and b's holes pruned to what values still hold. It
// returns b as it now stands, nil when removed.
func (s *Stream) shrunk(tx *bolt.Tx, events *bolt.Bucket, b *Batch, st *format.State, first, last uint64) (*Batch, error) {
	bb, err := s.sub(tx, format.BucketBatches)
	if err != nil {
		return nil, err
	}
	if b.Count <= 0 {
		if err := bb.Delete(format.SeqKey(b.Seq)); err != nil {
			return nil, err
		}
		emptied(st)
		_, err := s.settle(tx, st, events, first, last)
		return nil, err
	}
	if !s.tighten(events, st, b) {
		return nil, fmt.Errorf("wal: batch %s: %w", b.ID, errCorruptBatch)
	}
	if err := s.putBatch(tx, b); err != nil {
		return nil, err
	}
	if _, err := s.settle(tx, st, events, first, last); err != nil {
		return nil, err
	}
	if s.pruneHoles(events, st, b) {
		if err := s.putBatch(tx, b); err != nil {
			return nil, err
		}
	}
	return b, nil
}
