package processor

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/internal/msgpackcheck"
)

type analyticsEv struct {
	ID        string            `msgpack:"id"`
	Type      string            `msgpack:"type"`
	Timestamp int64             `msgpack:"ts"`
	UserID    string            `msgpack:"user"`
	Attrs     map[string]string `msgpack:"attrs"`
}

type kindName string

type allKinds struct {
	S   string
	K   kindName `msgpack:"k"`
	B   bool
	I   int
	I8  int8
	I16 int16
	I32 int32
	I64 int64
	U   uint
	U8  uint8
	U16 uint16
	U32 uint32
	U64 uint64
	F32 float32
	F64 float64
	M   map[string]string
	L   []string
	OS  string            `msgpack:"os,omitempty"`
	OB  bool              `msgpack:"ob,omitempty"`
	OI  int64             `msgpack:"oi,omitempty"`
	OU  uint32            `msgpack:"ou,omitempty"`
	OF  float64           `msgpack:"of,omitempty"`
	OM  map[string]string `msgpack:"om,omitempty"`
	OL  []string          `msgpack:",omitempty"`
}

type withMethod struct{ A string }

func (withMethod) String() string { return "" }

type fieldWithMethod struct{ D time.Duration }

func TestFastPlanShapes(t *testing.T) {
	for _, c := range []struct {
		t  reflect.Type
		ok bool
	}{
		{reflect.TypeFor[analyticsEv](), true},
		{reflect.TypeFor[allKinds](), true},
		{reflect.TypeFor[tev](), true},
		{reflect.TypeFor[plainEv](), false}, // an array and a nested struct
		{reflect.TypeFor[[]byte](), false},
		{reflect.TypeFor[string](), false},
		{reflect.TypeFor[withMethod](), false},
		{reflect.TypeFor[fieldWithMethod](), false},
		{reflect.TypeFor[withUnexported](), false},
		{reflect.TypeFor[withSkipped](), false},
		{reflect.TypeFor[withEmbeddedPtr](), false},
		{reflect.TypeFor[struct {
			A string `msgpack:"a,inline"`
		}](), false},
		{reflect.TypeFor[struct {
			A string `msgpack:"x"`
			B string `msgpack:"x"`
		}](), false},
		{reflect.TypeFor[struct{ M map[string]int }](), false},
		{reflect.TypeFor[struct{ B []byte }](), false},
	} {
		require.Equal(t, c.ok, newFastPlan(c.t) != nil, "%s", c.t)
	}
}

func randString(r *rand.Rand) string {
	n := []int{0, 1, 5, 31, 32, 200, 255, 256, 1000}[r.IntN(9)]
	if r.IntN(50) == 0 {
		n = 70_000 // str32
	}
	var b strings.Builder
	for range n {
		b.WriteByte(byte(r.Uint32()))
	}
	return b.String()
}

func randMap(r *rand.Rand) map[string]string {
	switch r.IntN(5) {
	case 0:
		return nil
	case 1:
		return map[string]string{}
	}
	n := []int{1, 1, 3, 15, 16, 20}[r.IntN(6)]
	m := make(map[string]string, n)
	for range n {
		m[randString(r)] = randString(r)
	}
	return m
}

func randList(r *rand.Rand) []string {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	l := make([]string, []int{1, 3, 15, 16, 40}[r.IntN(5)])
	for i := range l {
		l[i] = randString(r)
	}
	return l
}

func randInt(r *rand.Rand) int64 {
	edges := []int64{0, 1, -1, 127, 128, -32, -33, 255, 256, -128, -129, 65535, 65536, -32768, -32769,
		math.MaxUint32, math.MaxUint32 + 1, math.MinInt32, math.MinInt32 - 1, math.MaxInt64, math.MinInt64}
	if r.IntN(2) == 0 {
		return edges[r.IntN(len(edges))]
	}
	return int64(r.Uint64()) >> r.IntN(64)
}

func randFloat(r *rand.Rand) float64 {
	return []float64{0, 1.5, -2.25, math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64, r.NormFloat64()}[r.IntN(8)]
}

func randAllKinds(r *rand.Rand) allKinds {
	zeroOr := func(v bool) bool { return v && r.IntN(3) > 0 }
	v := allKinds{
		S: randString(r), K: kindName(randString(r)), B: r.IntN(2) == 0,
		I: int(randInt(r)), I8: int8(randInt(r)), I16: int16(randInt(r)), I32: int32(randInt(r)), I64: randInt(r),
		U: uint(r.Uint64() >> r.IntN(64)), U8: uint8(r.Uint32()), U16: uint16(r.Uint32()), U32: r.Uint32() >> r.IntN(32), U64: r.Uint64() >> r.IntN(64),
		F32: float32(randFloat(r)), F64: randFloat(r), M: randMap(r), L: randList(r),
	}
	if zeroOr(true) {
		v.OS, v.OB, v.OI, v.OU, v.OF = randString(r), r.IntN(2) == 0, randInt(r), r.Uint32(), randFloat(r)
		v.OM, v.OL = randMap(r), randList(r)
	}
	return v
}

// encodeMsgpack encodes v as the processor's msgpack encoder does.
func encodeMsgpack(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	require.NoError(t, enc.Encode(v))
	return buf.Bytes()
}

func fastRoundTrip[T any](t *testing.T, plan *fastPlan, v T, exactBytes bool) {
	t.Helper()
	fast := plan.appendEncode(nil, unsafe.Pointer(&v))
	slow := encodeMsgpack(t, &v)
	// Values are long random strings: keep failure messages short.
	if exactBytes {
		require.True(t, bytes.Equal(slow, fast), "the bytes msgpack writes")
	}
	require.Equal(t, len(slow), len(fast))
	for _, b := range [][]byte{fast, slow} {
		var want, got T
		require.NoError(t, msgpack.Unmarshal(b, &want))
		require.True(t, plan.decode(string(b), unsafe.Pointer(&got)), "the fast decoder reads what the encoders write")
		require.True(t, reflect.DeepEqual(want, got), "fast and msgpack decode to the same value")
	}
}

// The fast encoder writes what msgpack writes (byte for byte where map
// order does not enter), and the fast decoder reads both into what msgpack
// decodes.
func TestFastCodecMatchesMsgpack(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	plan := newFastPlan(reflect.TypeFor[allKinds]())
	for range 3000 {
		v := randAllKinds(r)
		exact := len(v.M) <= 1 && len(v.OM) <= 1
		fastRoundTrip(t, plan, v, exact)
	}
	evPlan := newFastPlan(reflect.TypeFor[analyticsEv]())
	for i := range 500 {
		ev := analyticsEv{ID: randString(r), Type: "page_view", Timestamp: randInt(r), UserID: fmt.Sprint("u", i), Attrs: randMap(r)}
		fastRoundTrip(t, evPlan, ev, len(ev.Attrs) <= 1)
	}
	tevPlan := newFastPlan(reflect.TypeFor[tev]())
	for i := range 500 {
		fastRoundTrip(t, tevPlan, tev{N: int(randInt(r)), K: []string{"", "a", "bc", "def"}[i%4], G: i % 3, P: randString(r)}, true)
	}
}

// Bytes the fast decoder does not know are left to msgpack, which then
// gives its own answer once msgpackcheck accepts the bytes (a trailing
// byte msgpack would ignore is an error): the processor decodes a record
// the same way with or without the fast path.
func TestFastDecodeFallsBack(t *testing.T) {
	plan := newFastPlan(reflect.TypeFor[analyticsEv]())
	var bin bytes.Buffer
	enc := msgpack.NewEncoder(&bin)
	require.NoError(t, enc.EncodeMapLen(2))
	require.NoError(t, enc.EncodeString("id"))
	require.NoError(t, enc.EncodeBytes([]byte("as bin"))) // msgpack reads bin into a string
	require.NoError(t, enc.EncodeString("extra"))         // an unknown field msgpack skips
	require.NoError(t, enc.EncodeInt(5))
	cases := map[string][]byte{
		"bin string and unknown field": bin.Bytes(),
		"float for an int":             encodeMsgpack(t, map[string]any{"ts": 1.5}),
		"array-encoded struct":         encodeMsgpack(t, []any{"a", "b"}),
		"nil":                          {0xc0},
		"repeated field":               append([]byte{0x82}, append(append([]byte(nil), encodeMsgpack(t, "id")[:]...), append(encodeMsgpack(t, "a"), append(encodeMsgpack(t, "id"), encodeMsgpack(t, "b")...)...)...)...),
		"trailing byte":                append(encodeMsgpack(t, &analyticsEv{ID: "x"}), 0x01),
		"truncated":                    encodeMsgpack(t, &analyticsEv{ID: "xyz"})[:5],
	}
	for name, b := range cases {
		var got analyticsEv
		require.False(t, plan.decode(string(b), unsafe.Pointer(&got)), name)
		var want analyticsEv
		wantErr := msgpackcheck.Check(b)
		if wantErr == nil {
			wantErr = msgpack.Unmarshal(b, &want)
		}
		d := getBatchDecoder()
		got = analyticsEv{}
		err := decodeInto(d, plan, b, &got)
		d.release()
		if wantErr != nil {
			require.Error(t, err, name)
			continue
		}
		require.NoError(t, err, name)
		require.Equal(t, want, got, name)
	}
}

// encodeSorted encodes v as msgpack does with map keys in order.
func encodeSorted(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.SetSortMapKeys(true)
	require.NoError(t, enc.Encode(v))
	return buf.Bytes()
}

// FuzzFastDecode: whatever the bytes, when the fast decoder takes them,
// msgpack decodes them to the same value.
func FuzzFastDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		v := randAllKinds(r)
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		_ = enc.Encode(&v)
		f.Add(buf.Bytes())
	}
	plan := newFastPlan(reflect.TypeFor[allKinds]())
	f.Fuzz(func(t *testing.T, b []byte) {
		var got allKinds
		if !plan.decode(string(b), unsafe.Pointer(&got)) {
			return
		}
		var want allKinds
		require.NoError(t, msgpack.Unmarshal(b, &want))
		if !reflect.DeepEqual(want, got) {
			// NaN is the one value not equal to itself: compare encodings,
			// with map keys sorted (map order would make them differ).
			require.Equal(t, encodeSorted(t, &want), encodeSorted(t, &got))
		}
	})
}

// BenchmarkCodec: the benchmark suite's event, encoded and decoded by
// msgpack and by the fast codec.
func BenchmarkCodec(b *testing.B) {
	ev := analyticsEv{ID: "0190a5c2-7d3e-7b1a-9c4f-3e2d1c0b9a87", Type: "page_view", Timestamp: time.Now().UnixNano(),
		UserID: "user-48213", Attrs: map[string]string{"path": "/pricing", "referrer": "https://example.com/blog",
			"country": "DE", "device": "desktop", "plan": "trial"}}
	plan := newFastPlan(reflect.TypeFor[analyticsEv]())
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	payload := plan.appendEncode(nil, unsafe.Pointer(&ev))
	b.Run("encode/msgpack", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf.Reset()
			_ = enc.Encode(&ev)
		}
	})
	b.Run("encode/fast", func(b *testing.B) {
		b.ReportAllocs()
		out := make([]byte, 0, 512)
		for range b.N {
			out = plan.appendEncode(out[:0], unsafe.Pointer(&ev))
		}
	})
	b.Run("decode/msgpack", func(b *testing.B) {
		b.ReportAllocs()
		d := getBatchDecoder()
		defer d.release()
		for range b.N {
			var v analyticsEv
			_ = decodeInto(d, nil, payload, &v)
		}
	})
	b.Run("decode/fast", func(b *testing.B) {
		b.ReportAllocs()
		d := getBatchDecoder()
		defer d.release()
		for range b.N {
			var v analyticsEv
			_ = decodeInto(d, plan, payload, &v)
		}
	})
}

// BenchmarkDecodeBatch: a batch of 1000 of the benchmark suite's events
// decoded as the dispatch decodes a batch (loop.values: one batchDecoder,
// the fast codec); ns/op and allocs/op are per batch.
func BenchmarkDecodeBatch(b *testing.B) {
	plan := newFastPlan(reflect.TypeFor[analyticsEv]())
	payloads := make([][]byte, 1000)
	for i := range payloads {
		ev := analyticsEv{ID: fmt.Sprintf("0190a5c2-7d3e-7b1a-9c4f-%012d", i), Type: "page_view", Timestamp: time.Now().UnixNano(),
			UserID: fmt.Sprintf("user-%d", i), Attrs: map[string]string{"path": "/pricing", "referrer": "https://example.com/blog",
				"country": "DE", "device": "desktop", "plan": "trial"}}
		payloads[i] = plan.appendEncode(nil, unsafe.Pointer(&ev))
	}
	evs := make([]analyticsEv, len(payloads))
	b.ReportAllocs()
	for range b.N {
		clear(evs)
		d := getBatchDecoder()
		for i, p := range payloads {
			if err := decodeInto(d, plan, p, &evs[i]); err != nil {
				b.Fatal(err)
			}
		}
		d.release()
	}
}
