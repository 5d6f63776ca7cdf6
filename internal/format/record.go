package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/walbatch/walbatch/store"
)

// ErrRecord is wrapped, with store.ErrCorrupt, by DecodeRecord's error for
// bytes that are not a valid record envelope, including a checksum
// mismatch. wal exports it as wal.ErrRecord.
var ErrRecord = errors.New("wal: bad record")

// Record is one event as its envelope holds it, with the key it is stored
// under.
type Record struct {
	Seq     uint64 // the key, not part of the envelope
	ID      [16]byte
	Time    time.Time
	Key     string // batch key
	Payload []byte
	Headers map[string]string // nil for none
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

// CRCSize is the size of the checksum element SealRecord appends to a
// record body.
const CRCSize = crcSize

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// RecordSize returns the encoded size of a record whose headers take
// headersLen bytes (HeadersSize).
func RecordSize(keyLen, payloadLen, headersLen int) int {
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

// AppendRecordBody appends the envelope without its checksum, with a zero
// ID; SealRecord fills in the ID and the checksum.
func AppendRecordBody(dst []byte, t int64, key string, payload []byte, headers map[string]string) []byte {
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

// SealRecord writes id into a body built by AppendRecordBody and appends
// the checksum.
func SealRecord(body []byte, id [16]byte) []byte {
	copy(body[idOffset:], id[:])
	sum := crc32.Checksum(body, castagnoli)
	body = append(body, 0xce)
	return binary.BigEndian.AppendUint32(body, sum)
}

// EncodeRecord returns the envelope of r (r.Seq is the key, not part of the
// envelope).
func EncodeRecord(r Record) []byte {
	hl := HeadersSize(r.Headers)
	b := make([]byte, 0, RecordSize(len(r.Key), len(r.Payload), hl))
	return SealRecord(AppendRecordBody(b, r.Time.UnixNano(), r.Key, r.Payload, r.Headers), r.ID)
}

// DecodeRecord parses and checks an envelope. Payload aliases data: copy it
// if data does not outlive the call (bbolt values live only for their
// transaction); Headers does not. Records without headers (every record
// written before headers existed) decode with nil Headers. Any malformed
// input or checksum mismatch returns an error wrapping ErrRecord and
// store.ErrCorrupt; it never panics.
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

// RecordTime reads an envelope's enqueue time (unix ns) without checking
// it: the value the OldestNanos counter takes from the first event and
// from requeued ones.
func RecordTime(v []byte) int64 {
	if len(v) < idOffset+16+9 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v[idOffset+17:]))
}

// IsRequeued reports whether the envelope v stored under key seq holds an
// event first appended under another key: moved there by Requeue (or by
// recovery's Repair, which moves events as Requeue does). The ID is read
// without checking the envelope, as RecordTime reads the time.
func IsRequeued(seq uint64, v []byte) bool {
	if len(v) < idOffset+16+9 {
		return false
	}
	return binary.BigEndian.Uint64(v[idOffset+8:]) != seq
}

// AppendedBytes is what Append added to PendingBytes for a stored envelope
// that may fail its checksum: the payload length its headers give, when
// they are consistent with its size (damage elsewhere, the usual case),
// else its stored length, which is what a scan counts for it.
func AppendedBytes(v []byte) uint64 {
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
