package wal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/format/formattest"
)

// flipPayload flips a payload byte of event seq: its checksum no longer
// matches, its envelope still parses.
func flipPayload(t *testing.T, s *Stream, seq uint64) {
	t.Helper()
	require.NoError(t, s.rewrite(func(tx *bolt.Tx, _ *format.State) error {
		fs, err := formattest.Open(tx, s.Name())
		if err != nil {
			return err
		}
		return fs.FlipPayload(seq)
	}))
}

// A record damaged after the batch was read (the sink got it whole) and
// named delivered or dead by a per-event result (or among the first n of
// a partial one) leaves the counters as a scan finds them (mustOpen's
// Cleanup): each event comes off the batch and the in-flight counters by
// what its append counted, not by its stored length.
func TestResolveDamagedRecord(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delivered []uint64
		dead      []EventReason
		partial   bool // CompletePartial(2) instead, which has the same rule
	}{
		{name: "delivered", delivered: []uint64{1, 2}},
		{name: "dead", delivered: []uint64{1}, dead: []EventReason{{Seq: 2, Reason: "permanent: x"}}},
		{name: "partial", partial: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := mustOpen(t, nil)
			s := mustStream(t, l, "s")
			appendN(t, s, "", 0, 4)
			b := sealOne(t, s, 4)
			flipPayload(t, s, 2)
			var nb *Batch
			var err error
			if tc.partial {
				nb, err = s.CompletePartial(b.Seq, 2)
			} else {
				nb, err = s.Resolve(b.Seq, tc.delivered, tc.dead, time.Now().Add(time.Hour), "e")
			}
			require.NoError(t, err)
			require.Equal(t, 2, nb.Count)
			require.EqualValues(t, 24, nb.Bytes)
			require.NoError(t, checkLog(l))
		})
	}
}
