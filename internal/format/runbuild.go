package format

import (
	"encoding/binary"
)

// A RunBuilder cuts the events a writer appends to one stream into runs,
// from the bodies producers encoded (AppendRecordBody, the format 1
// envelope without ID and checksum): the producers still do the encoding
// and copying, and the writer only re-frames each body as a run record.
// Add reports when the run in progress is full; the writer then encodes it
// (AppendTo) and starts the next under the following sequence number.
type RunBuilder struct {
	uid    [8]byte
	first  uint64 // sequence number of the run's first event
	parts  []bodyParts
	size   int // the run's value size so far, with narrow offsets
	recLen int // the records' bytes so far
}

// bodyParts is a body as a run record takes it, aliasing the body.
type bodyParts struct {
	id                    []byte // the body's ID; nil (all zero in the body) for the one the event's place gives
	t                     int64
	key, payload, headers []byte
}

// Reset starts an empty run for the stream with uid uid at sequence
// number first.
func (b *RunBuilder) Reset(uid [8]byte, first uint64) {
	b.uid, b.first, b.parts, b.size, b.recLen = uid, first, b.parts[:0], runHeaderSize, 0
}

// Len returns the events in the run so far, and First the sequence number
// of its first.
func (b *RunBuilder) Len() int { return len(b.parts) }

// First returns the sequence number of the run's first event.
func (b *RunBuilder) First() uint64 { return b.first }

// Fits reports whether body can join the run: it is empty, or the run stays
// within MaxRunEvents events and MaxRunBytes bytes with it. body must be
// one AppendRecordBody made, or a whole envelope without its checksum
// (a dead letter's, which Requeue appends again): an ID other than zero in
// it is the event's, stored in the run when it is not the one the event's
// sequence number gives.
func (b *RunBuilder) Fits(body []byte) bool {
	if len(b.parts) == 0 {
		return true
	}
	if len(b.parts) >= MaxRunEvents {
		return false
	}
	p := parseBody(body)
	return b.size+2+b.recordSize(&p) <= MaxRunBytes
}

// Add adds body (one AppendRecordBody made) as the run's next event; the
// run aliases it until AppendTo.
func (b *RunBuilder) Add(body []byte) {
	p := parseBody(body)
	n := b.recordSize(&p)
	b.parts = append(b.parts, p)
	b.recLen += n
	b.size += n + 2
}

// Size returns the size of the value AppendTo appends.
func (b *RunBuilder) Size() int {
	if b.recLen > 1<<16-1 {
		return runHeaderSize + 4*len(b.parts) + b.recLen
	}
	return b.size
}

func (b *RunBuilder) recordSize(p *bodyParts) int {
	first := p.t
	if len(b.parts) > 0 {
		first = b.parts[0].t
	}
	n := 0
	if p.id != nil && [16]byte(p.id) != EventID(b.uid, b.first+uint64(len(b.parts))) {
		n = 16
	}
	return n + 1 + varintSize(p.t-first) + uvarintSize(uint64(len(p.key))) + len(p.key) +
		uvarintSize(uint64(len(p.payload))) + len(p.payload) + len(p.headers) + 4
}

// AppendTo appends the run's value, as AppendRun would encode the same
// events (every event's ID the one its sequence number gives), and
// returns the extended buffer. The run must not be empty.
func (b *RunBuilder) AppendTo(dst []byte) []byte {
	if len(b.parts) == 0 {
		panic("format: AppendTo of an empty run")
	}
	first := b.parts[0].t
	start := len(dst)
	wide := b.recLen > 1<<16-1
	w := 2
	if wide {
		w = 4
	}
	offAt := start + runHeaderSize
	recAt := offAt + w*len(b.parts)
	dst = append(dst, make([]byte, recAt-start)...)
	var payload uint64
	for i := range b.parts {
		p := &b.parts[i]
		at := len(dst)
		own := EventID(b.uid, b.first+uint64(i))
		id := own
		flags := recordFlags(p)
		if p.id != nil && [16]byte(p.id) != own {
			id, flags = [16]byte(p.id), flags|recID
		}
		dst = append(dst, flags)
		if flags&recID != 0 {
			dst = append(dst, id[:]...)
		}
		dst = binary.AppendVarint(dst, p.t-first)
		dst = binary.AppendUvarint(dst, uint64(len(p.key)))
		dst = append(dst, p.key...)
		dst = binary.AppendUvarint(dst, uint64(len(p.payload)))
		dst = append(dst, p.payload...)
		dst = append(dst, p.headers...)
		dst = binary.BigEndian.AppendUint32(dst, runRecordCRC(id, p.t, dst[at:]))
		if wide {
			binary.BigEndian.PutUint32(dst[offAt+4*i:], uint32(len(dst)-recAt))
		} else {
			binary.BigEndian.PutUint16(dst[offAt+2*i:], uint16(len(dst)-recAt))
		}
		payload += uint64(len(p.payload))
	}
	var flags byte
	if wide {
		flags = runWideOffsets
	}
	h := dst[start:]
	h[0], h[1] = runVersion, flags
	binary.BigEndian.PutUint16(h[2:], uint16(len(b.parts)))
	binary.BigEndian.PutUint64(h[4:], uint64(first))
	binary.BigEndian.PutUint32(h[12:], uint32(payload))
	binary.BigEndian.PutUint32(h[runCRCAt:], runHeaderCRC(h, len(b.parts), flags))
	return dst
}

func recordFlags(p *bodyParts) byte {
	if len(p.headers) > 0 {
		return recHeaders
	}
	return 0
}

// parseBody reads the parts of a body AppendRecordBody made. It trusts
// the body: the writer's own, never read from the file.
func parseBody(body []byte) bodyParts {
	p := bodyParts{t: int64(binary.BigEndian.Uint64(body[timeOffset:]))}
	if id := body[idOffset : idOffset+16]; [16]byte(id) != ([16]byte{}) {
		p.id = id
	}
	kl, at, _ := readLen(body, timeOffset+8, true)
	p.key = body[at : at+kl]
	pl, at, _ := readLen(body, at+kl, false)
	p.payload = body[at : at+pl]
	p.headers = body[at+pl:]
	return p
}
