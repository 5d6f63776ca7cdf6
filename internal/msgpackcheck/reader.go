package msgpackcheck

import (
	"errors"
	"fmt"
	"io"
)

// Reader holds one value Check accepted for msgpack/v5's Decoder, which
// reads an io.ByteScanner directly (NewDecoder or ResetReader), and
// refuses the one read by which the decoder would leave the values Check
// has seen: a code read from the first byte of a timestamp's data.
//
// msgpack/v5 decodes a map (a map-typed field, element or value: its
// DecodeMapLen) through an ext header: it skips the header and reads the
// map's header from the ext's data. Check makes every other ext's data
// safe for that; a timestamp's 4, 8 or 12 bytes can be anything, so they
// may hold a map32 header that declares 4G entries (which the decoder
// presizes its map on), or a nil or fixmap header after which the decoder
// goes on reading values out of bytes nobody checked. msgpack's own
// timestamp decoding (time.Time, or an ext into an interface) reads the
// data in one Read, never a byte at a time, so the refusal refuses only
// a misreading: the decoder gets an error wrapping ErrInvalid (Err
// returns it too) and reads nothing past it. (A program that registers
// its own decoder for ext type -1 and reads the data as values would be
// refused too.)
//
// The zero Reader holds no bytes; Reset gives it some. It is not safe for
// concurrent use.
type Reader struct {
	b      []byte
	off    int
	stamps []int // offsets of the timestamps' data, ascending
	next   int   // index in stamps of the first offset at or after off
	err    error // the refusal, once made
}

// Reset checks b as Check does and, if b passes, makes r read it from its
// start; otherwise it returns Check's error and r holds no bytes. r keeps
// its buffers across calls: a Reader reused for many values allocates
// only when one holds more timestamps than any before it.
func (r *Reader) Reset(b []byte) error {
	r.Clear()
	if err := check(b, MaxDepth, 0, &r.stamps); err != nil {
		return err
	}
	r.b = b
	return nil
}

// Clear drops the bytes r holds, keeping its buffers.
func (r *Reader) Clear() {
	r.b, r.off, r.next, r.err = nil, 0, 0, nil
	r.stamps = r.stamps[:0]
}

// Err returns the error ReadByte refused a read with, or nil. A decoder
// may wrap it or, reading ahead, drop it; a caller that decoded through r
// returns Err in place of whatever the decoder said.
func (r *Reader) Err() error { return r.err }

// Read reads the next bytes into p, as bytes.Reader does.
func (r *Reader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	r.skipStamps()
	return n, nil
}

// ReadByte reads the next byte, as bytes.Reader does, but for the first
// byte of a timestamp's data, which it refuses.
func (r *Reader) ReadByte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	if r.next < len(r.stamps) && r.stamps[r.next] == r.off {
		r.err = fmt.Errorf("%w: the timestamp's data at offset %d read as a value (a map or struct where a timestamp is stored?)", ErrInvalid, r.off)
		return 0, r.err
	}
	c := r.b[r.off]
	r.off++
	r.skipStamps()
	return c, nil
}

// UnreadByte steps back one byte, as bytes.Reader does.
func (r *Reader) UnreadByte() error {
	if r.off <= 0 {
		return errUnreadAtStart
	}
	r.off--
	for r.next > 0 && r.stamps[r.next-1] >= r.off {
		r.next--
	}
	return nil
}

var errUnreadAtStart = errors.New("msgpackcheck.Reader.UnreadByte: at beginning of value")

// skipStamps moves next past the timestamps before off.
func (r *Reader) skipStamps() {
	for r.next < len(r.stamps) && r.stamps[r.next] < r.off {
		r.next++
	}
}
