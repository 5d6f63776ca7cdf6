package wal

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/store"
)

// This file gives package recovery (and walctl) read and repair access to
// the layout below the Stream API: the raw buckets of a stream, the
// persisted counters, and the encoders of batch, dead-letter and completion
// records. Ordinary users of the log do not need any of it.

// State is a stream's persisted counters, exactly as kept under the
// stream's "state" key. See Stats for what each counts; OldestNanos is the
// enqueue time of the oldest event in the events bucket: the earliest of
// the first event's (lowest key) and every requeued event's (see
// OldestTime and IsRequeued).
type State struct {
	NextSeq          uint64
	SealedThrough    uint64
	NextBatch        uint64
	PendingCount     uint64
	PendingBytes     uint64
	InflightBatches  uint64
	InflightCount    uint64
	InflightBytes    uint64
	DeadCount        uint64
	DeadBytes        uint64
	CompletedBatches uint64
	CompletedEvents  uint64
	OldestNanos      int64
	DoneRecords      uint64
	Created          int64
}

// DecodeState decodes a stored state record. A record of the wrong size is
// an error wrapping store.ErrCorrupt.
func DecodeState(b []byte) (State, error) {
	st, err := decodeState(b)
	return State(st), err
}

// Encode returns the stored form of s.
func (s State) Encode() []byte {
	st := streamState(s)
	return st.encode()
}

// State returns the stream's counters as last committed.
func (s *Stream) State() State { return State(s.current()) }

// UID returns the stream's random ID, the first half of every event ID and
// the prefix of every batch ID.
func (s *Stream) UID() [8]byte { return s.uid }

// Rewrite runs fn in a write transaction with a copy of the stream's
// committed counters. If fn returns nil, the counters fn leaves in st are
// stored in the same transaction and, once it commits, become the stream's
// in-memory state. fn may change anything in the stream's buckets (reach
// them with RawStreamOf); it must leave st describing what it leaves.
// Recovery uses it to repair what it finds at open.
func (s *Stream) Rewrite(fn func(tx *bolt.Tx, st *State) error) error {
	var st streamState
	err := s.l.update(func(tx *bolt.Tx) error {
		cur := State(s.current())
		if err := fn(tx, &cur); err != nil {
			return err
		}
		st = streamState(cur)
		return s.putState(tx, &st)
	}, func() { s.setState(st) })
	if err != nil {
		return fmt.Errorf("wal: rewrite %q: %w", s.name, err)
	}
	return nil
}

// RawStream is one stream's bucket in a transaction, with its parts looked
// up but not checked: a missing part is nil.
type RawStream struct {
	Name   string
	Bucket *bolt.Bucket
	UID    []byte // the "uid" value; valid when 8 bytes long
	State  []byte // the "state" value; decode with DecodeState
	// Requeued is the "requeued" value (nil when the stream has no
	// requeued events); decode with DecodeRequeuedRuns.
	Requeued []byte
	// The sub-buckets; nil when missing.
	Events, Batches, Dead, Done *bolt.Bucket
}

// SubBuckets are the names of the buckets every stream has.
var SubBuckets = []string{string(bucketEvents), string(bucketBatches), string(bucketDead), string(bucketDone)}

// RawStreams returns every stream in tx, in name order. A file without the
// streams bucket has none.
func RawStreams(tx *bolt.Tx) ([]RawStream, error) {
	root := tx.Bucket(bucketStreams)
	if root == nil {
		return nil, nil
	}
	var out []RawStream
	err := root.ForEachBucket(func(name []byte) error {
		out = append(out, rawStream(string(name), root.Bucket(name)))
		return nil
	})
	return out, err
}

// RawStreamOf returns the named stream in tx, or false if it has no bucket.
func RawStreamOf(tx *bolt.Tx, name string) (RawStream, bool) {
	root := tx.Bucket(bucketStreams)
	if root == nil {
		return RawStream{}, false
	}
	b := root.Bucket([]byte(name))
	if b == nil {
		return RawStream{}, false
	}
	return rawStream(name, b), true
}

// CreateRawStream creates an empty stream bucket holding only its
// sub-buckets (no uid, no state): the caller writes those.
func CreateRawStream(tx *bolt.Tx, name string) (RawStream, error) {
	root, err := tx.CreateBucketIfNotExists(bucketStreams)
	if err != nil {
		return RawStream{}, err
	}
	b, err := root.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return RawStream{}, err
	}
	if _, err := EnsureSubBuckets(b); err != nil {
		return RawStream{}, err
	}
	return rawStream(name, b), nil
}

func rawStream(name string, b *bolt.Bucket) RawStream {
	rs := RawStream{Name: name, Bucket: b}
	if b == nil {
		return rs
	}
	rs.UID, rs.State, rs.Requeued = b.Get(keyUID), b.Get(keyState), b.Get(keyRequeued)
	rs.Events, rs.Batches = b.Bucket(bucketEvents), b.Bucket(bucketBatches)
	rs.Dead, rs.Done = b.Bucket(bucketDead), b.Bucket(bucketDone)
	for _, sb := range []*bolt.Bucket{rs.Events, rs.Dead} {
		if sb != nil {
			sb.FillPercent = 1.0
		}
	}
	return rs
}

// EnsureSubBuckets creates whichever of a stream's sub-buckets b lacks and
// returns their names.
func EnsureSubBuckets(b *bolt.Bucket) ([]string, error) {
	var created []string
	for _, sub := range SubBuckets {
		if b.Bucket([]byte(sub)) != nil {
			continue
		}
		if _, err := b.CreateBucket([]byte(sub)); err != nil {
			return created, err
		}
		created = append(created, sub)
	}
	return created, nil
}

// PutUID stores a stream's random ID.
func (rs RawStream) PutUID(uid [8]byte) error {
	return rs.Bucket.Put(keyUID, append([]byte(nil), uid[:]...))
}

// PutState stores a stream's counters.
func (rs RawStream) PutState(st State) error { return rs.Bucket.Put(keyState, st.Encode()) }

// PutRequeuedRuns stores a stream's requeued runs, or deletes the value
// when there are none.
func (rs RawStream) PutRequeuedRuns(runs []RequeuedRun) error { return storeRuns(rs.Bucket, runs) }

// SeqKey returns the big-endian key of a sequence number.
func SeqKey(seq uint64) []byte { return u64key(seq) }

// ParseSeqKey reads a sequence key; false if it is not 8 bytes.
func ParseSeqKey(k []byte) (uint64, bool) { return keyU64(k) }

// RecordBytes is what a stored event envelope counts toward byte counters:
// its payload length if it decodes, else its stored length.
func RecordBytes(v []byte) uint64 { return recordBytes(v) }

// RecordTime reads an envelope's enqueue time (unix ns) without checking
// it: the value the OldestNanos counter takes from the first event and
// from requeued ones.
func RecordTime(v []byte) int64 { return recordTime(v) }

// FormatBatchID returns the stable ID of batch seq of the stream with uid.
func FormatBatchID(uid [8]byte, seq uint64) string { return formatBatchID(uid, seq) }

// DecodeBatch decodes a stored batch record kept under key seq. A record
// that does not decode, names another sequence number or fails its
// checksum is an error wrapping store.ErrCorrupt.
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
	b.ID, b.Sum = formatBatchID(uid, seq), 0
	return &b, nil
}

// EncodeBatch returns the stored form of b (stored under SeqKey(b.Seq)),
// with its checksum (b.Sum is not used).
func EncodeBatch(b *Batch) ([]byte, error) { return encodeBatch(b) }

// DeadRecord is a dead letter as stored: the event's envelope, unchanged,
// why it died, and the checksum of the other fields.
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

// DecodeDeadRecord decodes a stored dead letter; neither its envelope
// (decode it with DecodeRecord) nor its other fields (SumOK) are checked.
func DecodeDeadRecord(v []byte) (DeadRecord, error) {
	var d deadRecord
	if err := unmarshal(v, &d); err != nil {
		return DeadRecord{}, fmt.Errorf("wal: dead letter does not decode: %v: %w", err, store.ErrCorrupt)
	}
	return DeadRecord(d), nil
}

// SumOK reports whether the fields other than the envelope (Reason,
// BatchID, Attempts, At) match their checksum; a record written before
// dead letters had one passes.
func (d DeadRecord) SumOK() bool {
	dr := deadRecord(d)
	return sumOK(dr.Sum, dr.sum())
}

// EncodeDeadRecord returns the stored form of d, with its checksum (d.Sum
// is not used).
func EncodeDeadRecord(d DeadRecord) ([]byte, error) {
	dr := deadRecord(d)
	return encodeDead(&dr)
}

// DecodeCompletion decodes a stored completion record kept under key seq.
// A record that does not decode, names another batch or fails its
// checksum is an error wrapping store.ErrCorrupt.
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
	c.ID, c.Sum = formatBatchID(uid, seq), 0
	return c, nil
}

// appendedBytes is what Append added to PendingBytes for a stored envelope
// that may fail its checksum: the payload length its headers give, when
// they are consistent with its size (damage elsewhere, the usual case),
// else its stored length, which is what a scan counts for it.
func appendedBytes(v []byte) uint64 {
	if len(v) < timeOffset+9+crcSize || (v[0] != envArray && v[0] != envArrayHeaders) || v[1] != 0xc4 || v[2] != 16 || v[timeOffset-1] != 0xd3 {
		return uint64(len(v))
	}
	body := v[:len(v)-crcSize]
	kl, p, ok := readLen(body, timeOffset+8, true)
	if !ok || p+kl > len(body) {
		return uint64(len(v))
	}
	pl, p, ok := readLen(body, p+kl, false)
	if !ok || pl > len(body)-p || (p+pl != len(body) && v[0] == envArray) {
		return uint64(len(v))
	}
	return uint64(pl)
}
