package format

import (
	"encoding/binary"
	"maps"
	"slices"
)

// A record with headers is a six-element array: the headers, a msgpack map
// of str to str, sit between the payload and the checksum (which covers
// them). Records without headers keep the five-element form every earlier
// version wrote and reads, so the format version does not change. The map
// is canonical, as the rest of the envelope: at least one entry, the
// shortest map and str headers, keys in strictly increasing byte order.
const envArrayHeaders = 0x96 // fixarray of 6

// HeadersSize returns the encoded size of h, 0 for none.
func HeadersSize(h map[string]string) int {
	if len(h) == 0 {
		return 0
	}
	n := mapHeaderSize(len(h))
	for k, v := range h {
		n += strHeaderSize(len(k)) + len(k) + strHeaderSize(len(v)) + len(v)
	}
	return n
}

func mapHeaderSize(n int) int {
	switch {
	case n < 16:
		return 1
	case n < 1<<16:
		return 3
	}
	return 5
}

// appendHeaders appends h as a map with sorted keys; nothing for none.
func appendHeaders(dst []byte, h map[string]string) []byte {
	n := len(h)
	switch {
	case n == 0:
		return dst
	case n < 16:
		dst = append(dst, 0x80|byte(n))
	case n < 1<<16:
		dst = append(dst, 0xde)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0xdf)
		dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	for _, k := range slices.Sorted(maps.Keys(h)) {
		dst = appendStr(dst, k)
		dst = appendStr(dst, h[k])
	}
	return dst
}

func appendStr(dst []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n < 1<<8:
		dst = append(dst, 0xd9, byte(n))
	case n < 1<<16:
		dst = append(dst, 0xda)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0xdb)
		dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	return append(dst, s...)
}

// decodeHeaders parses a canonical header map that fills b exactly. The
// declared entry count is checked against the bytes that remain (an entry
// takes at least two) before anything is allocated.
func decodeHeaders(b []byte) (map[string]string, bool) {
	if len(b) == 0 {
		return nil, false
	}
	n, p := 0, 0
	switch h := b[0]; {
	case h&0xf0 == 0x80:
		n, p = int(h&0x0f), 1
	case h == 0xde && len(b) >= 3:
		n, p = int(binary.BigEndian.Uint16(b[1:])), 3
	case h == 0xdf && len(b) >= 5:
		n, p = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return nil, false
	}
	if n == 0 || p != mapHeaderSize(n) || n > (len(b)-p)/2 {
		return nil, false
	}
	h := make(map[string]string, n)
	prev := ""
	for i := range n {
		k, next, ok := readStr(b, p)
		if !ok || (i > 0 && k <= prev) {
			return nil, false
		}
		v, after, ok := readStr(b, next)
		if !ok {
			return nil, false
		}
		h[k], prev, p = v, k, after
	}
	if p != len(b) {
		return nil, false
	}
	return h, true
}

// readStr reads a shortest-form str at p that fits in b.
func readStr(b []byte, p int) (s string, next int, ok bool) {
	n, next, ok := readLen(b, p, true)
	if !ok || next-p != strHeaderSize(n) || n > len(b)-next {
		return "", p, false
	}
	return string(b[next : next+n]), next + n, true
}
