package format

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/store"
)

// curModel is what an events bucket holds, event by event: the brute-force
// answer EventCursor is checked against.
type curModel struct {
	vals   map[uint64][]byte    // key -> value as stored
	events map[uint64]*RunEvent // seq -> event; nil: held but corrupt
	keyOf  map[uint64]uint64    // seq -> key of the value holding it
	last   uint64               // the stream's last sequence number
}

func (m *curModel) keys() []uint64 {
	ks := make([]uint64, 0, len(m.vals))
	for k := range m.vals {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (m *curModel) seqs() []uint64 {
	ss := make([]uint64, 0, len(m.keyOf))
	for s := range m.keyOf {
		ss = append(ss, s)
	}
	slices.Sort(ss)
	return ss
}

// curLayout builds a random events bucket of a format 2 file: envelopes
// (of both forms), sound runs (some large, some with one damaged record),
// runs with a damaged header and values of neither form, with gaps of
// every size between them (a damaged value's span then comes from the
// next key, or from the stream's last sequence number for the last value).
func curLayout(rng *rand.Rand, size int) *curModel {
	m := &curModel{vals: map[uint64][]byte{}}
	type planned struct {
		key     uint64
		evs     []RunEvent
		damaged bool // header or form: held events are corrupt
		badRec  int  // -1 or the index of a damaged record
		raw     []byte
	}
	var plan []planned
	seq := uint64(1 + rng.IntN(3))
	for len(plan) < size {
		switch rng.IntN(10) {
		case 0:
			seq += uint64(rng.IntN(4)) // a short gap (or none)
		case 1:
			seq += uint64(rng.IntN(3000)) // a gap wider than a run
		}
		p := planned{key: seq, badRec: -1}
		switch r := rng.IntN(10); {
		case r < 4: // envelope
			p.evs = valEvents(seq, 2)[rng.IntN(2):][:1] // [1] has headers
			p.evs[0].ID = EventID(valUID, seq)
			if rng.IntN(3) == 0 {
				p.evs[0].ID = EventID(valUID, seq+7) // requeued
			}
			p.raw = valEnvelope(p.evs[0])
		case r < 8: // sound run
			n := 1 + rng.IntN(12)
			if rng.IntN(12) == 0 {
				n = MaxRunEvents - rng.IntN(3)
			}
			p.evs = valEvents(seq, n)
			p.raw = AppendRun(nil, valUID, seq, p.evs)
			if n > 1 && rng.IntN(4) == 0 {
				p.badRec = rng.IntN(n)
				r, _ := ParseRun(valUID, seq, p.raw)
				start := len(p.raw) - len(r.recs)
				if p.badRec > 0 {
					start += r.end(p.badRec - 1)
				}
				p.raw[start+len(r.record(p.badRec))-1] ^= 0x10 // its crc
			}
		case r < 9: // run with a damaged header
			n := 1 + rng.IntN(6)
			p.raw = AppendRun(nil, valUID, seq, valEvents(seq, n))
			p.raw[runCRCAt+rng.IntN(4)] ^= 0x01
			p.damaged = true
			p.evs = make([]RunEvent, n) // the room it leaves
		default: // neither form
			p.raw = []byte{0x07, byte(rng.IntN(256)), 0x42}
			p.damaged = true
			p.evs = make([]RunEvent, 1+rng.IntN(3))
		}
		plan = append(plan, p)
		seq += uint64(len(p.evs))
	}
	m.last = seq - 1 + uint64(rng.IntN(3))
	if rng.IntN(4) == 0 {
		m.last = 0 // unknown or damaged: a damaged last value spans one
	}
	m.events, m.keyOf = map[uint64]*RunEvent{}, map[uint64]uint64{}
	for i, p := range plan {
		m.vals[p.key] = p.raw
		n := uint64(len(p.evs))
		if p.damaged {
			// What it spans: up to the next key or the last sequence
			// number, at most MaxRunEvents; and a neither-form value with
			// room for one is one corrupt envelope.
			n = 1
			if i+1 < len(plan) {
				n = plan[i+1].key - p.key
			} else if m.last >= p.key {
				n = m.last - p.key + 1
			}
			n = min(n, MaxRunEvents)
		}
		for j := range n {
			s := p.key + j
			m.keyOf[s] = p.key
			if !p.damaged && int(j) != p.badRec {
				m.events[s] = &p.evs[j]
			}
		}
	}
	return m
}

func curDB(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, &bolt.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func putModel(t *testing.T, b *bolt.Bucket, m *curModel) {
	t.Helper()
	for k, v := range m.vals {
		require.NoError(t, b.Put(SeqKey(k), v))
	}
}

// checkCursor compares an EventCursor over b against m: Seek to every
// sequence number (and around), a whole walk with Next, NextValue from
// everywhere, Held over many ranges.
func checkCursor(t *testing.T, b *bolt.Bucket, m *curModel, rng *rand.Rand) {
	t.Helper()
	seqs, keys := m.seqs(), m.keys()
	c := NewEventCursor(b, valUID, true, m.last)
	checkAt := func(msg string) {
		t.Helper()
		s := c.Seq()
		k, ok := m.keyOf[s]
		require.True(t, ok, "%s: at %d, which no value holds", msg, s)
		require.Equal(t, k, c.Value().Key, msg)
		require.Equal(t, int(s-k), c.Index(), msg)
		rec, err := c.Event()
		if e := m.events[s]; e != nil {
			require.NoError(t, err, "%s: seq %d", msg, s)
			requireSameEvent(t, s, *e, rec, msg)
		} else {
			requireCorrupt(t, err, "%s: seq %d", msg, s)
		}
	}

	// The whole walk.
	walked := []uint64{}
	for ok := c.Seek(0); ok; ok = c.Next() {
		checkAt("walk")
		walked = append(walked, c.Seq())
	}
	require.NoError(t, c.Err())
	require.Equal(t, seqs, walked)

	// Seek everywhere.
	top := uint64(0)
	if len(seqs) > 0 {
		top = seqs[len(seqs)-1]
	}
	for _, s := range curProbes(m, rng) {
		i, _ := slices.BinarySearch(seqs, s)
		ok := c.Seek(s)
		require.NoError(t, c.Err())
		require.Equal(t, i < len(seqs), ok, "Seek(%d)", s)
		if !ok {
			continue
		}
		require.Equal(t, seqs[i], c.Seq(), "Seek(%d)", s)
		checkAt(fmt.Sprintf("Seek(%d)", s))
		// Next and NextValue move on from there as the model says.
		if rng.IntN(4) == 0 {
			if c.Next() {
				require.Less(t, i+1, len(seqs))
				require.Equal(t, seqs[i+1], c.Seq(), "Next after Seek(%d)", s)
				checkAt("Next")
			} else {
				require.Equal(t, len(seqs), i+1, "Next after Seek(%d)", s)
			}
			c.Seek(s)
		}
		ki, _ := slices.BinarySearch(keys, m.keyOf[seqs[i]])
		if c.NextValue() {
			require.Less(t, ki+1, len(keys))
			require.Equal(t, keys[ki+1], c.Seq(), "NextValue after Seek(%d)", s)
			checkAt("NextValue")
		} else {
			require.Equal(t, len(keys), ki+1, "NextValue after Seek(%d)", s)
		}
		require.NoError(t, c.Err())
	}
	for _, s := range []uint64{top + 1<<20, 1 << 63, ^uint64(0)} {
		require.False(t, c.Seek(s))
		require.False(t, c.Next())
		require.False(t, c.NextValue())
	}

	// Held over ranges of every kind.
	for range 60 {
		first := uint64(rng.IntN(int(top) + 3))
		last := first + uint64(rng.IntN(3000))
		if rng.IntN(10) == 0 {
			last = first - uint64(rng.IntN(2)) // one or none
		}
		var want [][2]uint64
		for _, s := range seqs {
			if s < first || s > last {
				continue
			}
			if n := len(want); n > 0 && want[n-1][1]+1 == s {
				want[n-1][1] = s
			} else {
				want = append(want, [2]uint64{s, s})
			}
		}
		require.Equal(t, want, c.Held(first, last), "Held(%d, %d)", first, last)
	}
}

// curProbes returns the sequence numbers to Seek: around every key and
// every value's end, and a random sample of the others (every one for a
// small bucket).
func curProbes(m *curModel, rng *rand.Rand) []uint64 {
	seqs := m.seqs()
	top := uint64(0)
	if len(seqs) > 0 {
		top = seqs[len(seqs)-1]
	}
	top += MaxRunEvents + 2
	if top < 1500 {
		out := make([]uint64, top+1)
		for i := range out {
			out[i] = uint64(i)
		}
		return out
	}
	var edges []uint64 // first and last events of values
	for _, s := range seqs {
		k := m.keyOf[s]
		_, next := m.keyOf[s+1]
		if s == k || !next || m.keyOf[s+1] != k {
			edges = append(edges, s)
		}
	}
	rng.Shuffle(len(edges), func(i, j int) { edges[i], edges[j] = edges[j], edges[i] })
	out := []uint64{0, 1, 2}
	for _, s := range edges[:min(len(edges), 150)] {
		out = append(out, s-1, s, s+1)
	}
	for range 150 {
		out = append(out, uint64(rng.IntN(int(top))))
	}
	return out
}

func TestEventCursorRandomLayouts(t *testing.T) {
	db := curDB(t)
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 0xc0ffee))
		m := curLayout(rng, 5+rng.IntN(40))
		name := []byte(fmt.Sprint("events-", seed))
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(name)
			require.NoError(t, err)
			putModel(t, b, m)
			checkCursor(t, b, m, rng) // in the transaction that wrote it
			return nil
		}), "seed %d", seed)
		require.NoError(t, db.View(func(tx *bolt.Tx) error {
			checkCursor(t, tx.Bucket(name), m, rng) // from the pages
			return nil
		}), "seed %d", seed)
	}
}

// curFill returns a model of envelopes at every seq in [from, to], large
// enough that a leaf page holds only a few.
func curFill(m *curModel, from, to uint64) {
	for s := from; s <= to; s++ {
		e := RunEvent{ID: EventID(valUID, s), Time: int64(s), Key: "fill", Payload: bytes.Repeat([]byte{byte(s)}, 300)}
		m.vals[s] = valEnvelope(e)
	}
}

// delete removes the values under keys [from, to] and every event
// they hold.
func (m *curModel) delete(b *bolt.Bucket, from, to uint64) error {
	for k := from; k <= to; k++ {
		if _, ok := m.vals[k]; !ok {
			continue
		}
		delete(m.vals, k)
		for s := k; m.keyOf[s] == k; s++ {
			delete(m.keyOf, s)
			delete(m.events, s)
		}
		if err := b.Delete(SeqKey(k)); err != nil {
			return err
		}
	}
	return nil
}

// rebuild recomputes events and keyOf from vals (sound values only).
func (m *curModel) rebuild() {
	m.events, m.keyOf = map[uint64]*RunEvent{}, map[uint64]uint64{}
	for k, v := range m.vals {
		val := ParseValue(valUID, k, v, true, 1)
		for i := range val.Len() {
			s := k + uint64(i)
			rec, err := val.Event(i)
			if err != nil {
				panic(err)
			}
			m.keyOf[s] = k
			m.events[s] = &RunEvent{ID: rec.ID, Time: rec.Time.UnixNano(), Key: rec.Key,
				Payload: bytes.Clone(rec.Payload), Headers: rec.Headers}
		}
	}
}

// Inside a write transaction bbolt does not rebalance until commit: a
// leaf whose keys were all deleted stays, empty, in the tree, and bbolt's
// Last loops forever on a bucket whose leaves are all empty (Prev can stop
// at one). Seek must still find the value holding a sequence number, with
// emptied leaves before it, between it and the key sought, and after it.
func TestEventCursorEmptiedLeavesInWriteTx(t *testing.T) {
	db := curDB(t)
	m := &curModel{vals: map[uint64][]byte{}}
	curFill(m, 1, 1500)
	m.vals[1501] = AppendRun(nil, valUID, 1501, valEvents(1501, MaxRunEvents)) // holds 1501..2524
	curFill(m, 2525, 3500)
	m.vals[3501] = AppendRun(nil, valUID, 3501, valEvents(3501, 300))
	curFill(m, 3801, 4200)
	m.last = 4200
	m.rebuild()
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("events"))
		if err != nil {
			return err
		}
		putModel(t, b, m)
		return nil
	}))
	rng := rand.New(rand.NewPCG(1, 2))
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("events"))
		// Empty the leaves around both runs: before the first (so that
		// the keys up to MaxRunEvents below a seq in it are all gone),
		// between them, and after the last.
		for _, r := range [][2]uint64{{1, 1500}, {2525, 3500}, {3801, 4200}} {
			if err := m.delete(b, r[0], r[1]); err != nil {
				return err
			}
		}
		checkCursor(t, b, m, rng)
		for s, want := range map[uint64]uint64{1: 1501, 1501: 1501, 2000: 2000, 2524: 2524, 2525: 3501, 3501: 3501, 3800: 3800} {
			c := NewEventCursor(b, valUID, true, m.last)
			require.True(t, c.Seek(s), "Seek(%d)", s)
			require.Equal(t, want, c.Seq(), "Seek(%d)", s)
		}
		// Then everything: nothing is found, and nothing hangs.
		if err := m.delete(b, 1, 4200); err != nil {
			return err
		}
		checkCursor(t, b, m, rng)
		c := NewEventCursor(b, valUID, true, m.last)
		require.False(t, c.Seek(2000))
		require.Empty(t, c.Held(0, ^uint64(0)))
		return nil
	}))
}

// The same with random deletions in a write transaction over random
// layouts padded with large envelopes.
func TestEventCursorRandomDeletesInWriteTx(t *testing.T) {
	db := curDB(t)
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 77))
		m := &curModel{vals: map[uint64][]byte{}}
		at := uint64(1)
		for range 8 {
			if rng.IntN(2) == 0 {
				n := 1 + rng.IntN(MaxRunEvents)
				m.vals[at] = AppendRun(nil, valUID, at, valEvents(at, n))
				at += uint64(n)
			} else {
				n := uint64(50 + rng.IntN(400))
				curFill(m, at, at+n-1)
				at += n
			}
			at += uint64(rng.IntN(3))
		}
		m.last = at
		m.rebuild()
		name := []byte(fmt.Sprint("events-", seed))
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(name)
			if err != nil {
				return err
			}
			putModel(t, b, m)
			return nil
		}))
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(name)
			for range 4 {
				from := uint64(1 + rng.IntN(int(at)))
				if err := m.delete(b, from, from+uint64(rng.IntN(600))); err != nil {
					return err
				}
			}
			checkCursor(t, b, m, rng)
			return nil
		}), "seed %d", seed)
	}
}

// In a format 1 file every value is one event under its key, a run
// included (as one corrupt event).
func TestEventCursorFormat1(t *testing.T) {
	db := curDB(t)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("events"))
		require.NoError(t, err)
		evs := valEvents(10, 3)
		require.NoError(t, b.Put(SeqKey(10), valEnvelope(evs[0])))
		require.NoError(t, b.Put(SeqKey(11), AppendRun(nil, valUID, 11, valEvents(11, 5))))
		require.NoError(t, b.Put(SeqKey(20), []byte{0x07}))
		c := NewEventCursor(b, valUID, false, 100)
		var got []uint64
		for ok := c.Seek(0); ok; ok = c.Next() {
			got = append(got, c.Seq())
			require.Equal(t, 1, c.Value().Len())
		}
		require.Equal(t, []uint64{10, 11, 20}, got)
		require.True(t, c.Seek(12))
		require.Equal(t, uint64(20), c.Seq())
		require.True(t, c.Seek(11))
		_, err = c.Event()
		requireCorrupt(t, err)
		require.Equal(t, [][2]uint64{{10, 11}, {20, 20}}, c.Held(0, 50))
		return nil
	}))
}

// A key that is not a sequence number, or a nested bucket, ends the walk
// with an error wrapping store.ErrCorrupt, wherever the walk meets it.
func TestEventCursorBadKeys(t *testing.T) {
	for _, runs := range []bool{true, false} {
		for name, put := range map[string]func(b *bolt.Bucket) error{
			"9-byte key": func(b *bolt.Bucket) error { return b.Put(append(SeqKey(5), 1), []byte{envArray}) },
			"7-byte key": func(b *bolt.Bucket) error { return b.Put(SeqKey(5)[1:], []byte{envArray}) },
			"bucket": func(b *bolt.Bucket) error {
				_, err := b.CreateBucket(SeqKey(5))
				return err
			},
		} {
			msg := fmt.Sprintf("%s runs %v", name, runs)
			db := curDB(t)
			require.NoError(t, db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("events"))
				require.NoError(t, err)
				require.NoError(t, b.Put(SeqKey(2), AppendRun(nil, valUID, 2, valEvents(2, 2))))
				require.NoError(t, put(b))
				require.NoError(t, b.Put(SeqKey(1<<40), valEnvelope(valEvents(1<<40, 1)[0])))
				return nil
			}))
			require.NoError(t, db.View(func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("events"))
				c := NewEventCursor(b, valUID, runs, 1<<40)
				n := 0
				for ok := c.Seek(0); ok; ok = c.Next() {
					n++
				}
				require.ErrorIs(t, c.Err(), store.ErrCorrupt, msg)
				if runs {
					require.Equal(t, 2, n, msg)
				}
				// A seek that meets it: the walk ends with the error.
				if c.Seek(4) {
					for c.Next() {
					}
				}
				require.ErrorIs(t, c.Err(), store.ErrCorrupt, msg)
				// A seek past it does not.
				require.True(t, c.Seek(1<<40-5), msg)
				require.NoError(t, c.Err(), msg)
				require.Equal(t, uint64(1<<40), c.Seq())
				return nil
			}))
		}
	}
}

// A damaged run spans to the key after it, or to the stream's last
// sequence number when it is the last value, at most MaxRunEvents.
func TestEventCursorDamagedRunSpan(t *testing.T) {
	bad := AppendRun(nil, valUID, 10, valEvents(10, 3))
	bad[runCRCAt] ^= 1
	for _, tc := range []struct {
		next, last, end uint64 // end: the last seq the damaged run spans
		held            [][2]uint64
	}{
		{next: 14, last: 20, end: 13, held: [][2]uint64{{10, 14}}},
		{next: 11, last: 20, end: 10, held: [][2]uint64{{10, 11}}},
		{next: 5000, last: 6000, end: 10 + MaxRunEvents - 1, held: [][2]uint64{{10, 10 + MaxRunEvents - 1}, {5000, 5000}}},
		{last: 12, end: 12, held: [][2]uint64{{10, 12}}},
		{last: 10, end: 10, held: [][2]uint64{{10, 10}}},
		{last: 3, end: 10, held: [][2]uint64{{10, 10}}},
		{last: 0, end: 10, held: [][2]uint64{{10, 10}}},
		{last: 1 << 30, end: 10 + MaxRunEvents - 1, held: [][2]uint64{{10, 10 + MaxRunEvents - 1}}},
	} {
		db := curDB(t)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("events"))
			require.NoError(t, err)
			require.NoError(t, b.Put(SeqKey(10), bad))
			if tc.next != 0 {
				require.NoError(t, b.Put(SeqKey(tc.next), valEnvelope(valEvents(tc.next, 1)[0])))
			}
			c := NewEventCursor(b, valUID, true, tc.last)
			require.Equal(t, tc.held, c.Held(0, 1<<31), "%+v", tc)
			hi := tc.end
			require.True(t, c.Seek(hi), "%+v", tc)
			require.Equal(t, hi, c.Value().Last(), "%+v", tc)
			require.Equal(t, hi, c.Seq())
			require.Equal(t, uint64(10), c.Value().Key)
			_, err = c.Event()
			requireCorrupt(t, err)
			require.Equal(t, uint64(len(bad)), c.Value().StoredBytes(0))
			if c.Index() > 0 {
				require.Zero(t, c.Value().StoredBytes(c.Index()))
			}
			return nil
		}))
	}
}

// A key that is not a sequence number holds no event: a Seek that only
// passes it on the way to the values below the sequence number sought (a
// run there may hold it) finds what a format 1 read finds, the events of
// a migrated format 1 file included. The walk still ends with an error
// where it meets such a key.
func TestEventCursorSeekPassesBadKeyBelow(t *testing.T) {
	for name, put := range map[string]func(b *bolt.Bucket) error{
		"9-byte key": func(b *bolt.Bucket) error { return b.Put(append(SeqKey(5), 1), []byte{envArray}) },
		"bucket": func(b *bolt.Bucket) error {
			_, err := b.CreateBucket(SeqKey(6))
			return err
		},
	} {
		db := curDB(t)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("events"))
			require.NoError(t, err)
			for s := uint64(1); s <= 20; s++ {
				if s != 6 {
					require.NoError(t, b.Put(SeqKey(s), valEnvelope(valEvents(s, 1)[0])))
				}
			}
			require.NoError(t, b.Put(SeqKey(30), AppendRun(nil, valUID, 30, valEvents(30, 10))))
			return put(b)
		}))
		require.NoError(t, db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("events"))
			for _, runs := range []bool{false, true} {
				c := NewEventCursor(b, valUID, runs, 40)
				for _, s := range []uint64{7, 10, 20} {
					require.True(t, c.Seek(s), "%s runs %v: Seek(%d): %v", name, runs, s, c.Err())
					require.NoError(t, c.Err())
					require.Equal(t, s, c.Seq())
				}
				if runs {
					require.True(t, c.Seek(35), "%s: Seek(35): %v", name, c.Err())
					require.Equal(t, uint64(35), c.Seq())
				}
				require.True(t, c.Seek(2))
				for c.Next() {
				}
				require.ErrorIs(t, c.Err(), store.ErrCorrupt, "%s runs %v", name, runs)
			}
			return nil
		}))
	}
}

// A damaged run spans to the next value's key even when a key that is not
// a sequence number lies between them: it does not take the events of the
// values after that key.
func TestEventCursorDamagedRunSpanPastBadKey(t *testing.T) {
	bad := AppendRun(nil, valUID, 10, valEvents(10, 2))
	bad[runCRCAt] ^= 1
	env := valEvents(12, 1)[0]
	db := curDB(t)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("events"))
		require.NoError(t, err)
		require.NoError(t, b.Put(SeqKey(10), bad))
		require.NoError(t, b.Put(append(SeqKey(10), 1), []byte{envArray}))
		require.NoError(t, b.Put(SeqKey(12), valEnvelope(env)))
		c := NewEventCursor(b, valUID, true, 100)
		require.True(t, c.Seek(10))
		require.Equal(t, 2, c.Value().Len())
		require.True(t, c.Seek(12))
		require.Equal(t, uint64(12), c.Value().Key)
		rec, err := c.Event()
		require.NoError(t, err)
		requireSameEvent(t, 12, env, rec)
		require.True(t, c.Seek(11))
		require.Equal(t, uint64(11), c.Seq())
		require.False(t, c.Next()) // the bad key
		require.ErrorIs(t, c.Err(), store.ErrCorrupt)
		return nil
	}))
}
