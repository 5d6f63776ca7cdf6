package msgpackcheck

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// valid are values of every msgpack type, at every header size.
func valid() []any {
	long := strings.Repeat("x", 70000)
	return []any{
		nil, true, false, 0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, uint64(math.MaxUint64),
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, int64(math.MinInt64),
		float32(1.5), 2.25, math.NaN(),
		"", "short", strings.Repeat("s", 31), strings.Repeat("s", 32), strings.Repeat("s", 256), long,
		[]byte{}, []byte{1, 2, 3}, bytes.Repeat([]byte{7}, 256), []byte(long),
		[]any{}, []any{1, "a", nil}, make([]any, 16), make([]any, 70000),
		map[string]any{}, map[string]any{"a": 1, "b": []any{map[string]any{"c": nil}}},
		time.Unix(1, 0), time.Unix(1, 5), time.Unix(1<<40, 5), // fixext 4, fixext 8, ext8 of 12
		msgpack.RawMessage{0xd4, 1, 2}, msgpack.RawMessage{0xd5, 1, 2, 3}, msgpack.RawMessage{0xd8, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		msgpack.RawMessage{0xc8, 0, 3, 9, 1, 2, 3}, msgpack.RawMessage{0xc9, 0, 0, 0, 1, 9, 1},
	}
}

func manyMap(n int) map[string]int {
	m := make(map[string]int, n)
	for i := range n {
		m[strings.Repeat("k", i%40)+string(rune('a'+i%26))+string(rune(i))] = i
	}
	return m
}

func TestCheckAcceptsWhatMsgpackWrites(t *testing.T) {
	vals := append(valid(), manyMap(20), manyMap(70000))
	for _, v := range vals {
		b, err := msgpack.Marshal(v)
		require.NoError(t, err)
		require.NoError(t, Check(b), "%T % x", v, b[:min(len(b), 16)])
	}
}

// Every strict prefix of a value is truncated, and a value with a byte
// after it is not one value.
func TestCheckRejectsPrefixesAndTrailingBytes(t *testing.T) {
	for _, v := range valid() {
		b, err := msgpack.Marshal(v)
		require.NoError(t, err)
		if len(b) > 300 {
			b = b[:300] // long values: their headers matter, not every prefix
			require.ErrorIs(t, Check(b), ErrInvalid)
		}
		for i := range len(b) {
			require.ErrorIs(t, Check(b[:i]), ErrInvalid, "%T prefix %d", v, i)
		}
		if len(b) < 300 {
			require.ErrorIs(t, Check(append(b, 0)), ErrInvalid)
		}
	}
}

func nested(open byte, depth int, inner []byte) []byte {
	b := bytes.Repeat([]byte{open}, depth)
	return append(b, inner...)
}

// TestCheckRejectsHostile: the payloads of issue 11 that crashed or hung
// decoders, and their relatives.
func TestCheckRejectsHostile(t *testing.T) {
	cases := map[string][]byte{
		"array32 of 4G":         {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01},
		"map32 of 4G":           {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01},
		"array16 of 64k":        {0xdc, 0xff, 0xff, 0x01, 0x02},
		"map16 odd":             {0xde, 0x00, 0x02, 0x01, 0x02, 0x03},
		"fixmap missing value":  {0x81, 0x01},
		"str32 of 4G":           {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
		"bin32 of 4G":           {0xc6, 0xff, 0xff, 0xff, 0xff, 'a'},
		"ext32 of 4G":           {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 'a'},
		"ext8 without type":     {0xc7, 0x00},
		"fixext16 short":        {0xd8, 0x01, 0x00},
		"fixstr short":          {0xa5, 'a'},
		"uint64 short":          {0xcf, 0, 0, 0},
		"never used code":       {0xc1},
		"never used in array":   {0x92, 0x01, 0xc1},
		"empty":                 {},
		"deep arrays 1M":        nested(0x91, 1<<20, []byte{0x01}),
		"deep maps 1M":          nested(0x81, 1<<20, []byte{0x01}), // key then the nested map as value is not this, but still too deep
		"deep mixed":            nested(0x91, MaxDepth, []byte{0x81, 0x01, 0x90}),
		"deep empty innermost":  nested(0x91, MaxDepth, []byte{0x90}),
		"array32 header short":  {0xdd, 0xff, 0xff},
		"two values":            {0x01, 0x02},
		"map32 of 4G in array":  {0x91, 0xdf, 0xff, 0xff, 0xff, 0xff},
		"array with big length": {0xdc, 0x00, 0x05, 0x01, 0x01, 0x01, 0x01},
	}
	for name, b := range cases {
		err := Check(b)
		require.ErrorIs(t, err, ErrInvalid, name)
		require.Error(t, err, name)
	}
}

// The outermost container is depth 1: MaxDepth levels are accepted, one
// more is not, empty or not.
func TestCheckDepthLimit(t *testing.T) {
	require.NoError(t, Check(nested(0x91, MaxDepth, []byte{0x01})))
	require.NoError(t, Check(nested(0x91, MaxDepth-1, []byte{0x90})))
	require.NoError(t, Check(nested(0x91, MaxDepth-1, []byte{0x80})))
	err := Check(nested(0x91, MaxDepth, []byte{0x90}))
	require.ErrorIs(t, err, ErrInvalid)
	require.Contains(t, err.Error(), "nested deeper than 100")
	// Depth is nesting, not the number of containers: many siblings at a
	// shallow depth are fine.
	wide := []byte{0xdc, 0x01, 0x00}
	for range 256 {
		wide = append(wide, 0x91, 0x91, 0x90)
	}
	require.NoError(t, Check(wide))
	// A map's values nest too: {1: {1: ... }}.
	var m []byte
	for range MaxDepth {
		m = append(m, 0x81, 0x01)
	}
	require.NoError(t, Check(append(m, 0x01)))
	require.ErrorIs(t, Check(append(m, 0x80)), ErrInvalid)
}

func TestCheckDoesNotAllocate(t *testing.T) {
	b, err := msgpack.Marshal(map[string]any{"id": "x", "attrs": map[string]string{"a": "b"}, "list": []any{1, 2.5, nil, []byte{1}}})
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		if Check(b) != nil {
			panic("rejected")
		}
	})
	require.Zero(t, allocs)
}

func TestCheckErrorSaysWhere(t *testing.T) {
	err := Check([]byte{0x92, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff})
	require.ErrorIs(t, err, ErrInvalid)
	require.Equal(t, "malformed msgpack: container at offset 2 declares 4294967295 values, 0 bytes remain", err.Error())
	require.False(t, errors.Is(nil, ErrInvalid))
}

// FuzzCheck: what Check accepts, msgpack reads as exactly one value (its
// Skip walks the same structure), and no strict prefix of it is accepted.
func FuzzCheck(f *testing.F) {
	for _, v := range valid()[:30] {
		b, _ := msgpack.Marshal(v)
		f.Add(b)
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if Check(b) != nil {
			return
		}
		r := bytes.NewReader(b)
		require.NoError(t, msgpack.NewDecoder(r).Skip())
		require.Zero(t, r.Len(), "bytes left after the value")
		for i := range len(b) {
			require.Error(t, Check(b[:i]), "prefix %d accepted", i)
		}
	})
}

// BenchmarkCheck: the benchmark suite's event (processor's BenchmarkCodec),
// about 170 bytes.
func BenchmarkCheck(b *testing.B) {
	ev := map[string]any{"id": "0190a5c2-7d3e-7b1a-9c4f-3e2d1c0b9a87", "type": "page_view", "ts": time.Now().UnixNano(),
		"user": "user-48213", "attrs": map[string]string{"path": "/pricing", "referrer": "https://example.com/blog",
			"country": "DE", "device": "desktop", "plan": "trial"}}
	p, err := msgpack.Marshal(ev)
	require.NoError(b, err)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if Check(p) != nil {
			b.Fatal("rejected")
		}
	}
}
