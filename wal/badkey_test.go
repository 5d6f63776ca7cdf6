package wal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/store"
)

// A key that is not a sequence number between two runs of an in-flight
// batch (damage) stops the event cursor. ReadBatch must say so rather than
// return the first run's events alone (a processor would deliver them and
// complete the batch, and the second run's events with it), and DeadLetter
// and the transitions that shrink the batch must refuse rather than leave
// the events past the key out of it.
func TestBadKeyInsideABatch(t *testing.T) {
	l, _ := openRuns(t)
	s := mustStream(t, l, "s")
	entries := func(n int) []Entry {
		out := make([]Entry, n)
		for i := range out {
			out[i] = Entry{Payload: payloadN(i)}
		}
		return out
	}
	_, err := s.AppendMany(entries(5)) // run under key 1
	require.NoError(t, err)
	_, err = s.AppendMany(entries(5)) // run under key 6
	require.NoError(t, err)
	b := sealOne(t, s, 10)
	require.Equal(t, uint64(10), b.Last)
	bad := append(format.SeqKey(1), 0) // sorts between the two runs' keys
	require.NoError(t, s.l.write(s, func(tx *bolt.Tx, _ *format.State) error {
		events, err := s.sub(tx, format.BucketEvents)
		if err != nil {
			return err
		}
		return events.Put(bad, []byte("junk"))
	}, nil))

	_, _, err = s.ReadBatch(b)
	require.ErrorIs(t, err, store.ErrCorrupt, "the events past the key were not read")
	require.ErrorIs(t, s.DeadLetter(b.Seq, "gave up", false), store.ErrCorrupt)
	_, err = s.Resolve(b.Seq, []uint64{2}, nil, time.Time{}, "")
	require.ErrorIs(t, err, errCorruptBatch)
	got, err := s.InFlight(b.Seq)
	require.NoError(t, err)
	require.Equal(t, b, got, "the batch is as it was")
	require.EqualValues(t, 10, s.Stats().InFlightEvents)

	// Remove the damage so that mustOpen's check of the file passes.
	require.NoError(t, s.l.write(s, func(tx *bolt.Tx, _ *format.State) error {
		events, err := s.sub(tx, format.BucketEvents)
		if err != nil {
			return err
		}
		return events.Delete(bad)
	}, nil))
}
