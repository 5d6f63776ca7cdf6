package wal

import (
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// Batch is an in-flight batch: a run of consecutive events of one stream,
// cut from the pending events by Seal. Its ID stays the same until it is
// completed or dead-lettered, across retries, partial deliveries and
// restarts.
type Batch struct {
	Seq         uint64
	ID          string
	First       uint64 // first event still in the batch
	Last        uint64
	Count       int
	Bytes       int64
	Key         string
	Attempts    int   // failed attempts so far
	NextAttempt int64 // unix ns; 0 = now
	LastError   string
	SealedAt    int64
	Delivered   int // events completed by partial results
	// DeliveredBytes is the payload bytes of the Delivered events. A batch
	// record written before the field existed decodes with 0.
	DeliveredBytes int64
	// Holes are events of [First, Last] that left the batch early (a
	// per-event outcome, a dead letter, a quarantine) while the value
	// holding them stays, as [first, last] pairs, ascending; nil in a
	// format 1 file, where the events' keys are deleted. Count and Bytes
	// already leave them out.
	Holes []uint64
	// Sum is always 0 in a Batch the log returns, and callers never set
	// it: the file stores a CRC32C of the other fields, which is checked
	// (a batch whose fields fail it is store.ErrCorrupt) and cleared when
	// the record is read.
	Sum uint32
}

// NextAttemptTime returns when the batch may be dispatched again.
func (b *Batch) NextAttemptTime() time.Time {
	if b.NextAttempt == 0 {
		return time.Time{}
	}
	return time.Unix(0, b.NextAttempt)
}

// SealOptions bounds the batch Seal cuts.
type SealOptions struct {
	// MaxEvents is the most events in a batch (at least 1).
	MaxEvents int
	// MaxBytes is the most payload bytes in a batch; 0 = unlimited. A
	// single event larger than it still forms a batch of its own.
	MaxBytes int64
	// Force seals whatever is pending. Without it, Seal only cuts a batch
	// that can grow no more: MaxEvents reached, the next event would pass
	// MaxBytes, or the next event has a different key.
	Force bool
}

// SealResult is what Seal did.
type SealResult struct {
	// Batch is nil when nothing was sealed.
	Batch *Batch
	// Records are the batch's events, in order, with copied payloads.
	Records []Record
	// Quarantined counts pending records whose checksum failed; they were
	// moved to dead letters with reason "corrupt: ...", not dropped.
	Quarantined int
}

var errNothing = errors.New("nothing to seal")

// Seal cuts the next batch from the pending events: a run of consecutive
// events with the same key, at most opts.MaxEvents events and
// opts.MaxBytes payload bytes. The batch and the counters are committed in
// one transaction before Seal returns, so after a crash the batch is
// dispatched again with the same ID.
func (s *Stream) Seal(opts SealOptions) (SealResult, error) {
	if opts.MaxEvents < 1 {
		opts.MaxEvents = 1
	}
	var res SealResult
	err := s.l.write(s, func(tx *bolt.Tx, st *format.State) error {
		res = SealResult{}
		return s.sealIn(tx, st, opts, &res)
	}, nil)
	if errors.Is(err, errNothing) {
		return SealResult{}, nil
	}
	if err != nil {
		return SealResult{}, fmt.Errorf("wal: seal %q: %w", s.name, err)
	}
	return res, nil
}

// maxSealCap bounds the records sealIn makes room for at once: a batch
// with more events (a large MaxEvents, MaxBytes cutting it short or not)
// grows its slice as it goes.
const maxSealCap = 4096

// sealIn is Seal's work inside tx, on st (the state as of tx). It returns
// errNothing, refused (see refuse) and having changed nothing, when there
// is no batch to cut and no corrupt record to quarantine.
//
// Records that fail their checksum are moved to dead letters with reason
// "corrupt: ..." as the walk meets them: those among the batch's events
// as holes of the new batch, the others by moving SealedThrough past them.
// When no batch is cut, only those before the first sound event go (the
// sound ones stay pending, and SealedThrough cannot pass them); the rest
// wait for the seal that cuts their batch.
func (s *Stream) sealIn(tx *bolt.Tx, st *format.State, opts SealOptions, res *SealResult) error {
	if st.PendingCount == 0 {
		return refuse(errNothing)
	}
	events, err := s.sub(tx, format.BucketEvents)
	if err != nil {
		return refuse(err)
	}
	type bad struct {
		seq      uint64
		rec      []byte
		reason   string
		appended uint64
		stored   uint64
	}
	var bads []bad
	// Sized for a full batch (the usual case, and at most the pending
	// events): growing it by appends allocated and copied it about twice.
	recs := make([]Record, 0, min(uint64(opts.MaxEvents), st.PendingCount, maxSealCap))
	var bytes int64
	complete, end := false, st.SealedThrough
	cur := s.cursor(events, st)
	for ok := cur.Seek(st.SealedThrough + 1); ok; ok = cur.Next() {
		v, i := cur.Value(), cur.Index()
		fr, derr := v.Event(i)
		if derr != nil {
			bads = append(bads, bad{cur.Seq(), v.Envelope(i), "corrupt: " + derr.Error(), v.AppendedBytes(i), v.DeadBytes(i)})
			continue
		}
		r := fromFormat(fr)
		if len(recs) > 0 && (r.Key != recs[0].Key || len(recs) >= opts.MaxEvents ||
			(opts.MaxBytes > 0 && bytes+int64(len(r.Payload)) > opts.MaxBytes)) {
			complete = true
			break
		}
		recs = append(recs, r)
		bytes += int64(len(r.Payload))
		end = r.Seq
	}
	if err := cur.Err(); err != nil {
		return refuse(fmt.Errorf("wal: stream %q: %w", s.name, err))
	}
	if len(recs) >= opts.MaxEvents {
		complete = true
	}
	cut := len(recs) > 0 && (complete || opts.Force)
	switch {
	case cut:
		// Corrupt records after the batch's last event and before the
		// one that ended it go too: SealedThrough moves past them.
		if len(bads) > 0 {
			end = max(end, bads[len(bads)-1].seq)
		}
	case len(recs) == 0:
		// Only corrupt records are pending: all of them go.
		end = st.NextSeq - 1
	default:
		// An incomplete batch: the corrupt records before its first event go.
		bads = slices.DeleteFunc(bads, func(b bad) bool { return b.seq > recs[0].Seq })
		end = st.SealedThrough
		if len(bads) > 0 {
			end = bads[len(bads)-1].seq
		}
	}
	if !cut && len(bads) == 0 {
		return refuse(errNothing)
	}
	dead, err := s.sub(tx, format.BucketDead)
	if err != nil {
		return refuse(err)
	}
	now := time.Now().UnixNano()
	for _, b := range bads {
		if err := putDead(dead, format.SeqKey(b.seq), &format.DeadRecord{Record: b.rec, Reason: b.reason, At: now}); err != nil {
			return err
		}
		quarantined(st, b.appended, b.stored)
	}
	res.Quarantined = len(bads)
	from := st.SealedThrough + 1
	sealedThrough(st, end)
	if !cut {
		_, err := s.settle(tx, st, events, from, end)
		return err
	}
	// Copy payloads out of the mmap into one slab.
	slab := make([]byte, 0, bytes)
	for i := range recs {
		start := len(slab)
		slab = append(slab, recs[i].Payload...)
		recs[i].Payload = slab[start:len(slab):len(slab)]
	}
	b := &Batch{
		Seq: st.NextBatch, First: recs[0].Seq, Last: recs[len(recs)-1].Seq,
		Count: len(recs), Bytes: bytes, Key: recs[0].Key, SealedAt: time.Now().UnixNano(),
	}
	b.ID = s.BatchID(b.Seq)
	for _, bd := range bads {
		if bd.seq > b.First && bd.seq < b.Last {
			(*format.Batch)(b).AddHole(bd.seq)
		}
	}
	if err := s.putBatch(tx, b); err != nil {
		return err
	}
	sealed(st, uint64(b.Count), uint64(b.Bytes))
	if len(bads) > 0 {
		if _, err := s.settle(tx, st, events, from, st.SealedThrough); err != nil {
			return err
		}
		if s.pruneHoles(events, st, b) {
			if err := s.putBatch(tx, b); err != nil {
				return err
			}
		}
	}
	res.Batch, res.Records = b, recs
	return nil
}

func (s *Stream) putBatch(tx *bolt.Tx, b *Batch) error {
	bb, err := s.sub(tx, format.BucketBatches)
	if err != nil {
		return err
	}
	v, err := encodeBatch(b)
	if err != nil {
		return err
	}
	return bb.Put(format.SeqKey(b.Seq), v)
}

// encodeBatch returns the stored form of b, with its checksum.
func encodeBatch(b *Batch) ([]byte, error) { return format.EncodeBatch((*format.Batch)(b)) }

func (s *Stream) getBatch(tx *bolt.Tx, seq uint64) (*Batch, error) {
	bb, err := s.sub(tx, format.BucketBatches)
	if err != nil {
		return nil, err
	}
	v := bb.Get(format.SeqKey(seq))
	if v == nil {
		return nil, fmt.Errorf("%w: stream %q batch %s", ErrNoBatch, s.name, s.BatchID(seq))
	}
	return s.decodeBatch(seq, v)
}

func (s *Stream) decodeBatch(seq uint64, v []byte) (*Batch, error) {
	b, err := format.DecodeBatch(s.uid, seq, v)
	if err != nil {
		return nil, fmt.Errorf("wal: stream %q: %w", s.name, err)
	}
	return (*Batch)(b), nil
}
