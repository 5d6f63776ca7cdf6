package format

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

// A run is format 2's value in a stream's events bucket: the events one
// group commit appended (or one Requeue moved), stored under the sequence
// number of the first; event i of the run under key k has sequence k+i.
// docs/design/wal-format-2.md ("The value: a run of events") describes the
// layout; in short, all integers big-endian unless varint:
//
//	value   = header, offsets, records
//	header  = version u8 (2), flags u8, count u16, first-time i64,
//	          payload-bytes u32, header-crc u32
//	offsets = count x u16 (u32 with runWideOffsets): where each record
//	          ends, from the start of the records
//	record  = flags u8, [id 16], time-delta zigzag varint,
//	          key-len uvarint, key, payload-len uvarint, payload,
//	          [headers], crc u32
//
// header-crc is the CRC32C of the header's first 16 bytes and the offsets.
// A record's crc is the CRC32C of its logical ID (uid||seq when it is not
// stored), its enqueue time as i64 and its bytes before the crc, so a record
// read under the wrong key or in the wrong run fails its check. headers is
// format 1's canonical msgpack map (headers.go), present only with
// recHeaders and then non-empty. The encoding is canonical: one encoding
// per content (shortest varints, narrow offsets unless the records exceed
// 64 KiB, the ID flag exactly when the ID is not uid||seq, record 0's
// time-delta 0, zero in every unused flag bit).
const (
	runVersion    = 2
	runHeaderSize = 20 // through header-crc
	runCRCAt      = 16 // where header-crc sits, after what it covers

	runWideOffsets = 1 << 0 // header flag: offsets are u32

	recID      = 1 << 0 // record flag: the ID is stored
	recHeaders = 1 << 1 // record flag: headers follow the payload

	recMinSize = 1 + 1 + 1 + 1 + 4 // flags, time, key-len, payload-len, crc
)

// MaxRunEvents and MaxRunBytes bound the runs a writer builds: it starts a
// new run at MaxRunEvents events or before the value (RunSize) would exceed
// MaxRunBytes, which keeps the offsets narrow. An event larger than that is
// a run of one. ParseRun refuses a count above MaxRunEvents; the byte bound
// is the writer's, not checked on read.
const (
	MaxRunEvents = 1024
	MaxRunBytes  = 64 << 10
)

// RunEvent is one event as AppendRun takes it. Time is the enqueue time in
// unix nanoseconds; Headers may be nil.
type RunEvent struct {
	ID      [16]byte
	Time    int64
	Key     string
	Payload []byte
	Headers map[string]string
}

// AppendRun appends the run value of evs, to be stored under key firstSeq of
// the stream with uid uid, and returns the extended buffer. evs must hold 1
// to MaxRunEvents events whose payloads total less than 4 GiB (a bbolt value
// is far smaller); AppendRun panics otherwise. It allocates nothing but the
// growth of dst, and one sort of the keys for each event with headers: size
// dst with RunSize to avoid the growth.
func AppendRun(dst []byte, uid [8]byte, firstSeq uint64, evs []RunEvent) []byte {
	if len(evs) == 0 || len(evs) > MaxRunEvents {
		panic("format: AppendRun of 0 or more than MaxRunEvents events")
	}
	first := evs[0].Time
	start := len(dst)
	// Records go after the widest offsets table; it is narrowed below if
	// the records fit in 64 KiB.
	offAt := start + runHeaderSize
	recAt := offAt + 4*len(evs)
	dst = append(dst, make([]byte, recAt-start)...)
	var payload uint64
	for i := range evs {
		e := &evs[i]
		dst = appendRunRecord(dst, EventID(uid, firstSeq+uint64(i)), first, e)
		binary.BigEndian.PutUint32(dst[offAt+4*i:], uint32(len(dst)-recAt))
		payload += uint64(len(e.Payload))
	}
	if payload > 1<<32-1 || uint64(len(dst)-recAt) > 1<<32-1 {
		panic("format: AppendRun of 4 GiB or more")
	}
	var flags byte
	if len(dst)-recAt > 1<<16-1 {
		flags = runWideOffsets
	} else {
		for i := range evs {
			binary.BigEndian.PutUint16(dst[offAt+2*i:], uint16(binary.BigEndian.Uint32(dst[offAt+4*i:])))
		}
		n := copy(dst[offAt+2*len(evs):], dst[recAt:])
		dst = dst[:offAt+2*len(evs)+n]
	}
	h := dst[start:]
	h[0], h[1] = runVersion, flags
	binary.BigEndian.PutUint16(h[2:], uint16(len(evs)))
	binary.BigEndian.PutUint64(h[4:], uint64(first))
	binary.BigEndian.PutUint32(h[12:], uint32(payload))
	binary.BigEndian.PutUint32(h[runCRCAt:], runHeaderCRC(h, len(evs), flags))
	return dst
}

// RunSize returns the size of the value AppendRun makes of evs, the same
// arguments.
func RunSize(uid [8]byte, firstSeq uint64, evs []RunEvent) int {
	n := runHeaderSize
	for i := range evs {
		e := &evs[i]
		n += 1 + 4 + varintSize(e.Time-evs[0].Time) + // flags, crc, time
			uvarintSize(uint64(len(e.Key))) + len(e.Key) +
			uvarintSize(uint64(len(e.Payload))) + len(e.Payload) + HeadersSize(e.Headers)
		if e.ID != EventID(uid, firstSeq+uint64(i)) {
			n += 16
		}
	}
	if n-runHeaderSize > 1<<16-1 {
		return n + 4*len(evs)
	}
	return n + 2*len(evs)
}

// appendRunRecord appends e as a record of a run whose first time is first;
// own is the ID the record stands for without storing one.
func appendRunRecord(dst []byte, own [16]byte, first int64, e *RunEvent) []byte {
	at := len(dst)
	var flags byte
	if e.ID != own {
		flags |= recID
	}
	if len(e.Headers) > 0 {
		flags |= recHeaders
	}
	dst = append(dst, flags)
	if flags&recID != 0 {
		dst = append(dst, e.ID[:]...)
	}
	dst = binary.AppendVarint(dst, e.Time-first)
	dst = binary.AppendUvarint(dst, uint64(len(e.Key)))
	dst = append(dst, e.Key...)
	dst = binary.AppendUvarint(dst, uint64(len(e.Payload)))
	dst = append(dst, e.Payload...)
	dst = appendHeaders(dst, e.Headers)
	return binary.BigEndian.AppendUint32(dst, runRecordCRC(e.ID, e.Time, dst[at:]))
}

// runRecordCRC is a record's checksum: the CRC32C of its logical ID, its
// time (i64) and body, its bytes before the checksum.
func runRecordCRC(id [16]byte, t int64, body []byte) uint32 {
	crc := crc8(^uint32(0), binary.LittleEndian.Uint64(id[:8]))
	crc = crc8(crc, binary.LittleEndian.Uint64(id[8:]))
	crc = crc8(crc, bits.ReverseBytes64(uint64(t)))
	return crc32.Update(^crc, castagnoli, body)
}

// crc8 advances a (non-inverted) CRC32C over the 8 bytes of w in little-
// endian order, a table lookup per byte but none waiting on another. The ID
// and time go through it, not through a buffer for crc32.Update, which
// would escape (an allocation per event).
func crc8(crc uint32, w uint64) uint32 {
	x := crc ^ uint32(w)
	y := uint32(w >> 32)
	return castagnoli8[7][x&0xff] ^ castagnoli8[6][x>>8&0xff] ^ castagnoli8[5][x>>16&0xff] ^ castagnoli8[4][x>>24] ^
		castagnoli8[3][y&0xff] ^ castagnoli8[2][y>>8&0xff] ^ castagnoli8[1][y>>16&0xff] ^ castagnoli8[0][y>>24]
}

// castagnoli8[k][b] is the CRC32C state change of byte b followed by k
// zero bytes.
var castagnoli8 = func() (t [8][256]uint32) {
	t[0] = *castagnoli
	for k := 1; k < 8; k++ {
		for b := range 256 {
			prev := t[k-1][b]
			t[k][b] = prev>>8 ^ t[0][prev&0xff]
		}
	}
	return t
}()

// runHeaderCRC is the checksum of v's header and offsets table, which v
// must hold.
func runHeaderCRC(v []byte, count int, flags byte) uint32 {
	sum := crc32.Checksum(v[:runCRCAt], castagnoli)
	return crc32.Update(sum, castagnoli, v[runHeaderSize:runHeaderSize+count*offsetWidth(flags)])
}

func offsetWidth(flags byte) int {
	if flags&runWideOffsets != 0 {
		return 4
	}
	return 2
}

func uvarintSize(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func varintSize(x int64) int {
	return uvarintSize(uint64(x<<1) ^ uint64(x>>63))
}
