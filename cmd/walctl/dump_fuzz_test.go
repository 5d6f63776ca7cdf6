package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/internal/msgpackcheck"
)

// FuzzDumpPayload: whatever the payload bytes, dump's msgpack-to-JSON
// conversion returns (no panic, hang or stack overflow), allocates in
// proportion to the payload (at most 1 KiB a byte plus 256 KiB: an empty
// map a byte becomes a decoded map, a copy and its JSON), refuses what
// msgpackcheck refuses, and what it returns is JSON that dump's NDJSON
// writer prints.
func FuzzDumpPayload(f *testing.F) {
	for _, b := range [][]byte{
		{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01},
		{0xdf, 0xff, 0xff, 0xff, 0xff, 0x01},
		{0xdd, 0x00, 0x10, 0x00, 0x00, 0x01},
		{0xc9, 0xff, 0xff, 0xff, 0xff, 0xff},
		append(bytes.Repeat([]byte{0x91}, 1<<16), 0x01),
		append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 1<<14), 0x01),
		append(bytes.Repeat([]byte{0x91}, msgpackcheck.MaxDepth), 0x01),
		{0x82, 0x01, 0xc4, 0x01, 0xff, 0xc0, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0},  // non-string keys, bin, NaN
		{0x91, 0xd6, 0xff, 0, 0, 0, 1},                                            // a time
		{0x81, 0xa1, 'm', 0xd7, 0xff, 0xdf, 0x00, 0x10, 0x00, 0x00, 0, 0, 0},      // a time whose bytes read as a map32
		{0x81, 0xa1, 'm', 0xc7, 0x08, 0x05, 0xc0, 0xa1, 'x', 0xdf, 0, 0x10, 0, 0}, // an ext holding nil, then more
	} {
		f.Add(b)
	}
	for _, v := range []any{map[string]any{"a": []any{1, "b", nil}}, "text", []byte{1, 2}} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var js json.RawMessage
		var err error
		convert := func() { js, err = msgpackToJSON(b) }
		convert()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		convert()
		runtime.ReadMemStats(&after)
		if n, limit := after.TotalAlloc-before.TotalAlloc, 1024*uint64(len(b))+256<<10; n > limit {
			t.Fatalf("converting %d bytes allocated %d bytes, more than %d", len(b), n, limit)
		}
		if msgpackcheck.Check(b) != nil && !errors.Is(err, msgpackcheck.ErrInvalid) {
			t.Fatalf("malformed payload % x converted (err %v)", b[:min(len(b), 32)], err)
		}
		if err != nil {
			return
		}
		if !json.Valid(js) {
			t.Fatalf("not JSON: %s", js)
		}
		if err := (&ndjson{w: io.Discard}).add(dumpRecord{payloadFields: payloadFields{Payload: js}}); err != nil {
			t.Fatalf("dump cannot print the payload: %v", err)
		}
	})
}
