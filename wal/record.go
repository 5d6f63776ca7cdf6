package wal

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/walbatch/walbatch/store"
)

// EventID identifies an event for its whole life: the stream's random ID
// followed by the sequence number the event got at its first append. It is
// kept in the record, so it survives retries, restarts and requeues.
type EventID [16]byte

// String returns the ID as 32 hex digits.
func (id EventID) String() string { return hex.EncodeToString(id[:]) }

// ParseEventID parses the form String returns.
func ParseEventID(s string) (EventID, error) {
	var id EventID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("wal: bad event ID %q", s)
	}
	copy(id[:], b)
	return id, nil
}

// Record is one event as stored in the log.
type Record struct {
	// Seq is the event's key in its stream: big-endian, only growing.
	Seq uint64
	// ID is the event's stable identity.
	ID EventID
	// Time is when the event was appended (its enqueue time).
	Time time.Time
	// Key is the batch key ("" when unused).
	Key string
	// Payload is the caller's bytes.
	Payload []byte
	// Headers are the event's headers, nil when it has none.
	Headers map[string]string
}

// The record envelope is a msgpack array of five elements, or six when the
// event has headers (see envArrayHeaders):
//
//	[ id bin8(16), time int64 (unix ns), key str, payload bin, crc uint32 ]
//	[ id bin8(16), time int64 (unix ns), key str, payload bin, headers map, crc uint32 ]
//
// crc is the CRC32C (Castagnoli) of every byte before the crc element. The
// encoding is fixed (always int64, always bin8 for the ID, the smallest
// str/bin header for the length) so that a record can be built with the ID
// patched in place and checked without a general msgpack decoder; it is
// still plain msgpack that any decoder reads.
const (
	envArray   = 0x95 // fixarray of 5
	idOffset   = 3    // 0x95 0xc4 0x10
	timeOffset = idOffset + 16 + 1
	crcSize    = 5 // 0xce + uint32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordSize returns the encoded size of a record whose headers take
// headersLen bytes (headersSize).
func recordSize(keyLen, payloadLen, headersLen int) int {
	return 3 + 16 + 9 + strHeaderSize(keyLen) + keyLen + binHeaderSize(payloadLen) + payloadLen + headersLen + crcSize
}

func strHeaderSize(n int) int {
	switch {
	case n < 32:
		return 1
	case n < 1<<8:
		return 2
	case n < 1<<16:
		return 3
	}
	return 5
}

func binHeaderSize(n int) int {
	switch {
	case n < 1<<8:
		return 2
	case n < 1<<16:
		return 3
	}
	return 5
}

// appendRecordBody appends the envelope without its checksum, with a zero
// ID; sealRecord fills in the ID and the checksum.
func appendRecordBody(dst []byte, t int64, key string, payload []byte, headers map[string]string) []byte {
	head := byte(envArray)
	if len(headers) > 0 {
		head = envArrayHeaders
	}
	dst = append(dst, head, 0xc4, 16)
	dst = append(dst, make([]byte, 16)...)
	dst = append(dst, 0xd3)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t))
	dst = appendStr(dst, key)
	n := len(payload)
	switch {
	case n < 1<<8:
		dst = append(dst, 0xc4, byte(n))
	case n < 1<<16:
		dst = append(dst, 0xc5)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0xc6)
		dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	dst = append(dst, payload...)
	return appendHeaders(dst, headers)
}

// sealRecord writes id into a body built by appendRecordBody and appends the
// checksum.
func sealRecord(body []byte, id EventID) []byte {
	copy(body[idOffset:], id[:])
	sum := crc32.Checksum(body, castagnoli)
	body = append(body, 0xce)
	return binary.BigEndian.AppendUint32(body, sum)
}

// EncodeRecord returns the envelope of r (r.Seq is the key, not part of the
// envelope).
func EncodeRecord(r Record) []byte {
	hl := headersSize(r.Headers)
	b := make([]byte, 0, recordSize(len(r.Key), len(r.Payload), hl))
	return sealRecord(appendRecordBody(b, r.Time.UnixNano(), r.Key, r.Payload, r.Headers), r.ID)
}

// DecodeRecord parses and checks an envelope. Payload aliases data: copy it
// if data does not outlive the call (bbolt values live only for their
// transaction); Headers does not. Records without headers (every record
// written before headers existed) decode with nil Headers. Any malformed input or checksum mismatch returns an error
// wrapping ErrRecord and store.ErrCorrupt; it never panics.
func DecodeRecord(seq uint64, data []byte) (Record, error) {
	r := Record{Seq: seq}
	bad := func(what string) (Record, error) {
		return Record{Seq: seq}, fmt.Errorf("%w: seq %d: %s: %w", ErrRecord, seq, what, store.ErrCorrupt)
	}
	if len(data) < 3+16+9+1+2+crcSize {
		return bad("too short")
	}
	withHeaders := data[0] == envArrayHeaders
	if (data[0] != envArray && !withHeaders) || data[1] != 0xc4 || data[2] != 16 {
		return bad("bad header")
	}
	body := data[:len(data)-crcSize]
	tail := data[len(data)-crcSize:]
	if tail[0] != 0xce {
		return bad("bad checksum header")
	}
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(tail[1:]) {
		return bad("checksum mismatch")
	}
	copy(r.ID[:], data[idOffset:idOffset+16])
	p := idOffset + 16
	if data[p] != 0xd3 {
		return bad("bad time")
	}
	r.Time = time.Unix(0, int64(binary.BigEndian.Uint64(data[p+1:p+9])))
	p += 9
	kl, next, ok := readLen(body, p, true)
	if !ok || next-p != strHeaderSize(kl) || next+kl > len(body) {
		// The header must be the shortest form, as appendRecordBody
		// writes it: a record has exactly one encoding.
		return bad("bad key")
	}
	p = next
	r.Key = string(body[p : p+kl])
	p += kl
	pl, next, ok := readLen(body, p, false)
	if !ok || next-p != binHeaderSize(pl) || pl > len(body)-next || (next+pl != len(body) && !withHeaders) {
		return bad("bad payload")
	}
	p = next
	r.Payload = body[p : p+pl : p+pl]
	if withHeaders {
		if r.Headers, ok = decodeHeaders(body[p+pl:]); !ok {
			return bad("bad headers")
		}
	}
	return r, nil
}

// readLen reads a str (isStr) or bin header at p and returns the length and
// the offset of the data.
func readLen(b []byte, p int, isStr bool) (n, next int, ok bool) {
	if p >= len(b) {
		return 0, p, false
	}
	h := b[p]
	if isStr && h&0xe0 == 0xa0 {
		return int(h & 0x1f), p + 1, true
	}
	size := 0
	switch {
	case isStr && h == 0xd9, !isStr && h == 0xc4:
		size = 1
	case isStr && h == 0xda, !isStr && h == 0xc5:
		size = 2
	case isStr && h == 0xdb, !isStr && h == 0xc6:
		size = 4
	default:
		return 0, p, false
	}
	if p+1+size > len(b) {
		return 0, p, false
	}
	switch size {
	case 1:
		n = int(b[p+1])
	case 2:
		n = int(binary.BigEndian.Uint16(b[p+1:]))
	case 4:
		n = int(binary.BigEndian.Uint32(b[p+1:]))
	}
	return n, p + 1 + size, true
}
