package processor

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/msgpackcheck"
)

type extMapField struct {
	M map[string]any `msgpack:"m"`
}

type extTwoMaps struct {
	M map[string]any `msgpack:"m"`
	X map[string]any `msgpack:"x"`
}

type extStringMap struct {
	M map[string]string `msgpack:"m"`
}

type extNestedMaps struct {
	M map[string]map[string]any `msgpack:"m"`
}

type extPtrMap struct {
	P *map[string]any `msgpack:"p"`
}

type extEmbedded struct {
	extMapField
	N int `msgpack:"n"`
}

// A timestamp's data read as a map header: DecodeMapLen skips the ext's
// header and takes a map32 of 1M entries out of the timestamp's bytes.
var (
	stampMap32   = []byte{0xd7, 0xff, 0xdf, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00}
	stampFixmap  = []byte{0xc7, 0x0c, 0xff, 0x81, 0xa1, 'x', 0xdf, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
	stampNilThen = []byte{0xd7, 0xff, 0xc0, 0xa1, 'x', 0xde, 0xff, 0xff, 0x00, 0x00}
)

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestNestedExtDoesNotPresize(t *testing.T) {
	cases := []struct {
		name string
		tg   decodeTarget
		b    []byte
	}{
		{"struct field map[string]any", target[extMapField]("extMapField"), cat([]byte{0x81, 0xa1, 'm'}, stampMap32)},
		{"[]map[string]any element", target[[]map[string]any]("[]map[string]any"), cat([]byte{0x91}, stampMap32)},
		{"map[string]struct value", target[map[string]extStringMap]("map[string]extStringMap"), cat([]byte{0x81, 0xa1, 'k', 0x81, 0xa1, 'm'}, stampMap32)},
		{"map[string]map[string]int value", target[map[string]map[string]int]("map[string]map[string]int"), cat([]byte{0x81, 0xa1, 'k'}, stampMap32)},
		{"pointer to map", target[extPtrMap]("extPtrMap"), cat([]byte{0x81, 0xa1, 'p'}, stampMap32)},
		{"embedded struct's map", target[extEmbedded]("extEmbedded"), cat([]byte{0x82, 0xa1, 'n', 0x01, 0xa1, 'm'}, stampMap32)},
		{"nestedEv attrs", target[nestedEv]("nestedEv"), cat([]byte{0x81, 0xa5, 'a', 't', 't', 'r', 's'}, stampMap32)},
		{"fixmap in a timestamp, then a map32", target[extNestedMaps]("extNestedMaps"), cat([]byte{0x81, 0xa1, 'm'}, stampFixmap)},
		{"nil in a timestamp, then a field", target[extTwoMaps]("extTwoMaps"), cat([]byte{0x82, 0xa1, 'm'}, stampNilThen, []byte{0xa1, 'y', 0xc0})},
		{"nil in another ext, then a field", target[extTwoMaps]("extTwoMaps"),
			[]byte{0x82, 0xa1, 'm', 0xc7, 0x08, 0x05, 0xc0, 0xa1, 'x', 0xdf, 0x00, 0x10, 0x00, 0x00, 0xa1, 'y', 0xc0}},
	}
	d := getBatchDecoder()
	defer d.release()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			n := allocated(func() { err = c.tg.run(d, c.b) })
			limit := allocPerByte*uint64(len(c.b)) + allocSlack
			if n > limit {
				t.Errorf("decoding %d bytes allocated %d bytes, more than %d", len(c.b), n, limit)
			}
			if !errors.Is(err, msgpackcheck.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// Timestamps are any bytes: those whose data starts with what reads as a
// map32, map16, fixmap or nil header decode as before wherever T has a
// time (a field, an interface, a map value, an element).
func TestTimestampsThatLookLikeMapHeadersStillDecode(t *testing.T) {
	type withTimes struct {
		At    time.Time         `msgpack:"at"`
		P     *time.Time        `msgpack:"p"`
		M     map[string]any    `msgpack:"m"`
		Times []time.Time       `msgpack:"times"`
		ByKey map[string]any    `msgpack:"bykey"`
		S     map[string]string `msgpack:"s"`
		Any   any               `msgpack:"any"`
	}
	for _, first := range []int64{0xdf, 0xde, 0x80, 0x8f, 0xc0} {
		// An 8-byte timestamp's first byte is bits 22-29 of its nanoseconds.
		ts := time.Unix(1_700_000_000, first<<22+12345).UTC()
		b, err := encode(ts)
		require.NoError(t, err)
		require.Equal(t, []byte{0xd7, 0xff, byte(first)}, b[:3])
		in := withTimes{At: ts, P: &ts, M: map[string]any{"t": ts}, Times: []time.Time{ts, ts},
			ByKey: map[string]any{"k": []any{ts}}, S: map[string]string{"a": "b"}, Any: ts}
		got, err := roundTrip(in)
		require.NoError(t, err, "first byte %#x", first)
		require.True(t, got.At.Equal(ts) && got.P.Equal(ts) && got.Times[1].Equal(ts) && got.Any.(time.Time).Equal(ts), "first byte %#x: %+v", first, got)
		require.True(t, got.M["t"].(time.Time).Equal(ts) && got.ByKey["k"].([]any)[0].(time.Time).Equal(ts))
		for _, v := range []any{ts, []any{ts}, map[string]any{"t": ts}} {
			b, err := encode(v)
			require.NoError(t, err)
			_, err = decode[any](b)
			require.NoError(t, err, "%#v", v)
		}
	}
	// 4-byte timestamps (whole seconds below 2^32): the first byte is the
	// seconds' top byte.
	ts := time.Unix(0xdf000000, 0).UTC()
	b, err := encode(ts)
	require.NoError(t, err)
	require.Equal(t, []byte{0xd6, 0xff, 0xdf}, b[:3])
	got, err := decode[time.Time](b)
	require.NoError(t, err)
	require.True(t, got.Equal(ts))
}

func roundTrip[T any](v T) (T, error) {
	b, err := encode(v)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode[T](b)
}
