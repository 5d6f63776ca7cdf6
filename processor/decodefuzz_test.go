package processor

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/internal/msgpackcheck"
)

// Bounded decoding: a decode of n payload bytes allocates at most
// allocPerByte*n + allocSlack bytes. allocPerByte covers the worst
// amplification msgpack has for these types (an empty map per byte in a
// []any becomes a map header, ~50 bytes); allocSlack what a decoder and a
// concurrent runtime goroutine allocate whatever the payload. A payload
// that declared 1M elements in 6 bytes would need 16 MB.
const (
	allocPerByte = 512
	allocSlack   = 256 << 10
)

// allocated returns the bytes fn allocates, measured on its second run
// (the first fills msgpack's per-type caches).
func allocated(fn func()) uint64 {
	fn()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// decodeTarget decodes a payload into one T the way dispatch does.
type decodeTarget struct {
	name string
	run  func(d *batchDecoder, b []byte) error
}

func target[T any](name string) decodeTarget {
	plan := newFastPlan(reflect.TypeFor[T]())
	return decodeTarget{name: name, run: func(d *batchDecoder, b []byte) error {
		var v T
		return decodeInto(d, plan, b, &v)
	}}
}

var decodeTargets = []decodeTarget{
	target[any]("any"),
	target[map[string]any]("map[string]any"),
	target[nestedEv]("nestedEv"),
	target[[]nestedEv]("[]nestedEv"),
	target[analyticsEv]("analyticsEv (fast)"),
	target[allKinds]("allKinds (fast)"),
	target[tev]("tev (fast)"),
	target[[]byte]("[]byte"),
	target[msgpack.RawMessage]("msgpack.RawMessage"),
	target[[]map[string]any]("[]map[string]any"),
	target[map[string]extStringMap]("map[string]extStringMap"),
}

// wrappers place the fuzzed bytes inside a value, where T expects a map
// (msgpack reads a map through an ext header: a timestamp there once made
// it presize on the timestamp's bytes), so that what the fuzzer finds at
// the top level is tried nested too.
var wrappers = []struct {
	prefix  []byte
	targets []decodeTarget
}{
	{[]byte{0x81, 0xa1, 'm'}, []decodeTarget{ // {"m": b}
		target[extMapField]("extMapField"), target[extStringMap]("extStringMap"),
		target[extNestedMaps]("extNestedMaps"), target[extTwoMaps]("extTwoMaps"),
		target[map[string]map[string]int]("map[string]map[string]int"),
	}},
	{[]byte{0x92, 0x80}, []decodeTarget{ // [{}, b]
		target[[]map[string]any]("[]map[string]any"), target[[]nestedEv]("[]nestedEv"),
	}},
}

// FuzzDecodePayload: whatever the payload bytes, decoding them into any
// of several T (interfaces, maps, slices of structs, nested structs, and
// the fast codec's kinds) returns (no panic, no hang, no stack overflow)
// and allocates in proportion to the payload; bytes msgpackcheck rejects
// never decode into a value, not even through the fast codec (which
// checks its own lengths and takes only exact, shallow encodings).
func FuzzDecodePayload(f *testing.F) {
	for _, b := range hostilePayloads {
		if len(b) > 1<<16 {
			b = b[:1<<16] // the deep ones: their start is the hostile part
		}
		f.Add(b)
	}
	f.Add(append(bytes.Repeat([]byte{0x91}, msgpackcheck.MaxDepth), 0x01))
	f.Add([]byte{0xdd, 0x00, 0x10, 0x00, 0x00, 0x01}) // 1M elements declared
	f.Add([]byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0xff}) // ext32 of 4G
	f.Add([]byte{0x91, 0xd6, 0xff, 0, 0, 0, 1})       // a time ext in an array
	for _, b := range [][]byte{stampMap32, stampFixmap, stampNilThen, cat([]byte{0x81, 0xa1, 'm'}, stampMap32)} {
		f.Add(b) // timestamps whose bytes read as map headers
	}
	v := nestedEv{N: 1, Tags: []string{"a"}, Attrs: map[string]any{"x": []any{1, "y", map[string]any{"z": nil}}}}
	v.Inner.List = []nestedItem{{M: map[string][]int{"k": {1, 2}}}}
	v.Inner.Any = []any{1.5, true}
	for _, x := range []any{v, []nestedEv{v, v}, analyticsEv{ID: "a", Attrs: map[string]string{"k": "v"}}, tev{N: 3, K: "k"}} {
		b, err := encode(x)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := getBatchDecoder()
		defer d.release()
		fuzzDecode(t, d, b, decodeTargets)
		for _, w := range wrappers {
			fuzzDecode(t, d, append(w.prefix[:len(w.prefix):len(w.prefix)], b...), w.targets)
		}
	})
}

// fuzzDecode decodes b into each of targets: allocation bounded by b's
// length, and bytes msgpackcheck refuses never decode.
func fuzzDecode(t *testing.T, d *batchDecoder, b []byte, targets []decodeTarget) {
	malformed := msgpackcheck.Check(b) != nil
	limit := allocPerByte*uint64(len(b)) + allocSlack
	for _, tg := range targets {
		var err error
		n := allocated(func() { err = tg.run(d, b) })
		if n > limit {
			t.Fatalf("%s: decoding %d bytes (% x) allocated %d bytes, more than %d", tg.name, len(b), b[:min(len(b), 32)], n, limit)
		}
		if malformed && !errors.Is(err, msgpackcheck.ErrInvalid) {
			t.Fatalf("%s: malformed payload % x decoded (err %v)", tg.name, b[:min(len(b), 32)], err)
		}
	}
}
