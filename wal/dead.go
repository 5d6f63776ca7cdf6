package wal

import (
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/store"
)

func putDead(dead *bolt.Bucket, k []byte, d *format.DeadRecord) error {
	v, err := format.EncodeDeadRecord(d)
	if err != nil {
		return err
	}
	return dead.Put(append([]byte(nil), k...), v)
}

// DeadLetter is an event in the dead-letter store.
type DeadLetter struct {
	// Record is the event; Err is set instead when its envelope fails to
	// decode (a record quarantined as corrupt), and Raw holds its bytes.
	Record   Record
	Err      error
	Raw      []byte
	Reason   string
	BatchID  string
	Attempts int
	At       time.Time
}

var errCorruptBatch = errors.New("batch range points at missing events")

func decodeDead(seq uint64, v []byte) (DeadLetter, error) {
	d, err := format.DecodeDeadRecord(v)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("wal: dead letter %d: %w", seq, store.ErrCorrupt)
	}
	dl := DeadLetter{Reason: d.Reason, BatchID: d.BatchID, Attempts: d.Attempts, At: time.Unix(0, d.At)}
	dl.Record, dl.Err = decodeRecord(seq, d.Record)
	dl.Raw = append([]byte(nil), d.Record...)
	if dl.Err == nil {
		dl.Record.Payload = append([]byte(nil), dl.Record.Payload...)
	}
	return dl, nil
}

// ForEachDead calls fn for each dead letter in sequence order, on a
// consistent snapshot, until fn returns an error (which is returned).
func (s *Stream) ForEachDead(fn func(DeadLetter) error) error {
	return storetx.View(s.l.db, func(tx *bolt.Tx) error {
		dead, err := s.sub(tx, format.BucketDead)
		if err != nil {
			return err
		}
		return dead.ForEach(func(k, v []byte) error {
			seq, _ := format.ParseSeqKey(k)
			d, err := decodeDead(seq, v)
			if err != nil {
				return err
			}
			return fn(d)
		})
	})
}

// RequeueResult says what Requeue did.
type RequeueResult struct {
	Requeued int
	// Skipped are dead letters left in place because their record is
	// corrupt and cannot be dispatched.
	Skipped int
}

// Requeue moves dead letters back to pending, at the end of the stream, in
// one transaction. ids selects which (nil: all). Each event keeps its ID,
// enqueue time, key and payload; it gets a new sequence number. They go in
// enqueue-time order (ties in dead-letter order). For max-age flushing a
// requeued event counts as enqueued at the Requeue: the events before it
// are no younger than that (see the package documentation, Counters). In a
// format 1 file their keys are also recorded as a requeued run, so that
// the oldest of them counts for OldestNanos and OldestPendingTime at once,
// as walbatch 0.1.0 counts them. Corrupt records stay dead. Pending limits
// do not apply: these events were acknowledged before.
func (s *Stream) Requeue(ids []EventID) (RequeueResult, error) {
	var res RequeueResult
	want := map[EventID]bool{}
	for _, id := range ids {
		want[id] = true
	}
	err := s.l.write(s, func(tx *bolt.Tx, st *format.State) error {
		res = RequeueResult{}
		dead, err := s.sub(tx, format.BucketDead)
		if err != nil {
			return refuse(err)
		}
		events, err := s.sub(tx, format.BucketEvents)
		if err != nil {
			return refuse(err)
		}
		type move struct {
			key []byte
			rec []byte
			n   uint64
			t   int64 // enqueue time
		}
		var moves []move
		err = dead.ForEach(func(k, v []byte) error {
			seq, _ := format.ParseSeqKey(k)
			d, err := decodeDead(seq, v)
			if err != nil {
				return err
			}
			if ids != nil && (d.Err != nil || !want[d.Record.ID]) {
				return nil // not selected (a corrupt record has no ID to select it by)
			}
			if d.Err != nil {
				res.Skipped++
				return nil
			}
			moves = append(moves, move{append([]byte(nil), k...), d.Raw, uint64(len(d.Record.Payload)), d.Record.Time.UnixNano()})
			return nil
		})
		if err != nil {
			return refuse(err)
		}
		sort.SliceStable(moves, func(i, j int) bool { return moves[i].t < moves[j].t })
		first := st.NextSeq
		// In a file that holds runs the moved events form runs, each
		// keeping its ID (stored, as it is not the one its new sequence
		// number gives); else one envelope each.
		var run format.RunBuilder
		flush := func() error {
			if run.Len() == 0 {
				return nil
			}
			return events.Put(format.SeqKey(run.First()), run.AppendTo(make([]byte, 0, run.Size())))
		}
		for _, m := range moves {
			if err := dead.Delete(m.key); err != nil {
				return err
			}
			if s.l.runs {
				body := m.rec[:len(m.rec)-format.CRCSize] // a checked envelope: its body and ID
				if run.Len() > 0 && !run.Fits(body) {
					if err := flush(); err != nil {
						return err
					}
					run.Reset(s.uid, st.NextSeq)
				} else if run.Len() == 0 {
					run.Reset(s.uid, st.NextSeq)
				}
				run.Add(body)
			} else if err := events.Put(format.SeqKey(st.NextSeq), m.rec); err != nil {
				return err
			}
			requeued(st, m.n)
			res.Requeued++
		}
		if err := flush(); err != nil {
			return err
		}
		if len(moves) > 0 && !s.l.runs {
			if err := s.addRun(tx, st, events, first, st.NextSeq-1, moves[0].t); err != nil {
				return err
			}
		}
		live, _, err := s.liveSet(tx, st)
		if err != nil {
			return err
		}
		return s.refreshOldest(tx, st, events, live)
	}, nil)
	if err != nil {
		return res, fmt.Errorf("wal: requeue %q: %w", s.name, err)
	}
	if res.Requeued > 0 {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	return res, nil
}

// PurgeDead deletes every dead letter of the stream, in one transaction,
// and returns how many it deleted. There is no undo.
func (s *Stream) PurgeDead() (int, error) {
	n := 0
	err := s.l.write(s, func(tx *bolt.Tx, st *format.State) error {
		b, err := s.bucket(tx)
		if err != nil {
			return refuse(err)
		}
		dead := b.Bucket(format.BucketDead)
		if dead == nil {
			return refuse(fmt.Errorf("wal: stream %q has no dead bucket: %w", s.name, store.ErrCorrupt))
		}
		n = dead.Stats().KeyN
		if err := b.DeleteBucket(format.BucketDead); err != nil {
			return err
		}
		if _, err := b.CreateBucket(format.BucketDead); err != nil {
			return err
		}
		purgedAll(st)
		return nil
	}, nil)
	if err != nil {
		return 0, fmt.Errorf("wal: purge %q: %w", s.name, err)
	}
	return n, nil
}
