package wal

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// sealAll seals with opts until Seal returns no batch, and returns each
// batch's events as payload strings, and as keys.
func sealAll(t *testing.T, s *Stream, opts SealOptions) (payloads, keys [][]string) {
	t.Helper()
	for {
		res, err := s.Seal(opts)
		require.NoError(t, err)
		if res.Batch == nil {
			return payloads, keys
		}
		b := res.Batch
		require.Equal(t, s.BatchID(b.Seq), b.ID)
		require.Len(t, res.Records, b.Count)
		require.Equal(t, res.Records[0].Seq, b.First)
		require.Equal(t, res.Records[b.Count-1].Seq, b.Last)
		var ps, ks []string
		var bytes int64
		for _, r := range res.Records {
			ps = append(ps, string(r.Payload))
			ks = append(ks, r.Key)
			bytes += int64(len(r.Payload))
			require.Equal(t, b.Key, r.Key)
		}
		require.Equal(t, bytes, b.Bytes)
		payloads = append(payloads, ps)
		keys = append(keys, ks)
	}
}

func TestSeal(t *testing.T) {
	type ev struct{ key, payload string }
	evs := func(keys string) []ev { // one event per letter, the letter as key
		var out []ev
		for i, k := range keys {
			out = append(out, ev{string(k), string(rune('0' + i))})
		}
		return out
	}
	tests := []struct {
		name       string
		events     []ev
		opts       SealOptions
		wantKeys   [][]string // batches sealed without Force
		forcedKeys [][]string // then with Force
	}{
		{"count", evs("aaaaaaaaaa"), SealOptions{MaxEvents: 4},
			[][]string{{"a", "a", "a", "a"}, {"a", "a", "a", "a"}}, [][]string{{"a", "a"}}},
		{"count exact", evs("aaaa"), SealOptions{MaxEvents: 2},
			[][]string{{"a", "a"}, {"a", "a"}}, nil},
		{"count below 1 means 1", evs("aa"), SealOptions{MaxEvents: 0},
			[][]string{{"a"}, {"a"}}, nil},
		{"key runs A B A A", evs("ABAA"), SealOptions{MaxEvents: 10},
			[][]string{{"A"}, {"B"}}, [][]string{{"A", "A"}}},
		{"key runs and count", evs("AAABBA"), SealOptions{MaxEvents: 2},
			[][]string{{"A", "A"}, {"A"}, {"B", "B"}}, [][]string{{"A"}}},
		{"bytes", []ev{{"", "12345"}, {"", "12345"}, {"", "12345"}, {"", "1"}}, SealOptions{MaxEvents: 10, MaxBytes: 10},
			[][]string{{"", ""}}, [][]string{{"", ""}}},
		{"oversized event alone", []ev{{"", "1"}, {"", "0123456789abc"}, {"", "2"}}, SealOptions{MaxEvents: 10, MaxBytes: 10},
			[][]string{{""}, {""}}, [][]string{{""}}},
		{"nothing pending", nil, SealOptions{MaxEvents: 10, Force: true}, nil, nil},
		{"not full, no force", evs("aaa"), SealOptions{MaxEvents: 10},
			nil, [][]string{{"a", "a", "a"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := mustOpen(t, &Options{Sync: SyncNone})
			s := mustStream(t, l, "s")
			var bytes int64
			for _, e := range tc.events {
				_, err := s.Append(e.key, []byte(e.payload))
				require.NoError(t, err)
				bytes += int64(len(e.payload))
			}
			_, keys := sealAll(t, s, tc.opts)
			require.Equal(t, tc.wantKeys, keys, "without Force")
			tc.opts.Force = true
			_, keys = sealAll(t, s, tc.opts)
			require.Equal(t, tc.forcedKeys, keys, "with Force")
			st := s.Stats()
			require.Equal(t, int64(len(tc.wantKeys)+len(tc.forcedKeys)), st.InFlightBatches)
			require.Equal(t, int64(len(tc.events)), st.InFlightEvents)
			require.Equal(t, bytes, st.InFlightBytes)
			require.Zero(t, st.PendingEvents)
			require.Equal(t, uint64(len(tc.events)), st.SealedThrough)
		})
	}
}

// Seal keeps enqueue order across batches and picks up events appended
// after a partial seal.
func TestSealOrderAndStats(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 10)
	require.Equal(t, statsOf{Pending: 10, PendingBytes: 120}, statsNow(s))
	res, err := s.Seal(SealOptions{MaxEvents: 4})
	require.NoError(t, err)
	require.Equal(t, uint64(1), res.Batch.Seq)
	require.Equal(t, statsOf{Pending: 6, PendingBytes: 72, InFlightBatches: 1, InFlight: 4, InFlightBytes: 48}, statsNow(s))
	appendN(t, s, "", 10, 2)
	payloads, _ := sealAll(t, s, SealOptions{MaxEvents: 4})
	require.Equal(t, [][]string{
		{"event-000004", "event-000005", "event-000006", "event-000007"},
		{"event-000008", "event-000009", "event-000010", "event-000011"},
	}, payloads)
	require.Equal(t, statsOf{InFlightBatches: 3, InFlight: 12, InFlightBytes: 144}, statsNow(s))
	bs, err := s.Batches()
	require.NoError(t, err)
	require.Len(t, bs, 3)
	for i, b := range bs {
		require.Equal(t, uint64(i+1), b.Seq)
		require.Equal(t, uint64(4*i+1), b.First)
	}
	// The batch, its ID and its events survive a reopen.
	l = reopen(t, l, nil)
	s = mustStream(t, l, "s")
	b, err := s.InFlight(2)
	require.NoError(t, err)
	require.Equal(t, bs[1], *b)
	recs, bad, err := s.ReadBatch(b)
	require.NoError(t, err)
	require.Empty(t, bad)
	require.Len(t, recs, 4)
	require.Equal(t, "event-000004", string(recs[0].Payload))
	require.Equal(t, statsOf{InFlightBatches: 3, InFlight: 12, InFlightBytes: 144}, statsNow(s))
}
