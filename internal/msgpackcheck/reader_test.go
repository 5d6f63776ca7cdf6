package msgpackcheck

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// msgpack reads a map-typed value through an ext header, taking the map's
// header from the ext's data: from a timestamp, whose bytes Check cannot
// refuse, that is a map32 of 1M entries here. Through a Reader the decoder
// gets ErrInvalid before it reads the length.
func TestReaderRefusesATimestampReadAsAMap(t *testing.T) {
	stamp := []byte{0xd7, 0xff, 0xdf, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00}
	type ev struct {
		M map[string]any `msgpack:"m"`
	}
	b := append([]byte{0x81, 0xa1, 'm'}, stamp...)
	var r Reader
	if err := r.Reset(b); err != nil {
		t.Fatal(err)
	}
	var v ev
	err := msgpack.NewDecoder(&r).Decode(&v)
	if !errors.Is(err, ErrInvalid) || !errors.Is(r.Err(), ErrInvalid) {
		t.Fatalf("Decode = %v, Err = %v; want ErrInvalid", err, r.Err())
	}
	// The same bytes into a time decode.
	type evTime struct {
		M time.Time `msgpack:"m"`
	}
	for _, dst := range []any{&evTime{}, new(any), new(map[string]any)} {
		if err := r.Reset(b); err != nil {
			t.Fatal(err)
		}
		if err := msgpack.NewDecoder(&r).Decode(dst); err != nil || r.Err() != nil {
			t.Errorf("%T: Decode = %v, Err = %v", dst, err, r.Err())
		}
	}
	// Nested in another ext's data (which Check reads as a value), the
	// timestamp is found too.
	inner := append([]byte{0x91}, stamp...)
	outer := append([]byte{0xc7, byte(len(inner)), 0x05}, inner...)
	if err := r.Reset(outer); err != nil {
		t.Fatal(err)
	}
	if len(r.stamps) != 1 || r.stamps[0] != 3+1+2 {
		t.Errorf("stamps = %v, want [6]", r.stamps)
	}
}

// Apart from that one refusal a Reader reads as bytes.Reader does.
func TestReaderReadsAsBytesReader(t *testing.T) {
	b := []byte{0x93, 0x01, 0xa2, 'h', 'i', 0xd6, 0xff, 0x00, 0x00, 0x00, 0x01}
	var r Reader
	if err := r.Reset(b); err != nil {
		t.Fatal(err)
	}
	br := bytes.NewReader(b)
	step := func(name string, a, e error) {
		t.Helper()
		if (a == nil) != (e == nil) {
			t.Fatalf("%s: Reader %v, bytes.Reader %v", name, a, e)
		}
	}
	c1, e1 := r.ReadByte()
	c2, e2 := br.ReadByte()
	step("ReadByte", e1, e2)
	if c1 != c2 {
		t.Fatalf("ReadByte %#x, want %#x", c1, c2)
	}
	step("UnreadByte", r.UnreadByte(), br.UnreadByte())
	step("UnreadByte at start", r.UnreadByte(), br.UnreadByte())
	p1, p2 := make([]byte, 4), make([]byte, 4)
	n1, e1 := r.Read(p1)
	n2, e2 := br.Read(p2)
	step("Read", e1, e2)
	if n1 != n2 || !bytes.Equal(p1, p2) {
		t.Fatalf("Read %d % x, want %d % x", n1, p1, n2, p2)
	}
	rest1, e1 := io.ReadAll(&r)
	rest2, e2 := io.ReadAll(br)
	step("ReadAll", e1, e2)
	if !bytes.Equal(rest1, rest2) {
		t.Fatalf("ReadAll % x, want % x", rest1, rest2)
	}
	_, e1 = r.ReadByte()
	_, e2 = br.ReadByte()
	if e1 != io.EOF || e2 != io.EOF {
		t.Fatalf("ReadByte at the end: %v, %v", e1, e2)
	}
	// A refused Reset holds nothing.
	if err := r.Reset([]byte{0xc1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Reset(0xc1) = %v", err)
	}
	if n, err := r.Read(p1); n != 0 || err != io.EOF {
		t.Fatalf("Read after a refused Reset: %d, %v", n, err)
	}
}

func TestReaderResetAllocatesNothingOnceWarm(t *testing.T) {
	b, err := msgpack.Marshal(map[string]any{"a": time.Unix(1, 2), "b": []any{time.Unix(3, 4)}})
	if err != nil {
		t.Fatal(err)
	}
	var r Reader
	if n := testing.AllocsPerRun(100, func() { _ = r.Reset(b) }); n != 0 {
		t.Errorf("Reset allocated %v times per run", n)
	}
}
