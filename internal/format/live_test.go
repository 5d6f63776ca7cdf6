package format

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// liveModel is a stream brute-forced: what values hold, SealedThrough and
// the in-flight batches.
type liveModel struct {
	held    map[uint64]int64 // seq -> the time its value gives (0 unreadable)
	seqs    []uint64         // held, ascending
	sealed  uint64
	batches []*Batch
	runs    []RequeuedRun
	top     uint64
}

func (m *liveModel) live(s uint64) bool {
	if s > m.sealed {
		return true
	}
	for _, b := range m.batches {
		if s >= b.First && s <= b.Last {
			for i := 0; i < len(b.Holes); i += 2 {
				if s >= b.Holes[i] && s <= b.Holes[i+1] {
					return false
				}
			}
			return true
		}
	}
	return false
}

// liveLayout writes a random stream into b: runs (some damaged) and
// envelopes with gaps, a SealedThrough inside, disjoint in-flight batches
// below it with random holes, and requeued runs anywhere.
func liveLayout(t *testing.T, rng *rand.Rand, b *bolt.Bucket) *liveModel {
	m := &liveModel{held: map[uint64]int64{}}
	type put struct {
		key uint64
		raw []byte
		n   int
	}
	var puts []put
	seq := uint64(1 + rng.IntN(3))
	for range 5 + rng.IntN(25) {
		if rng.IntN(4) == 0 {
			seq += uint64(rng.IntN(6))
		}
		var raw []byte
		n := 1
		switch r := rng.IntN(8); {
		case r < 3:
			e := valEvents(seq, 2)[rng.IntN(2)]
			e.ID = EventID(valUID, seq)
			e.Time = int64(rng.IntN(1 << 30))
			raw = valEnvelope(e)
		case r < 7:
			n = 1 + rng.IntN(20)
			evs := valEvents(seq, n)
			for i := range evs {
				evs[i].Time = int64(rng.IntN(1 << 30))
			}
			raw = AppendRun(nil, valUID, seq, evs)
		default: // damaged: spans up to the next key (or the last seq)
			n = 1 + rng.IntN(4)
			raw = AppendRun(nil, valUID, seq, valEvents(seq, n))
			raw[runCRCAt] ^= 1
		}
		require.NoError(t, b.Put(SeqKey(seq), raw))
		puts = append(puts, put{seq, raw, n})
		seq += uint64(n)
	}
	m.top = seq + 2
	for i, p := range puts {
		span := m.top - p.key + 1
		if i+1 < len(puts) {
			span = puts[i+1].key - p.key
		}
		v := ParseValue(valUID, p.key, p.raw, true, span)
		for j := range v.Len() {
			m.held[p.key+uint64(j)] = v.Time(j)
			m.seqs = append(m.seqs, p.key+uint64(j))
		}
	}
	m.sealed = uint64(rng.IntN(int(seq) + 2))
	// Disjoint batches inside [1, sealed].
	at := uint64(1)
	for at <= m.sealed {
		at += uint64(rng.IntN(5))
		if at > m.sealed {
			break
		}
		last := min(at+uint64(rng.IntN(15)), m.sealed)
		bt := &Batch{Seq: at, First: at, Last: last}
		for s := at + 1; s < last; s++ {
			if rng.IntN(3) == 0 {
				bt.AddHole(s)
			}
		}
		require.NoError(t, bt.checkHoles())
		m.batches = append(m.batches, bt)
		at = last + 1
	}
	rng.Shuffle(len(m.batches), func(i, j int) { m.batches[i], m.batches[j] = m.batches[j], m.batches[i] })
	// Requeued runs: ascending, disjoint, anywhere (some hold nothing live).
	at = 1
	for rng.IntN(4) != 0 {
		at += uint64(rng.IntN(10))
		r := RequeuedRun{First: at, Last: at + uint64(rng.IntN(6))}
		m.runs = append(m.runs, r)
		at = r.Last + 1
	}
	return m
}

func TestLiveAgainstModel(t *testing.T) {
	db := curDB(t)
	for seed := range uint64(25) {
		rng := rand.New(rand.NewPCG(seed, 99))
		name := []byte(fmt.Sprint("events-", seed))
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(name)
			require.NoError(t, err)
			m := liveLayout(t, rng, b)
			order := slices.Clone(m.batches)
			l := NewLive(m.sealed, m.batches)
			require.Equal(t, order, m.batches, "NewLive changed the caller's slice")
			msg := fmt.Sprintf("seed %d sealed %d", seed, m.sealed)

			for s := uint64(0); s <= m.top; s++ {
				require.Equal(t, m.live(s), l.Has(s), "%s: Has(%d)", msg, s)
			}
			for first := uint64(0); first <= m.top; first++ {
				for last := first; last <= min(first+25, m.top); last++ {
					want := false
					for s := first; s <= last; s++ {
						want = want || m.live(s)
					}
					require.Equal(t, want, l.AnyIn(first, last), "%s: AnyIn(%d, %d)", msg, first, last)
				}
			}

			c := NewEventCursor(b, valUID, true, m.top)
			firstLive := func(from, to uint64) (uint64, bool) {
				for _, s := range m.seqs {
					if s >= from && (to == 0 || s <= to) && m.live(s) {
						return s, true
					}
				}
				return 0, false
			}
			for from := uint64(0); from <= m.top; from++ {
				for _, to := range []uint64{0, from, from + 1, from + 7} {
					want, ok := firstLive(from, to)
					require.Equal(t, ok, l.FirstLive(c, from, to), "%s: FirstLive(%d, %d)", msg, from, to)
					if ok {
						require.Equal(t, want, c.Seq(), "%s: FirstLive(%d, %d)", msg, from, to)
					}
				}
			}

			// OldestLive: the first live event's time and that of the first
			// live event of each requeued run; the runs still holding one.
			var wantOldest int64
			var wantKept []RequeuedRun
			if s, ok := firstLive(0, 0); ok {
				wantOldest = m.held[s]
				for _, r := range m.runs {
					if s, ok := firstLive(r.First, r.Last); ok {
						wantKept = append(wantKept, r)
						wantOldest = min(wantOldest, m.held[s])
					}
				}
			}
			runs := slices.Clone(m.runs)
			oldest, kept := l.OldestLive(c, runs)
			require.Equal(t, wantOldest, oldest, msg)
			require.Equal(t, len(wantKept), len(kept), msg)
			if len(kept) > 0 {
				require.Equal(t, wantKept, kept, msg)
			}
			require.Equal(t, m.runs, runs, "OldestLive changed the caller's runs")
			return nil
		}))
	}
}

// Events a value holds but no batch does, at or below SealedThrough, are
// not live: a run whose events all left is found by none of the reads.
func TestLiveGarbageRun(t *testing.T) {
	db := curDB(t)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("events"))
		require.NoError(t, err)
		evs := valEvents(1, 10)
		for i := range evs {
			evs[i].Time = int64(100 - i)
		}
		require.NoError(t, b.Put(SeqKey(1), AppendRun(nil, valUID, 1, evs)))
		c := NewEventCursor(b, valUID, true, 10)
		// Batch [2, 9] with 3..8 gone: 2 and 9 are live, the rest garbage.
		bt := &Batch{Seq: 1, First: 2, Last: 9}
		for s := uint64(3); s <= 8; s++ {
			bt.AddHole(s)
		}
		require.Equal(t, []uint64{3, 8}, bt.Holes)
		l := NewLive(10, []*Batch{bt})
		require.False(t, l.AnyIn(3, 8))
		require.True(t, l.AnyIn(3, 9))
		require.True(t, l.AnyIn(1, 2))
		require.False(t, l.AnyIn(1, 1))
		require.False(t, l.AnyIn(10, 10))
		require.True(t, l.FirstLive(c, 3, 0))
		require.Equal(t, uint64(9), c.Seq())
		require.False(t, l.FirstLive(c, 3, 8))
		oldest, kept := l.OldestLive(c, []RequeuedRun{{4, 6}, {9, 10}})
		require.Equal(t, int64(100-8), oldest) // event 9, in a requeued run, is older than event 2 (99)
		require.Equal(t, []RequeuedRun{{9, 10}}, kept)

		// Nothing live at all.
		l = NewLive(10, nil)
		require.False(t, l.FirstLive(c, 0, 0))
		oldest, kept = l.OldestLive(c, []RequeuedRun{{1, 10}})
		require.Zero(t, oldest)
		require.Empty(t, kept)
		return nil
	}))
}

// Batch ranges that overlap (damage: recovery reports them, FlawOverlaps)
// still count an event live when any in-flight batch holds it, so no
// writer deletes a value another batch still holds.
func TestLiveOverlappingBatches(t *testing.T) {
	a := &Batch{Seq: 1, First: 1, Last: 10, Holes: []uint64{4, 6}}
	b := &Batch{Seq: 2, First: 3, Last: 4}
	c := &Batch{Seq: 3, First: 5, Last: 5}
	d := &Batch{Seq: 4, First: 20, Last: 30}
	held := func(s uint64) bool {
		for _, x := range []*Batch{a, b, c, d} {
			if x.Holds(s) {
				return true
			}
		}
		return s > 40
	}
	l := NewLive(40, []*Batch{d, c, b, a})
	for s := uint64(0); s <= 45; s++ {
		require.Equal(t, held(s), l.Has(s), "Has(%d)", s)
		for e := s; e <= s+12; e++ {
			any := false
			for x := s; x <= e; x++ {
				any = any || held(x)
			}
			require.Equal(t, any, l.AnyIn(s, e), "AnyIn(%d, %d)", s, e)
		}
	}
}
