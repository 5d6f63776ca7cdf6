// Package msgpackcheck checks that bytes hold one well-formed msgpack value
// that a decoder can read in bounded time, memory and stack, before a
// decoder that trusts declared lengths (msgpack/v5 allocates on them) sees
// them.
//
// What Check accepts, a caller may assume:
//   - every declared length fits the bytes that remain: a string, byte
//     string or ext of n bytes has n bytes left, an array of n elements has
//     at least n bytes left, a map of n entries at least 2n (each value
//     takes at least one byte), so what a decoder allocates for declared
//     lengths is at most proportional to len(b);
//   - arrays and maps nest at most MaxDepth deep;
//   - no byte is the code msgpack never uses (0xc1), and exactly one value
//     fills b, nothing after it.
//
// Ext data is looked inside when it could be read as a msgpack value:
// msgpack/v5 decodes a map through an ext header (DecodeMapLen skips the
// header and reads the map from the ext's data), so data that starts with
// a map, array, string, byte string, ext or nil header must itself pass
// Check, its nesting counted in MaxDepth: the decoder then stays on value
// boundaries Check has seen (nil matters too: a nil map read there leaves
// the decoder reading the rest of the data as the next values). Other ext
// data (custom bytes) is not read. A timestamp's data (ext type -1, 4, 8
// or 12 bytes) can be any bytes, so Check cannot refuse it; Reader refuses
// the decoder's reading it as a value instead: decode through a Reader.
// Strings are not checked to be UTF-8: msgpack decoders take any bytes
// there.
package msgpackcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// MaxDepth is how deep arrays and maps may nest: the outermost array or
// map is at depth 1. Events of any sane shape stay far below it, and a
// decoder recursing once per level uses a small, fixed amount of stack.
const MaxDepth = 100

// ErrInvalid is wrapped by every error of Check.
var ErrInvalid = errors.New("malformed msgpack")

// Check reports whether b holds exactly one msgpack value that satisfies
// the rules of the package documentation; the error wraps ErrInvalid and
// says what is wrong at which offset. It runs in O(len(b)) time, without
// allocating (except for the error) and without recursion.
func Check(b []byte) error { return check(b, MaxDepth, 0, nil) }

// check is Check with maxDepth levels of nesting left; it recurses only
// into ext data, at most maxDepth times. With stamps, it appends the
// offset (plus base: b's offset in the whole value) of every timestamp's
// data, in ascending order.
func check(b []byte, maxDepth, base int, stamps *[]int) error {
	// open[i] is how many values the container at depth i+1 still expects
	// after the one being read; need is how many the current level does.
	var open [MaxDepth]uint64
	depth := 0
	need := uint64(1)
	off := 0
	for {
		for need == 0 {
			if depth == 0 {
				if off != len(b) {
					return fmt.Errorf("%w: %d bytes after the value", ErrInvalid, len(b)-off)
				}
				return nil
			}
			depth--
			need = open[depth]
		}
		need--
		if off >= len(b) {
			return fmt.Errorf("%w: truncated at offset %d", ErrInvalid, off)
		}
		at := off
		c := b[off]
		off++
		var skip uint64  // bytes of data that follow the header
		var items uint64 // values a container holds
		container, ext := false, false
		switch {
		case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		case c <= 0x8f: // fixmap
			items, container = 2*uint64(c&0x0f), true
		case c <= 0x9f: // fixarray
			items, container = uint64(c&0x0f), true
		case c <= 0xbf: // fixstr
			skip = uint64(c & 0x1f)
		default:
			n, size, k := header(c)
			if k == kindInvalid {
				return fmt.Errorf("%w: code 0x%02x at offset %d is never used", ErrInvalid, c, at)
			}
			if len(b)-off < size {
				return fmt.Errorf("%w: truncated header at offset %d", ErrInvalid, at)
			}
			if n < 0 { // the length is in the header's next bytes
				n64 := readUint(b[off:], size)
				off += size
				switch k {
				case kindMap:
					items, container = 2*n64, true
				case kindArray:
					items, container = n64, true
				case kindExt:
					skip, ext = n64+1, true // the type byte, then the data
				default:
					skip = n64
				}
			} else {
				skip, ext = uint64(n), c >= 0xd4 && c <= 0xd8 // a fixext: its type byte, then the data
			}
		}
		rest := uint64(len(b) - off)
		if skip > rest {
			return fmt.Errorf("%w: value at offset %d declares %d bytes, %d remain", ErrInvalid, at, skip, rest)
		}
		if ext {
			if err := checkExtData(b[off:off+int(skip)], maxDepth-depth-1, at, base+off+1, stamps); err != nil {
				return err
			}
		}
		off += int(skip)
		if !container {
			continue
		}
		if items > rest {
			return fmt.Errorf("%w: container at offset %d declares %d values, %d bytes remain", ErrInvalid, at, items, rest)
		}
		if depth >= maxDepth {
			return fmt.Errorf("%w: arrays and maps nested deeper than %d at offset %d", ErrInvalid, MaxDepth, at)
		}
		if items > 0 {
			open[depth] = need
			depth++
			need = items
		}
	}
}

type kind uint8

const (
	kindInvalid kind = iota
	kindFixed        // a fixed number of data bytes
	kindBytes        // str or bin: a length, then that many bytes
	kindExt          // a length, a type byte, then that many bytes
	kindArray
	kindMap
)

// header describes the codes from 0xc0 on: with n >= 0 the value has n
// bytes of data after the code; with n < 0 a length of size bytes follows
// the code.
func header(c byte) (n, size int, k kind) {
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return 0, 0, kindFixed
	case 0xcc, 0xd0: // uint8, int8
		return 1, 0, kindFixed
	case 0xcd, 0xd1:
		return 2, 0, kindFixed
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return 4, 0, kindFixed
	case 0xcb, 0xcf, 0xd3:
		return 8, 0, kindFixed
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 (and the type byte)
		return 1 + 1<<(c-0xd4), 0, kindFixed
	case 0xc4, 0xd9: // bin8, str8
		return -1, 1, kindBytes
	case 0xc5, 0xda:
		return -1, 2, kindBytes
	case 0xc6, 0xdb:
		return -1, 4, kindBytes
	case 0xc7:
		return -1, 1, kindExt
	case 0xc8:
		return -1, 2, kindExt
	case 0xc9:
		return -1, 4, kindExt
	case 0xdc:
		return -1, 2, kindArray
	case 0xdd:
		return -1, 4, kindArray
	case 0xde:
		return -1, 2, kindMap
	case 0xdf:
		return -1, 4, kindMap
	}
	return 0, 0, kindInvalid // 0xc1
}

func readUint(b []byte, size int) uint64 {
	switch size {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	}
	return uint64(binary.BigEndian.Uint32(b))
}

// checkExtData checks an ext's type byte and data (typed; the ext's header
// is at offset at, its data at dataAt of the whole value) when msgpack
// could decode the data as a value: data that starts with a length-bearing
// or nil header must pass check with the nesting left. A timestamp (type
// -1, 4, 8 or 12 bytes) is always read as one, whatever its bytes: dataAt
// goes into stamps.
func checkExtData(typed []byte, depthLeft, at, dataAt int, stamps *[]int) error {
	data := typed[1:]
	if len(data) == 0 {
		return nil
	}
	if typed[0] == 0xff && (len(data) == 4 || len(data) == 8 || len(data) == 12) {
		if stamps != nil {
			*stamps = append(*stamps, dataAt)
		}
		return nil
	}
	if !lengthBearing(data[0]) && data[0] != 0xc0 {
		return nil
	}
	if depthLeft <= 0 {
		return fmt.Errorf("%w: values nested deeper than %d at offset %d", ErrInvalid, MaxDepth, at)
	}
	if err := check(data, depthLeft, dataAt, stamps); err != nil {
		return fmt.Errorf("%w: in the ext at offset %d: %s", ErrInvalid, at, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
	return nil
}

// lengthBearing reports whether c starts a value whose header declares a
// length (map, array, string, byte string, ext).
func lengthBearing(c byte) bool {
	switch {
	case c >= 0x80 && c <= 0xbf: // fixmap, fixarray, fixstr
		return true
	case c >= 0xc4 && c <= 0xc9: // bin 8/16/32, ext 8/16/32
		return true
	case c >= 0xd4 && c <= 0xdf: // fixext, str 8/16/32, array 16/32, map 16/32
		return true
	}
	return false
}
