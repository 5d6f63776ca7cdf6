package format

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/walbatch/walbatch/store"
)

// Run is a run value whose header and offsets table ParseRun checked. Its
// records are checked one at a time, by Event: a damaged record fails only
// itself. A Run aliases the value it was parsed from.
type Run struct {
	v        []byte
	uid      [8]byte
	firstSeq uint64
	count    int
	wide     bool
	recs     []byte // the records, after the offsets table
}

// ParseRun checks the header and offsets table of v, the run value stored
// under key firstSeq of the stream with uid uid: the version, the header
// checksum, a count of 1 to MaxRunEvents whose last event is at most
// sequence number 2^64-1, offsets that do not decrease and
// end exactly at the end of v, and the canonical width of the offsets.
// It reads only what the header's checksum covers and allocates nothing.
// Any failure returns an error wrapping ErrRecord and store.ErrCorrupt
// (for the whole run: its records cannot be located); it never panics.
func ParseRun(uid [8]byte, firstSeq uint64, v []byte) (Run, error) {
	bad := func(what string) (Run, error) {
		return Run{}, fmt.Errorf("%w: run at seq %d: %s: %w", ErrRecord, firstSeq, what, store.ErrCorrupt)
	}
	if len(v) < runHeaderSize {
		return bad("too short")
	}
	if v[0] != runVersion {
		return bad("bad version")
	}
	flags := v[1]
	if flags&^runWideOffsets != 0 {
		return bad("bad flags")
	}
	count := int(binary.BigEndian.Uint16(v[2:]))
	if count == 0 || count > MaxRunEvents {
		return bad("bad count")
	}
	if uint64(count-1) > ^uint64(0)-firstSeq {
		return bad("events past the last sequence number")
	}
	w := offsetWidth(flags)
	if len(v)-runHeaderSize < count*w {
		return bad("truncated offsets")
	}
	if runHeaderCRC(v, count, flags) != binary.BigEndian.Uint32(v[runCRCAt:]) {
		return bad("header checksum mismatch")
	}
	r := Run{v: v, uid: uid, firstSeq: firstSeq, count: count, wide: w == 4, recs: v[runHeaderSize+count*w:]}
	prev := 0
	for i := range count {
		end := r.end(i)
		if end < prev {
			return bad("offsets decrease")
		}
		prev = end
	}
	if prev != len(r.recs) {
		return bad("offsets do not end at the end of the value")
	}
	if r.wide != (prev > 1<<16-1) {
		return bad("non-canonical offsets width")
	}
	return r, nil
}

// end returns where record i ends in r.recs.
func (r Run) end(i int) int {
	if r.wide {
		return int(binary.BigEndian.Uint32(r.v[runHeaderSize+i*4:]))
	}
	return int(binary.BigEndian.Uint16(r.v[runHeaderSize+i*2:]))
}

// record returns the bytes of record i.
func (r Run) record(i int) []byte {
	start := 0
	if i > 0 {
		start = r.end(i - 1)
	}
	return r.recs[start:r.end(i)]
}

// Len returns the number of events in the run.
func (r Run) Len() int { return r.count }

// FirstTime returns the header's first time: the enqueue time (unix ns) of
// the run's first event, checked by the header's checksum, not by that
// event's.
func (r Run) FirstTime() int64 { return int64(binary.BigEndian.Uint64(r.v[4:])) }

// PayloadBytes returns the header's total of the run's payload lengths, what
// the run counts toward byte counters. It is checked by the header's
// checksum; only DecodeRun compares it with the records.
func (r Run) PayloadBytes() uint64 { return uint64(binary.BigEndian.Uint32(r.v[12:])) }

// recordFields is a record's layout, read without checking its checksum.
type recordFields struct {
	flags         byte
	id            []byte // nil unless stored
	delta         int64
	key, payload  []byte
	headers, body []byte // body: everything before the crc
	crc           uint32
}

// fields reads the layout of record i; ok is false if it is not well
// formed (which the checksum may or may not also show).
func (r Run) fields(i int) (f recordFields, ok bool) {
	b := r.record(i)
	if len(b) < recMinSize {
		return f, false
	}
	f.body = b[:len(b)-4]
	f.crc = binary.BigEndian.Uint32(b[len(b)-4:])
	f.flags = f.body[0]
	p := 1
	if f.flags&^(recID|recHeaders) != 0 {
		return f, false
	}
	if f.flags&recID != 0 {
		if len(f.body) < p+16 {
			return f, false
		}
		f.id, p = f.body[p:p+16], p+16
	}
	delta, n := binary.Varint(f.body[p:])
	if n <= 0 || n != varintSize(delta) {
		return f, false
	}
	f.delta, p = delta, p+n
	if f.key, p, ok = readRunBytes(f.body, p); !ok {
		return f, false
	}
	if f.payload, p, ok = readRunBytes(f.body, p); !ok {
		return f, false
	}
	f.headers = f.body[p:]
	return f, (len(f.headers) > 0) == (f.flags&recHeaders != 0)
}

// readRunBytes reads a shortest-uvarint length at p and that many bytes.
func readRunBytes(b []byte, p int) (s []byte, next int, ok bool) {
	n, k := binary.Uvarint(b[p:])
	if k <= 0 || k != uvarintSize(n) || n > uint64(len(b)-p-k) {
		return nil, p, false
	}
	p += k
	return b[p : p+int(n) : p+int(n)], p + int(n), true
}

// Key returns the batch key of record i (0 <= i < Len()), aliasing the
// value, without checking the record's checksum: on a damaged record it may
// be wrong, or an error wrapping ErrRecord and store.ErrCorrupt. Event is
// the checked read.
func (r Run) Key(i int) ([]byte, error) {
	f, ok := r.fields(i)
	if !ok {
		return nil, r.bad(i, "malformed")
	}
	return f.key, nil
}

// PayloadLen returns the payload length of record i (0 <= i < Len()),
// unchecked as Key is.
func (r Run) PayloadLen(i int) (int, error) {
	f, ok := r.fields(i)
	if !ok {
		return 0, r.bad(i, "malformed")
	}
	return len(f.payload), nil
}

// Event decodes and checks record i (0 <= i < Len()), the event with
// sequence number firstSeq+i, as DecodeRecord does a format 1 envelope:
// Payload aliases the value, Key and Headers do not; Headers is nil for
// none. A malformed record, a non-canonical one or a checksum mismatch
// (also a record read under the wrong key or uid) returns an error wrapping
// ErrRecord and store.ErrCorrupt; it never panics.
func (r Run) Event(i int) (Record, error) {
	seq := r.firstSeq + uint64(i)
	f, ok := r.fields(i)
	if !ok {
		return Record{Seq: seq}, r.bad(i, "malformed")
	}
	rec := Record{Seq: seq, ID: EventID(r.uid, seq)}
	if f.id != nil {
		if [16]byte(f.id) == rec.ID {
			return Record{Seq: seq}, r.bad(i, "stored ID equals the implied one")
		}
		rec.ID = [16]byte(f.id)
	}
	if i == 0 && f.delta != 0 {
		return Record{Seq: seq}, r.bad(i, "first record's time is not the run's")
	}
	t := r.FirstTime() + f.delta
	if runRecordCRC(rec.ID, t, f.body) != f.crc {
		return Record{Seq: seq}, r.bad(i, "checksum mismatch")
	}
	if len(f.headers) > 0 {
		if rec.Headers, ok = decodeHeaders(f.headers); !ok {
			return Record{Seq: seq}, r.bad(i, "bad headers")
		}
	}
	rec.Time = time.Unix(0, t)
	rec.Key = string(f.key)
	rec.Payload = f.payload
	return rec, nil
}

func (r Run) bad(i int, what string) error {
	return fmt.Errorf("%w: seq %d (run at %d, record %d): %s: %w", ErrRecord, r.firstSeq+uint64(i), r.firstSeq, i, what, store.ErrCorrupt)
}

// DecodeRun is the strict read of a whole run: ParseRun, then every Event,
// then the header's payload-bytes against the records' payloads. It
// returns the first error; a reader that should lose only a damaged event
// uses ParseRun and Event instead. Whatever DecodeRun accepts, AppendRun
// encodes to exactly v.
func DecodeRun(uid [8]byte, firstSeq uint64, v []byte) ([]Record, error) {
	r, err := ParseRun(uid, firstSeq, v)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, r.Len())
	var payload uint64
	for i := range recs {
		if recs[i], err = r.Event(i); err != nil {
			return nil, err
		}
		payload += uint64(len(recs[i].Payload))
	}
	if payload != r.PayloadBytes() {
		return nil, fmt.Errorf("%w: run at seq %d: payload-bytes %d, records hold %d: %w", ErrRecord, firstSeq, r.PayloadBytes(), payload, store.ErrCorrupt)
	}
	return recs, nil
}
