package wal

import (
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// Append: sequence numbers are consecutive from 1, IDs are the stream's ID
// and the sequence number, unique, and the same after a reopen.
func TestAppendOrderAndIDs(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	got := appendN(t, s, "", 0, 10)
	seen := map[EventID]bool{}
	for i, a := range got {
		require.Equal(t, uint64(i+1), a.Seq)
		require.Equal(t, s.EventID(a.Seq), a.ID)
		require.False(t, seen[a.ID], "duplicate ID %s", a.ID)
		seen[a.ID] = true
		back, err := ParseEventID(a.ID.String())
		require.NoError(t, err)
		require.Equal(t, a.ID, back)
	}
	other := mustStream(t, l, "t")
	a, err := other.Append("", []byte("x"))
	require.NoError(t, err)
	require.Equal(t, uint64(1), a.Seq)
	require.NotEqual(t, got[0].ID, a.ID, "streams share no IDs")

	l = reopen(t, l, nil)
	s = mustStream(t, l, "s")
	recs := eventsOf(t, s)
	require.Len(t, recs, 10)
	for i, r := range recs {
		require.Equal(t, got[i].Seq, r.Seq)
		require.Equal(t, got[i].ID, r.ID, "ID stable across reopen")
		require.Equal(t, payloadN(i), r.Payload)
	}
	a, err = s.Append("", []byte("next"))
	require.NoError(t, err)
	require.Equal(t, uint64(11), a.Seq, "sequence continues after reopen")
}

// Concurrent appends: every acknowledged event is stored once, and each
// producer's events keep the order it appended them in.
func TestAppendConcurrentOrder(t *testing.T) {
	l, _ := mustOpen(t, &Options{Sync: SyncNone})
	s := mustStream(t, l, "s")
	const producers, each = 16, 50
	var wg sync.WaitGroup
	seqs := make([][]uint64, producers)
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				a, err := s.Append(string(rune('a'+p)), []byte{byte(p), byte(i)})
				if err != nil {
					t.Error(err)
					return
				}
				seqs[p] = append(seqs[p], a.Seq)
			}
		})
	}
	wg.Wait()
	all := map[uint64]bool{}
	for p := range producers {
		require.True(t, sort.SliceIsSorted(seqs[p], func(i, j int) bool { return seqs[p][i] < seqs[p][j] }))
		for _, q := range seqs[p] {
			require.False(t, all[q])
			all[q] = true
		}
	}
	recs := eventsOf(t, s)
	require.Len(t, recs, producers*each)
	next := make([]byte, producers)
	for _, r := range recs {
		p := r.Payload[0]
		require.Equal(t, next[p], r.Payload[1], "producer %d out of order", p)
		next[p]++
	}
	require.Equal(t, int64(producers*each), s.Stats().PendingEvents)
}

func TestAppendManyAndAsync(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")

	first, err := s.AppendMany([]Entry{{Key: "k", Payload: []byte("a")}, {Payload: []byte("bb")}})
	require.NoError(t, err)
	require.Equal(t, uint64(1), first)
	first, err = s.AppendMany(nil)
	require.NoError(t, err)
	require.Equal(t, uint64(0), first, "empty AppendMany writes nothing")

	// AppendAsync: callbacks once each, in call order, consecutive ranges.
	const calls = 200
	var mu sync.Mutex
	var firsts []uint64
	var n atomic.Int32
	var wg sync.WaitGroup
	wg.Add(calls)
	for i := range calls {
		s.AppendAsync([]Entry{{Payload: payloadN(i)}, {Payload: payloadN(i)}}, func(f uint64, err error) {
			require.NoError(t, err)
			n.Add(1)
			mu.Lock()
			firsts = append(firsts, f)
			mu.Unlock()
			wg.Done() // a second call would panic on a negative counter
		})
	}
	wg.Wait()
	require.Equal(t, int32(calls), n.Load())
	for i, f := range firsts {
		require.Equal(t, uint64(3+2*i), f)
	}
	called := 0
	s.AppendAsync(nil, func(f uint64, err error) { called++; require.NoError(t, err) })
	require.Equal(t, 1, called, "empty AppendAsync answers at once")

	recs := eventsOf(t, s)
	require.Len(t, recs, 2+2*calls)
	require.Equal(t, "k", recs[0].Key)
	require.Equal(t, []byte("bb"), recs[1].Payload)
	require.Equal(t, payloadN(calls-1), recs[len(recs)-1].Payload)
	require.Equal(t, statsOf{Pending: 2 + 2*calls, PendingBytes: 3 + 2*calls*12}, statsNow(s))
}

// The payload is copied: reusing the caller's buffer changes nothing stored.
func TestAppendCopiesPayload(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	buf := []byte("original")
	_, err := s.Append("", buf)
	require.NoError(t, err)
	entries := []Entry{{Payload: buf}}
	done := make(chan struct{})
	s.AppendAsync(entries, func(uint64, error) { close(done) })
	copy(buf, "XXXXXXXX")
	<-done
	for _, r := range eventsOf(t, s) {
		require.Equal(t, "original", string(r.Payload))
	}
}

// Large keys and payloads use every msgpack length header.
func TestAppendSizes(t *testing.T) {
	l, _ := mustOpen(t, &Options{Sync: SyncNone})
	s := mustStream(t, l, "s")
	sizes := []int{0, 1, 31, 32, 255, 256, 65535, 65536, 1 << 20}
	for _, n := range sizes {
		key := string(make([]byte, n%70000))
		_, err := s.Append(key, make([]byte, n))
		require.NoError(t, err)
	}
	recs := eventsOf(t, s)
	require.Len(t, recs, len(sizes))
	for i, r := range recs {
		require.Len(t, r.Payload, sizes[i])
		require.Len(t, r.Key, sizes[i]%70000)
	}
}
