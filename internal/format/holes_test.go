package format

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/store"
)

// holeRanges returns the canonical holes of a set of sequence numbers:
// ascending, disjoint, not touching [first, last] pairs.
func holeRanges(set map[uint64]bool) []uint64 {
	var seqs []uint64
	for s, in := range set {
		if in {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	var out []uint64
	for _, s := range seqs {
		if n := len(out); n > 0 && out[n-1]+1 == s {
			out[n-1] = s
		} else {
			out = append(out, s, s)
		}
	}
	return out
}

func requireHolesModel(t *testing.T, b *Batch, set map[uint64]bool, msg ...any) {
	t.Helper()
	require.Equal(t, holeRanges(set), b.Holes, msg...)
	for s := b.First - min(b.First, 2); s <= b.Last+2; s++ {
		require.Equal(t, set[s], b.InHole(s), append([]any{"InHole(%d)", s}, msg...)...)
		require.Equal(t, s >= b.First && s <= b.Last && !set[s], b.Holds(s), "Holds(%d)", s)
	}
}

// AddHole merges in every order: random subsets added in random orders
// give the canonical holes of the set, and the shape DecodeBatch checks.
func TestAddHoleRandomOrders(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	for round := range 150 {
		first := uint64(1 + rng.IntN(5))
		last := first + uint64(2+rng.IntN(40))
		b := &Batch{Seq: 9, First: first, Last: last}
		set := map[uint64]bool{}
		inner := make([]uint64, 0, last-first)
		for s := first + 1; s < last; s++ {
			inner = append(inner, s)
		}
		rng.Shuffle(len(inner), func(i, j int) { inner[i], inner[j] = inner[j], inner[i] })
		inner = inner[:rng.IntN(len(inner)+1)]
		for _, s := range inner {
			b.AddHole(s)
			set[s] = true
			requireHolesModel(t, b, set, "round %d", round)
			require.NoError(t, b.checkHoles(), "round %d: %v", round, b.Holes)
		}
	}
}

// Every merge case, including at First and Last (a hole there is out of
// shape until First or Last moves and ClipHoles runs).
func TestAddHoleCases(t *testing.T) {
	b := &Batch{First: 10, Last: 20}
	for _, tc := range []struct {
		seq  uint64
		want []uint64
	}{
		{15, []uint64{15, 15}},
		{13, []uint64{13, 13, 15, 15}},
		{17, []uint64{13, 13, 15, 15, 17, 17}},
		{14, []uint64{13, 15, 17, 17}},         // joins both
		{16, []uint64{13, 17}},                 // joins both
		{12, []uint64{12, 17}},                 // joins the next
		{18, []uint64{12, 18}},                 // joins the previous
		{10, []uint64{10, 10, 12, 18}},         // at First
		{20, []uint64{10, 10, 12, 18, 20, 20}}, // at Last
		{11, []uint64{10, 18, 20, 20}},
		{19, []uint64{10, 20}},
	} {
		b.AddHole(tc.seq)
		require.Equal(t, tc.want, b.Holes, "AddHole(%d)", tc.seq)
	}
	require.Error(t, b.checkHoles())
	for s := uint64(10); s <= 20; s++ {
		require.False(t, b.Holds(s))
	}
}

// ClipHoles keeps only what lies strictly inside (First, Last) after
// either moved, whichever way.
func TestClipHolesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	for round := range 500 {
		first := uint64(rng.IntN(4))
		last := first + uint64(rng.IntN(30))
		b := &Batch{First: first, Last: last}
		set := map[uint64]bool{}
		for s := first; s <= last; s++ {
			if rng.IntN(3) == 0 {
				b.AddHole(s)
				set[s] = true
			}
		}
		// First and Last move inward (to events in the batch, or past
		// each other when none is left).
		b.First += uint64(rng.IntN(int(last-first) + 2))
		b.Last -= uint64(rng.IntN(int(b.Last) + 1))
		b.ClipHoles()
		for s := range set {
			if s <= b.First || s >= b.Last {
				delete(set, s)
			}
		}
		require.Equal(t, holeRanges(set), b.Holes, "round %d: [%d, %d]", round, b.First, b.Last)
		if b.First <= b.Last {
			require.NoError(t, b.checkHoles(), "round %d", round)
		}
	}
	b := &Batch{First: 3, Last: 0, Holes: []uint64{1, 2}}
	b.ClipHoles()
	require.Nil(t, b.Holes)
	b = &Batch{First: 5, Last: 6, Holes: []uint64{}}
	b.ClipHoles()
	require.Nil(t, b.Holes)
}

// PruneHoles keeps the parts of holes some value holds, split where
// values do not hold them.
func TestPruneHoles(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 300 {
		b := &Batch{First: 1, Last: 60}
		set := map[uint64]bool{}
		held := map[uint64]bool{}
		for s := uint64(2); s < 60; s++ {
			if rng.IntN(2) == 0 {
				b.AddHole(s)
				set[s] = true
			}
			held[s] = rng.IntN(3) > 0
		}
		calls := 0
		b.PruneHoles(func(first, last uint64) [][2]uint64 {
			calls++
			var out [][2]uint64
			for s := first; s <= last; s++ {
				if !held[s] {
					continue
				}
				if n := len(out); n > 0 && out[n-1][1]+1 == s {
					out[n-1][1] = s
				} else {
					out = append(out, [2]uint64{s, s})
				}
			}
			return out
		})
		for s := range set {
			set[s] = held[s]
		}
		want := holeRanges(set)
		require.Equal(t, want, b.Holes, "round %d", round)
		require.NoError(t, b.checkHoles())
		if len(want) == 0 {
			require.Nil(t, b.Holes)
		}
	}
}

// DecodeBatch refuses holes of a bad shape, even under a right checksum,
// and with no checksum (a record written before it).
func TestDecodeBatchChecksHoles(t *testing.T) {
	var uid [8]byte
	for _, tc := range []struct {
		name  string
		holes []uint64
		ok    bool
	}{
		{"none", nil, true},
		{"empty", []uint64{}, true},
		{"one", []uint64{15, 15}, true},
		{"widest", []uint64{11, 19}, true},
		{"two", []uint64{11, 12, 14, 19}, true},
		{"odd length", []uint64{12, 13, 15}, false},
		{"single", []uint64{12}, false},
		{"reversed pair", []uint64{14, 12}, false},
		{"overlapping", []uint64{12, 15, 14, 16}, false},
		{"same", []uint64{12, 13, 12, 13}, false},
		{"touching", []uint64{12, 13, 14, 16}, false},
		{"descending", []uint64{16, 17, 12, 13}, false},
		{"at First", []uint64{10, 12}, false},
		{"at Last", []uint64{18, 20}, false},
		{"below First", []uint64{3, 5}, false},
		{"above Last", []uint64{25, 26}, false},
		{"around", []uint64{9, 21}, false},
		{"max", []uint64{^uint64(0), ^uint64(0)}, false},
		{"zero", []uint64{0, 0}, false},
	} {
		b := Batch{Seq: 4, First: 10, Last: 20, Count: 11, Holes: tc.holes}
		v, err := EncodeBatch(&b)
		if !tc.ok {
			require.ErrorContains(t, err, "holes", "%s: EncodeBatch writes no record DecodeBatch refuses", tc.name)
			v = encodeWithSum(t, b)
		}
		got, err := DecodeBatch(uid, 4, v)
		if tc.ok {
			require.NoError(t, err, tc.name)
			require.Equal(t, len(tc.holes) == 0, len(got.Holes) == 0, tc.name)
			if len(tc.holes) > 0 {
				require.Equal(t, tc.holes, got.Holes, tc.name)
			}
		} else {
			require.ErrorIs(t, err, store.ErrCorrupt, tc.name)
			require.Contains(t, err.Error(), "holes", tc.name)
		}
		// Without a checksum the shape is still checked.
		raw, err := msgpack.Marshal(&b)
		require.NoError(t, err)
		_, err = DecodeBatch(uid, 4, raw)
		require.Equal(t, tc.ok, err == nil, "%s without a checksum: %v", tc.name, err)
	}
	// A batch with First == Last or First > Last has no room for a hole.
	for _, r := range [][2]uint64{{10, 10}, {10, 11}, {12, 10}} {
		b := Batch{Seq: 4, First: r[0], Last: r[1], Holes: []uint64{11, 11}}
		_, err := EncodeBatch(&b)
		require.ErrorContains(t, err, "holes", "%v", r)
		_, err = DecodeBatch(uid, 4, encodeWithSum(t, b))
		require.ErrorIs(t, err, store.ErrCorrupt, "%v", r)
	}
	// Holes of another type do not decode.
	raw, err := msgpack.Marshal(map[string]any{"seq": 4, "first": 1, "last": 9, "holes": []any{"a", 3}})
	require.NoError(t, err)
	_, err = DecodeBatch(uid, 4, raw)
	require.ErrorIs(t, err, store.ErrCorrupt)
}

// encodeWithSum encodes b with its right checksum, whatever its holes: a
// record only damage (or a bug) could store.
func encodeWithSum(t *testing.T, b Batch) []byte {
	t.Helper()
	b.Sum = uint32(b.sum())
	v, err := msgpack.Marshal(&b)
	require.NoError(t, err)
	return v
}

// batchBeforeHoles is Batch as it was before holes existed.
type batchBeforeHoles struct {
	Seq            uint64 `msgpack:"seq"`
	First          uint64 `msgpack:"first"`
	Last           uint64 `msgpack:"last"`
	Count          int    `msgpack:"count"`
	Bytes          int64  `msgpack:"bytes"`
	Key            string `msgpack:"key"`
	Attempts       int    `msgpack:"attempts"`
	NextAttempt    int64  `msgpack:"next"`
	LastError      string `msgpack:"err"`
	SealedAt       int64  `msgpack:"sealed"`
	Delivered      int    `msgpack:"delivered"`
	DeliveredBytes int64  `msgpack:"delivered_bytes,omitempty"`
	Sum            uint32 `msgpack:"crc,omitempty"`
}

// sumBeforeHoles is the batch field sum as fieldsum.go defined it before
// holes, written out independently of fieldSum.
func sumBeforeHoles(b *batchBeforeHoles) uint32 {
	var buf []byte
	u := func(v uint64) { buf = binary.BigEndian.AppendUint64(buf, v) }
	s := func(v string) { u(uint64(len(v))); buf = append(buf, v...) }
	s("batch")
	u(b.Seq)
	u(b.First)
	u(b.Last)
	u(uint64(b.Count))
	u(uint64(b.Bytes))
	s(b.Key)
	u(uint64(b.Attempts))
	u(uint64(b.NextAttempt))
	s(b.LastError)
	u(uint64(b.SealedAt))
	u(uint64(b.Delivered))
	u(uint64(b.DeliveredBytes))
	return crc32.Checksum(buf, crc32.MakeTable(crc32.Castagnoli))
}

// A batch without holes is stored byte for byte as before holes existed,
// its checksum included; older records still decode; and holes, once
// there, are in the checksum.
func TestBatchWithoutHolesEncodesAsBefore(t *testing.T) {
	var uid [8]byte
	old := batchBeforeHoles{Seq: 7, First: 100, Last: 140, Count: 41, Bytes: 4100, Key: "tenant-9", Attempts: 3,
		NextAttempt: 1_700_000_000_123, LastError: "503 busy", SealedAt: -5, Delivered: 2, DeliveredBytes: 200}
	old.Sum = sumBeforeHoles(&old)
	want, err := msgpack.Marshal(&old)
	require.NoError(t, err)
	for _, holes := range [][]uint64{nil, {}} {
		b := Batch{Seq: 7, First: 100, Last: 140, Count: 41, Bytes: 4100, Key: "tenant-9", Attempts: 3,
			NextAttempt: 1_700_000_000_123, LastError: "503 busy", SealedAt: -5, Delivered: 2, DeliveredBytes: 200, Holes: holes}
		got, err := EncodeBatch(&b)
		require.NoError(t, err)
		require.Equal(t, want, got, "holes %#v", holes)
	}
	got, err := DecodeBatch(uid, 7, want)
	require.NoError(t, err)
	require.Nil(t, got.Holes)
	require.Equal(t, "503 busy", got.LastError)

	// With holes: they round-trip, and a changed hole, a dropped holes
	// field or an added one fails the checksum.
	b := Batch{Seq: 7, First: 100, Last: 140, Count: 41, Holes: []uint64{102, 104, 110, 110}}
	v, err := EncodeBatch(&b)
	require.NoError(t, err)
	got, err = DecodeBatch(uid, 7, v)
	require.NoError(t, err)
	require.Equal(t, b.Holes, got.Holes)
	var stored Batch // as stored, its sum kept
	require.NoError(t, msgpack.Unmarshal(v, &stored))
	require.NotZero(t, stored.Sum)
	for name, edit := range map[string]func(c *Batch){
		"hole moved":   func(c *Batch) { c.Holes[1]++ },
		"hole shrunk":  func(c *Batch) { c.Holes[0]++ },
		"hole dropped": func(c *Batch) { c.Holes = c.Holes[:2] },
		"holes gone":   func(c *Batch) { c.Holes = nil },
		"hole added":   func(c *Batch) { c.Holes = append(c.Holes, 120, 121) },
	} {
		c := stored
		c.Holes = slices.Clone(stored.Holes)
		edit(&c)
		raw, err := msgpack.Marshal(&c)
		require.NoError(t, err)
		_, err = DecodeBatch(uid, 7, raw)
		require.ErrorIs(t, err, store.ErrCorrupt, name)
		require.Contains(t, err.Error(), "checksum", name)
	}
	// A record without holes given some keeps its sum wrong too.
	o := old
	raw, err := msgpack.Marshal(&struct {
		batchBeforeHoles
		Holes []uint64 `msgpack:"holes"`
	}{o, []uint64{102, 103}})
	require.NoError(t, err)
	_, err = DecodeBatch(uid, 7, raw)
	require.ErrorIs(t, err, store.ErrCorrupt)
}
