package processor

import (
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"unsafe"
)

// A fast codec for the shape most events have: a flat struct of strings,
// numbers, bools, a map[string]string and []string. It writes exactly the
// bytes msgpack's Encoder (with compact ints, as the processor uses it)
// writes for such a struct, and decodes them without reflection per value:
// the field layout is worked out once per type. Anything else, a type or a
// byte it does not know, goes to msgpack as before: the fast decoder only
// ever reports "not mine" (ok false), never an error, and msgpack then
// decides, so a file reads the same with or without it
// (TestFastCodecMatchesMsgpack, FuzzFastDecode).
//
// Decoded strings share one copy of the event's payload (no allocation per
// string). The copies of a batch's events are carved from chunks of
// arenaChunk bytes (batchDecoder.str: one allocation per few dozen events
// instead of one per event), so a string kept from an event keeps its
// chunk alive: at most arenaChunk bytes, or the event's own payload when
// that is larger than arenaChunk/8.

type fastKind uint8

const (
	fkString fastKind = iota + 1
	fkBool
	fkInt
	fkUint
	fkFloat32
	fkFloat64
	fkMapSS
	fkStrings
)

type fastField struct {
	name      string
	kind      fastKind
	size      uintptr // of ints and uints: 1, 2, 4 or 8
	offset    uintptr
	omitEmpty bool
}

type fastPlan struct {
	fields []fastField
	byName map[string]int
}

var (
	mapSSType   = reflect.TypeFor[map[string]string]()
	stringsType = reflect.TypeFor[[]string]()
)

// newFastPlan returns the plan for t, or nil when t is not a shape the fast
// codec handles exactly like msgpack.
func newFastPlan(t reflect.Type) *fastPlan {
	if t.Kind() != reflect.Struct || t.NumMethod() > 0 || reflect.PointerTo(t).NumMethod() > 0 {
		return nil
	}
	p := &fastPlan{byName: map[string]int{}}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous {
			return nil
		}
		name, opts, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
		if name == "-" || (opts != "" && opts != "omitempty") || !plainTagName(name) {
			return nil
		}
		if name == "" {
			name = f.Name
		}
		ff := fastField{name: name, offset: f.Offset, omitEmpty: opts == "omitempty", size: f.Type.Size()}
		ft := f.Type
		if ft.NumMethod() > 0 || reflect.PointerTo(ft).NumMethod() > 0 {
			return nil
		}
		switch {
		case ft == mapSSType:
			ff.kind = fkMapSS
		case ft == stringsType:
			ff.kind = fkStrings
		default:
			switch ft.Kind() {
			case reflect.String:
				ff.kind = fkString
			case reflect.Bool:
				ff.kind = fkBool
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				ff.kind = fkInt
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				ff.kind = fkUint
			case reflect.Float32:
				ff.kind = fkFloat32
			case reflect.Float64:
				ff.kind = fkFloat64
			default:
				return nil
			}
		}
		if _, dup := p.byName[name]; dup {
			return nil
		}
		p.byName[name] = len(p.fields)
		p.fields = append(p.fields, ff)
	}
	if len(p.fields) == 0 {
		return nil
	}
	return p
}

// plainTagName reports whether msgpack's tag parser reads name as it is:
// it trims spaces and takes quotes and colons as syntax (a quoted name,
// an option with a value), so a name with any of them is left to msgpack.
func plainTagName(name string) bool {
	return !strings.ContainsAny(name, "':") && strings.TrimSpace(name) == name
}

// empty reports whether the field holds its zero value as msgpack's
// omitempty sees it (length 0 for strings, maps and slices).
func (f *fastField) empty(base unsafe.Pointer) bool {
	ptr := unsafe.Add(base, f.offset)
	switch f.kind {
	case fkString:
		return len(*(*string)(ptr)) == 0
	case fkBool:
		return !*(*bool)(ptr)
	case fkInt:
		return loadInt(ptr, f.size) == 0
	case fkUint:
		return loadUint(ptr, f.size) == 0
	case fkFloat32:
		return *(*float32)(ptr) == 0
	case fkFloat64:
		return *(*float64)(ptr) == 0
	case fkMapSS:
		return len(*(*map[string]string)(ptr)) == 0
	case fkStrings:
		return len(*(*[]string)(ptr)) == 0
	}
	return false
}

// appendEncode appends the encoding of the struct at base.
func (p *fastPlan) appendEncode(b []byte, base unsafe.Pointer) []byte {
	n := 0
	for i := range p.fields {
		if !p.fields[i].omitEmpty || !p.fields[i].empty(base) {
			n++
		}
	}
	b = appendMapLen(b, n)
	for i := range p.fields {
		f := &p.fields[i]
		if f.omitEmpty && f.empty(base) {
			continue
		}
		b = appendStr(b, f.name)
		ptr := unsafe.Add(base, f.offset)
		switch f.kind {
		case fkString:
			b = appendStr(b, *(*string)(ptr))
		case fkBool:
			if *(*bool)(ptr) {
				b = append(b, 0xc3)
			} else {
				b = append(b, 0xc2)
			}
		case fkInt:
			b = appendInt(b, loadInt(ptr, f.size))
		case fkUint:
			b = appendUint(b, loadUint(ptr, f.size))
		case fkFloat32:
			b = append(b, 0xca)
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(viaFloat64(*(*float32)(ptr))))
		case fkFloat64:
			b = append(b, 0xcb)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(*(*float64)(ptr)))
		case fkMapSS:
			m := *(*map[string]string)(ptr)
			if m == nil {
				b = append(b, 0xc0)
				break
			}
			b = appendMapLen(b, len(m))
			for k, v := range m {
				b = appendStr(appendStr(b, k), v)
			}
		case fkStrings:
			ss := *(*[]string)(ptr)
			if ss == nil {
				b = append(b, 0xc0)
				break
			}
			b = appendArrayLen(b, len(ss))
			for _, s := range ss {
				b = appendStr(b, s)
			}
		}
	}
	return b
}

// viaFloat64 is f converted to float64 and back, as msgpack handles every
// float32 (reflect's Float and SetFloat): the same value, but a signalling
// NaN comes out quiet, with the bits the hardware gives it.
func viaFloat64(f float32) float32 {
	if f == f {
		return f
	}
	return float32(float64(f))
}

func loadInt(ptr unsafe.Pointer, size uintptr) int64 {
	switch size {
	case 1:
		return int64(*(*int8)(ptr))
	case 2:
		return int64(*(*int16)(ptr))
	case 4:
		return int64(*(*int32)(ptr))
	}
	return *(*int64)(ptr)
}

func loadUint(ptr unsafe.Pointer, size uintptr) uint64 {
	switch size {
	case 1:
		return uint64(*(*uint8)(ptr))
	case 2:
		return uint64(*(*uint16)(ptr))
	case 4:
		return uint64(*(*uint32)(ptr))
	}
	return *(*uint64)(ptr)
}

// storeInt stores n truncated to the field's size, as reflect's SetInt
// (which msgpack uses) does.
func storeInt(ptr unsafe.Pointer, size uintptr, n int64) {
	switch size {
	case 1:
		*(*int8)(ptr) = int8(n)
	case 2:
		*(*int16)(ptr) = int16(n)
	case 4:
		*(*int32)(ptr) = int32(n)
	default:
		*(*int64)(ptr) = n
	}
}

func storeUint(ptr unsafe.Pointer, size uintptr, n uint64) {
	switch size {
	case 1:
		*(*uint8)(ptr) = uint8(n)
	case 2:
		*(*uint16)(ptr) = uint16(n)
	case 4:
		*(*uint32)(ptr) = uint32(n)
	default:
		*(*uint64)(ptr) = n
	}
}

func appendMapLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}

func appendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

func appendStr(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 256:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

// appendUint and appendInt are msgpack's compact integers: the shortest
// form, a positive value always unsigned.
func appendUint(b []byte, n uint64) []byte {
	switch {
	case n <= math.MaxInt8:
		return append(b, byte(n))
	case n <= math.MaxUint8:
		return append(b, 0xcc, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), n)
}

func appendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendUint(b, uint64(n))
	case n >= -32:
		return append(b, byte(n))
	case n >= math.MinInt8:
		return append(b, 0xd0, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

// fastReader reads msgpack from a string (the event's copy): the strings it
// returns are substrings of it.
type fastReader struct {
	s   string
	off int
	bad bool // a byte the fast path does not handle: fall back
}

func (r *fastReader) byte() byte {
	if r.off >= len(r.s) {
		r.bad = true
		return 0
	}
	c := r.s[r.off]
	r.off++
	return c
}

func (r *fastReader) uint(n int) uint64 {
	if r.off+n > len(r.s) {
		r.bad = true
		return 0
	}
	var v uint64
	for i := range n {
		v = v<<8 | uint64(r.s[r.off+i])
	}
	r.off += n
	return v
}

// length reads the length that follows a map, array or string code with a
// 1, 2 or 4 byte length.
func (r *fastReader) length(c byte, fix, fixMax, c8, c16, c32 byte) int {
	switch {
	case c >= fix && c <= fixMax:
		return int(c - fix)
	case c8 != 0 && c == c8:
		return int(r.uint(1))
	case c == c16:
		return int(r.uint(2))
	case c == c32:
		return int(r.uint(4))
	}
	r.bad = true
	return 0
}

func (r *fastReader) str() string {
	n := r.length(r.byte(), 0xa0, 0xbf, 0xd9, 0xda, 0xdb)
	if r.bad || n > len(r.s)-r.off {
		r.bad = true
		return ""
	}
	s := r.s[r.off : r.off+n]
	r.off += n
	return s
}

// int reads any msgpack integer; ok is false for anything else.
func (r *fastReader) int() (n int64, unsigned bool) {
	c := r.byte()
	switch {
	case c <= 0x7f:
		return int64(c), false
	case c >= 0xe0:
		return int64(int8(c)), false
	}
	switch c {
	case 0xcc:
		return int64(r.uint(1)), false
	case 0xcd:
		return int64(r.uint(2)), false
	case 0xce:
		return int64(r.uint(4)), false
	case 0xcf:
		return int64(r.uint(8)), true
	case 0xd0:
		return int64(int8(r.uint(1))), false
	case 0xd1:
		return int64(int16(r.uint(2))), false
	case 0xd2:
		return int64(int32(r.uint(4))), false
	case 0xd3:
		return int64(r.uint(8)), false
	}
	r.bad = true
	return 0, false
}

// decode decodes payload, a copy of an event's payload that nothing
// changes (the decoded strings are substrings of it), into the zero struct
// at base and reports whether it could; when it could not, the struct may
// be partly written and must be zeroed before msgpack decodes it.
func (p *fastPlan) decode(payload string, base unsafe.Pointer) bool {
	r := fastReader{s: payload}
	n := r.length(r.byte(), 0x80, 0x8f, 0, 0xde, 0xdf)
	var seen uint64
	for range n {
		if r.bad {
			return false
		}
		i, ok := p.byName[r.str()]
		if !ok || i >= 64 || seen&(1<<i) != 0 {
			return false // unknown or repeated field: msgpack's rules apply
		}
		seen |= 1 << i
		f := &p.fields[i]
		ptr := unsafe.Add(base, f.offset)
		switch f.kind {
		case fkString:
			*(*string)(ptr) = r.str()
		case fkBool:
			switch r.byte() {
			case 0xc2:
				*(*bool)(ptr) = false
			case 0xc3:
				*(*bool)(ptr) = true
			default:
				return false
			}
		case fkInt:
			v, big := r.int()
			if big && v < 0 {
				return false // a uint64 past MaxInt64
			}
			storeInt(ptr, f.size, v)
		case fkUint:
			v, big := r.int()
			if v < 0 && !big {
				return false
			}
			storeUint(ptr, f.size, uint64(v))
		case fkFloat32:
			if r.byte() != 0xca {
				return false
			}
			*(*float32)(ptr) = viaFloat64(math.Float32frombits(uint32(r.uint(4))))
		case fkFloat64:
			if r.byte() != 0xcb {
				return false
			}
			*(*float64)(ptr) = math.Float64frombits(r.uint(8))
		case fkMapSS:
			if r.off < len(r.s) && r.s[r.off] == 0xc0 {
				r.off++
				break
			}
			m := r.length(r.byte(), 0x80, 0x8f, 0, 0xde, 0xdf)
			if r.bad || m > len(r.s)-r.off {
				return false
			}
			mm := make(map[string]string, m)
			for range m {
				k := r.str()
				mm[k] = r.str()
			}
			*(*map[string]string)(ptr) = mm
		case fkStrings:
			if r.off < len(r.s) && r.s[r.off] == 0xc0 {
				r.off++
				break
			}
			m := r.length(r.byte(), 0x90, 0x9f, 0, 0xdc, 0xdd)
			if r.bad || m > len(r.s)-r.off {
				return false
			}
			ss := make([]string, m)
			for j := range ss {
				ss[j] = r.str()
			}
			*(*[]string)(ptr) = ss
		}
	}
	return !r.bad && r.off == len(r.s)
}
