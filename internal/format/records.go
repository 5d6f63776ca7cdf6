package format

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/store"
)

// Batch is an in-flight batch record as stored under its sequence number in
// a stream's batches bucket (msgpack). wal.Batch has the same fields and
// converts to and from it.
type Batch struct {
	Seq            uint64 `msgpack:"seq"`
	ID             string `msgpack:"-"`
	First          uint64 `msgpack:"first"` // first event still in the batch
	Last           uint64 `msgpack:"last"`
	Count          int    `msgpack:"count"`
	Bytes          int64  `msgpack:"bytes"`
	Key            string `msgpack:"key"`
	Attempts       int    `msgpack:"attempts"` // failed attempts so far
	NextAttempt    int64  `msgpack:"next"`     // unix ns; 0 = now
	LastError      string `msgpack:"err"`
	SealedAt       int64  `msgpack:"sealed"`
	Delivered      int    `msgpack:"delivered"`                 // events completed by partial results
	DeliveredBytes int64  `msgpack:"delivered_bytes,omitempty"` // their payload bytes; 0 in older records
	// Holes are the events in [First, Last] that left the batch while a
	// run holding them stays (holes.go): [first, last] pairs, ascending,
	// disjoint, not touching, inside (First, Last). Absent in format 1
	// files, where an event leaves by its key's deletion.
	Holes []uint64 `msgpack:"holes,omitempty"`
	// Sum is the stored CRC32C of the other fields (see fieldsum.go; 0 in
	// a record written before it existed). EncodeBatch sets it;
	// DecodeBatch checks it and clears it.
	Sum uint32 `msgpack:"crc,omitempty"`
}

// EncodeBatch returns the stored form of b (stored under SeqKey(b.Seq)),
// with its checksum (b.Sum is not used). Holes of a shape DecodeBatch
// refuses are an error: no record is written that would read as corrupt.
func EncodeBatch(b *Batch) ([]byte, error) {
	if err := b.checkHoles(); err != nil {
		// DecodeBatch would refuse the record: a bug, never written.
		return nil, fmt.Errorf("wal: batch %d: refusing to write it: %v (%d numbers in %d..%d)", b.Seq, err, len(b.Holes), b.First, b.Last)
	}
	c := *b
	c.Sum = uint32(c.sum())
	return msgpack.Marshal(&c)
}

// DecodeBatch decodes a stored batch record kept under key seq and sets
// its ID. A record that does not decode, names another sequence number or
// fails its checksum is an error wrapping store.ErrCorrupt.
func DecodeBatch(uid [8]byte, seq uint64, v []byte) (*Batch, error) {
	var b Batch
	if err := unmarshal(v, &b); err != nil {
		return nil, fmt.Errorf("wal: batch %d does not decode: %v: %w", seq, err, store.ErrCorrupt)
	}
	if b.Seq != seq {
		return nil, fmt.Errorf("wal: batch record under key %d names batch %d: %w", seq, b.Seq, store.ErrCorrupt)
	}
	if !sumOK(b.Sum, b.sum()) {
		return nil, fmt.Errorf("wal: batch %d: its fields fail their checksum: %w", seq, store.ErrCorrupt)
	}
	if err := b.checkHoles(); err != nil {
		return nil, fmt.Errorf("wal: batch %d: %v: %w", seq, err, store.ErrCorrupt)
	}
	b.ID, b.Sum = BatchID(uid, seq), 0
	return &b, nil
}

// Completion is the audit record of a completed batch as stored under the
// batch's sequence number in the done bucket (msgpack). wal.Completion has
// the same fields and converts to and from it.
type Completion struct {
	Seq         uint64 `msgpack:"seq"`
	ID          string `msgpack:"-"`
	Count       int    `msgpack:"count"`    // events delivered
	Bytes       int64  `msgpack:"bytes"`    // their payload bytes
	Attempts    int    `msgpack:"attempts"` // the successful one included
	CompletedAt int64  `msgpack:"at"`
	// Sum is the stored CRC32C of the other fields (0 in a record written
	// before it existed). EncodeCompletion sets it; DecodeCompletion checks
	// it and clears it.
	Sum uint32 `msgpack:"crc,omitempty"`
}

// EncodeCompletion returns the stored form of c, with its checksum (c.Sum
// is not used).
func EncodeCompletion(c *Completion) ([]byte, error) {
	d := *c
	d.Sum = uint32(d.sum())
	return msgpack.Marshal(&d)
}

// DecodeCompletion decodes a stored completion record kept under key seq
// and sets its ID. A record that does not decode, names another batch or
// fails its checksum is an error wrapping store.ErrCorrupt.
func DecodeCompletion(uid [8]byte, seq uint64, v []byte) (Completion, error) {
	var c Completion
	if err := unmarshal(v, &c); err != nil {
		return c, fmt.Errorf("wal: completion record %d does not decode: %v: %w", seq, err, store.ErrCorrupt)
	}
	if c.Seq != seq {
		return c, fmt.Errorf("wal: completion record under key %d names batch %d: %w", seq, c.Seq, store.ErrCorrupt)
	}
	if !sumOK(c.Sum, c.sum()) {
		return c, fmt.Errorf("wal: completion record %d fails its checksum: %w", seq, store.ErrCorrupt)
	}
	c.ID, c.Sum = BatchID(uid, seq), 0
	return c, nil
}

// DeadRecord is a dead letter as stored under the event's key in the dead
// bucket (msgpack): the event's envelope, unchanged (its checksum still
// checks it), why it died, and the checksum of the other fields.
type DeadRecord struct {
	Record   []byte `msgpack:"rec"`
	Reason   string `msgpack:"reason"`
	BatchID  string `msgpack:"batch"`
	Attempts int    `msgpack:"attempts"`
	At       int64  `msgpack:"at"` // unix ns
	// Sum is the CRC32C of Reason, BatchID, Attempts and At as stored
	// (see fieldsum.go); 0 in a record written before it existed.
	// EncodeDeadRecord sets it; SumOK checks it.
	Sum uint32 `msgpack:"crc,omitempty"`
}

// EncodeDeadRecord returns the stored form of d, with its checksum (d.Sum
// is not used).
func EncodeDeadRecord(d *DeadRecord) ([]byte, error) {
	c := *d
	c.Sum = uint32(c.sum())
	return msgpack.Marshal(&c)
}

// DecodeDeadRecord decodes a stored dead letter; neither its envelope
// (decode it with DecodeRecord) nor its other fields (SumOK) are checked.
func DecodeDeadRecord(v []byte) (DeadRecord, error) {
	var d DeadRecord
	if err := unmarshal(v, &d); err != nil {
		return DeadRecord{}, fmt.Errorf("wal: dead letter does not decode: %v: %w", err, store.ErrCorrupt)
	}
	return d, nil
}

// SumOK reports whether the fields other than the envelope (Reason,
// BatchID, Attempts, At) match their checksum; a record written before
// dead letters had one passes.
func (d *DeadRecord) SumOK() bool { return sumOK(d.Sum, d.sum()) }
